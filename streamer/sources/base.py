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
    ``None`` when only a blocking read could get them.
    """

    blocking: bool

    def read_at(self, offset: int, length: int) -> bytes: ...

    def close(self) -> None: ...


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


class SourceClosedError(Exception):
    """A read was attempted after the source was closed."""


class SourceTruncatedError(Exception):
    """The file ended before the bytes promised in the response headers."""
