"""chunk_spans arithmetic as a table; iter_chunks and aiter_chunks over an in-memory source."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence

import anyio
import pytest

from streamer.sources.chunks import Span, aiter_chunks, chunk_spans, iter_chunks
from streamer.http.multipart import Segment, multipart_segments
from streamer.http.ranges import ByteRange

R = ByteRange
DATA = bytes(range(256)) * 40  # 10240 bytes


class MemorySource:
    """A ByteSource over a bytes object that records each read and the thread it ran on.

    It says it blocks, as a file does, so the async reader must send its reads to a thread.
    """

    blocking = True

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[Span] = []
        self.threads: set[int] = set()
        self.closed = False

    def read_at(self, offset: int, length: int) -> bytes:
        assert not self.closed, "read after close"
        assert 0 <= offset and offset + length <= len(self.data), (offset, length)
        self.reads.append((offset, length))
        self.threads.add(threading.get_ident())
        return self.data[offset : offset + length]

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("segments", "chunk_size", "expected"),
    [
        pytest.param([], 4, [], id="no-segments"),
        pytest.param([R(0, 8)], 4, [(0, 4), (4, 4)], id="exact-multiple"),
        pytest.param([R(0, 10)], 4, [(0, 4), (4, 4), (8, 2)], id="last-chunk-shorter"),
        pytest.param([R(3, 5)], 4, [(3, 2)], id="range-smaller-than-chunk"),
        pytest.param([R(0, 4)], 4, [(0, 4)], id="range-equal-to-chunk"),
        pytest.param([R(5, 13)], 4, [(5, 4), (9, 4)], id="unaligned-start"),
        pytest.param([R(0, 3)], 1, [(0, 1), (1, 1), (2, 1)], id="chunk-size-one"),
        pytest.param([R(0, 6), R(10, 16)], 4, [(0, 4), (4, 2), (10, 4), (14, 2)], id="last-of-each-range-shorter"),
        pytest.param([R(10, 12), R(0, 2)], 4, [(10, 2), (0, 2)], id="ranges-in-given-order"),
        pytest.param([R(5, 5)], 4, [], id="empty-range-skipped"),
        pytest.param([b"head", R(0, 5), b"tail"], 4, [b"head", (0, 4), (4, 1), b"tail"], id="literals-unchanged"),
        pytest.param([b"x" * 10], 4, [b"x" * 10], id="literal-longer-than-chunk-not-split"),
        pytest.param([b"", R(0, 2), b""], 4, [(0, 2)], id="empty-literals-skipped"),
        pytest.param([b"a", b"b"], 4, [b"a", b"b"], id="adjacent-literals-kept-apart"),
        pytest.param([R(0, 10**12)], 2**40, [(0, 10**12)], id="chunk-larger-than-range"),
    ],
)
def test_chunk_spans(segments: list[Segment], chunk_size: int, expected: list[bytes | Span]) -> None:
    assert list(chunk_spans(segments, chunk_size)) == expected


@pytest.mark.parametrize(
    ("segments", "chunk_size"),
    [
        pytest.param([R(0, 10)], 0, id="zero"),
        pytest.param([R(0, 10)], -1, id="negative"),
        pytest.param([], 0, id="zero-even-without-segments"),
    ],
)
def test_chunk_spans_rejects_non_positive_chunk_size(segments: list[Segment], chunk_size: int) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        list(chunk_spans(segments, chunk_size))


def _multipart(ranges: list[ByteRange]) -> tuple[Segment, ...]:
    return multipart_segments(ranges, len(DATA), "video/mp4", "streamer-boundary")


def _expected_body(segments: Iterable[Segment]) -> bytes:
    return b"".join(s if isinstance(s, bytes) else DATA[s.start : s.stop] for s in segments)


READ_CASES = [
    pytest.param((R(0, len(DATA)),), 4096, id="whole-file"),
    pytest.param((R(0, len(DATA)),), 1000, id="whole-file-uneven-chunks"),
    pytest.param((R(0, 2),), 4096, id="two-bytes"),
    pytest.param((R(100, 5000),), 4096, id="single-range"),
    pytest.param((R(10239, 10240),), 7, id="last-byte"),
    pytest.param(_multipart([R(0, 10), R(5000, 9000)]), 1024, id="multipart-two-ranges"),
    pytest.param(_multipart([R(0, 1), R(300, 5000), R(10000, 10240)]), 1000, id="multipart-three-ranges"),
    pytest.param((), 4096, id="empty-body"),
]


def _chunk_lengths_ok(segments: Sequence[Segment], chunk_size: int, chunks: list[bytes]) -> bool:
    """Each range yields full chunks and one shorter last chunk; each literal one chunk as is."""
    expected: list[int] = []
    for segment in segments:
        if isinstance(segment, ByteRange):
            full, rest = divmod(len(segment), chunk_size)
            expected += [chunk_size] * full + ([rest] if rest else [])
        elif segment:
            expected.append(len(segment))
    return [len(chunk) for chunk in chunks] == expected


@pytest.mark.parametrize(("segments", "chunk_size"), READ_CASES)
def test_iter_chunks(segments: tuple[Segment, ...], chunk_size: int) -> None:
    source = MemorySource(DATA)
    chunks = list(iter_chunks(source, chunk_spans(segments, chunk_size)))
    assert b"".join(chunks) == _expected_body(segments)
    assert _chunk_lengths_ok(segments, chunk_size, chunks)
    assert source.reads == [s for s in chunk_spans(segments, chunk_size) if isinstance(s, tuple)]


@pytest.mark.parametrize(("segments", "chunk_size"), READ_CASES)
def test_aiter_chunks_matches_iter_chunks(segments: tuple[Segment, ...], chunk_size: int) -> None:
    sync_chunks = list(iter_chunks(MemorySource(DATA), chunk_spans(segments, chunk_size)))
    source = MemorySource(DATA)

    async def collect() -> tuple[list[bytes], int]:
        loop_thread = threading.get_ident()
        return [chunk async for chunk in aiter_chunks(source, chunk_spans(segments, chunk_size))], loop_thread

    async_chunks, loop_thread = asyncio.run(collect())
    assert async_chunks == sync_chunks
    assert b"".join(async_chunks) == _expected_body(segments)
    assert source.reads == [s for s in chunk_spans(segments, chunk_size) if isinstance(s, tuple)]
    assert loop_thread not in source.threads, "a read ran on the event loop thread"


def test_iter_chunks_is_lazy() -> None:
    """Nothing is read before the consumer asks, and only what it asks for."""
    source = MemorySource(DATA)
    chunks = iter_chunks(source, chunk_spans([R(0, 100)], 10))
    assert source.reads == []
    assert next(chunks) == DATA[:10]
    assert source.reads == [(0, 10)]


def test_aiter_chunks_reads_a_non_blocking_source_in_place() -> None:
    source = MemorySource(DATA)
    source.blocking = False  # memory, say: no thread hop is worth its cost

    async def collect() -> tuple[bytes, int]:
        chunks = [chunk async for chunk in aiter_chunks(source, chunk_spans([R(0, 3000)], 1000))]
        return b"".join(chunks), threading.get_ident()

    data, loop_thread = anyio.run(collect)
    assert data == DATA[:3000]
    assert source.threads == {loop_thread}


class PageCachedSource(MemorySource):
    """A blocking source whose ``read_cached`` answers only for spans in ``cached``, as the page cache would."""

    def __init__(self, data: bytes, cached: set[int]) -> None:
        super().__init__(data)
        self.cached = cached
        self.cached_reads: list[Span] = []

    def read_cached(self, offset: int, length: int) -> bytes | None:
        if offset not in self.cached:
            return None
        self.cached_reads.append((offset, length))
        return self.data[offset : offset + length]


def test_aiter_chunks_reads_cached_spans_in_place_and_the_rest_in_a_thread() -> None:
    source = PageCachedSource(DATA, cached={0, 2000})

    async def collect() -> tuple[bytes, int]:
        chunks = [chunk async for chunk in aiter_chunks(source, chunk_spans([R(0, 4000)], 1000))]
        return b"".join(chunks), threading.get_ident()

    data, loop_thread = anyio.run(collect)
    assert data == DATA[:4000]
    assert source.cached_reads == [(0, 1000), (2000, 1000)]
    assert source.reads == [(1000, 1000), (3000, 1000)]
    assert loop_thread not in source.threads, "a read that could block ran on the event loop thread"
