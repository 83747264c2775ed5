"""Byte sources: what every source offers (bytes by position) and what all of them share.

A source is read by ``(offset, length)`` and closed by exactly one owner; ``blocking``
says whether a read may wait on a disk or a network (then it runs in a worker thread,
under ``io_limiter``). A read that cannot deliver every promised byte raises
``SourceTruncatedError``: never fewer bytes than asked.
"""

from __future__ import annotations

from typing import Protocol

from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

IO_THREADS = 40
_io_limiter: RunVar[CapacityLimiter] = RunVar("streamer_io_limiter")


def io_limiter() -> CapacityLimiter:
    """The worker-thread limiter for file I/O, one per event loop, apart from anyio's default."""
    try:
        return _io_limiter.get()
    except LookupError:
        limiter = CapacityLimiter(IO_THREADS)
        _io_limiter.set(limiter)
        return limiter


class ByteSource(Protocol):
    """Bytes by position. ``blocking`` says whether ``read_at`` may wait on a disk (then: a thread).

    A blocking source may also offer ``read_cached``, which never waits: the bytes, or
    ``None`` when only a blocking read could get them; and ``aread_at``, a coroutine the
    event loop awaits instead of sending ``read_at`` to a thread (an object store's GET).
    Bytes may come as any bytes-like object (a ``memoryview`` of a buffer already read).
    """

    blocking: bool

    def read_at(self, offset: int, length: int) -> bytes: ...

    def close(self) -> None: ...


NOT_SERIALISABLE = (
    "{kind} holds the bytes of an open response body: it cannot be copied, pickled or serialised. "
    "Did an endpoint return the MediaFile that media_file() gave it? Stream it instead: "
    "`yield from media.iter_chunks()` in a `def` generator endpoint (or `async for chunk in media.aiter_chunks(): "
    "yield chunk`) with response_class=MediaResponse or a subclass."
)


def refuse_copy(kind: str) -> TypeError:
    """The error for copying or serialising a source, which is almost always an endpoint returning it."""
    return TypeError(NOT_SERIALISABLE.format(kind=kind))


class MemorySource:
    """Bytes already read: ``data`` is what lies at ``base`` and after. Nothing blocks, nothing to close."""

    blocking = False

    def __init__(self, data: bytes, base: int = 0) -> None:
        self._data = data
        self._base = base

    def read_at(self, offset: int, length: int) -> bytes:
        start = offset - self._base
        if start < 0 or start + length > len(self._data):
            raise SourceTruncatedError(f"{offset}+{length} is outside the {len(self._data)} bytes held")
        return self._data[start : start + length]

    def close(self) -> None:
        """Nothing is held."""

    def __reduce_ex__(self, protocol: object) -> object:
        raise refuse_copy("A MemorySource")


class SourceClosedError(Exception):
    """A read was attempted after the source was closed."""


class SourceTruncatedError(Exception):
    """The file ended before the bytes promised in the response headers."""


class ReadCancelledError(SourceTruncatedError):
    """A read was cancelled from another thread (its client left): no bytes, nothing more to send."""
