"""Chunking: all the arithmetic in one pure generator, and the two readers that use it.

``chunk_spans`` turns body segments into exact chunks: literal bytes as they are,
file ranges as ``(offset, length)`` spans of ``chunk_size`` bytes (the last of
each range shorter). ``iter_chunks`` and ``aiter_chunks`` are twins; the async
one awaits a source's own ``aread_at`` where it has one (an object store's GET,
no thread), reads what the page cache holds in place (``read_cached``) and the
rest through aiofiles' executor wrapper, so the loop never blocks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator

from aiofiles.os import wrap

from streamer.http.multipart import Segment
from streamer.http.ranges import ByteRange
from streamer.sources.base import ByteSource

KiB = 1024
MiB = 1024 * KiB
CHUNK_SIZE = 256 * KiB
MIN_CHUNK_SIZE = 4 * KiB
MAX_CHUNK_SIZE = 16 * MiB

Span = tuple[int, int]


def chunk_spans(segments: Iterable[Segment], chunk_size: int) -> Iterator[bytes | Span]:
    """Literal segments unchanged; each ByteRange as ``(offset, length)`` of ``chunk_size``."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    for segment in segments:
        if isinstance(segment, ByteRange):
            for offset in range(segment.start, segment.stop, chunk_size):
                yield offset, min(chunk_size, segment.stop - offset)
        elif segment:
            yield segment


def _read_at(source: ByteSource, offset: int, length: int) -> bytes:
    return source.read_at(offset, length)


_aread_at = wrap(_read_at)


def iter_chunks(source: ByteSource, spans: Iterable[bytes | Span]) -> Iterator[bytes]:
    for span in spans:
        yield span if isinstance(span, bytes) else source.read_at(*span)


async def aiter_chunks(source: ByteSource, spans: Iterable[bytes | Span]) -> AsyncIterator[bytes]:
    """Chunks read in place when that cannot block (memory, the page cache), else in a thread."""
    read_cached = getattr(source, "read_cached", None)
    aread_at = getattr(source, "aread_at", None)
    for span in spans:
        if isinstance(span, bytes):
            yield span
        elif not source.blocking:
            yield source.read_at(*span)
        elif aread_at is not None:
            yield await aread_at(*span)
        elif read_cached is not None and (data := read_cached(*span)) is not None:
            yield data
        else:
            yield await _aread_at(source, *span)
