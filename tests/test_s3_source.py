"""The S3 source's pure parts: s3:// URLs, and which ranged GETs a read asks the store for."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

import pytest

from streamer.http.ranges import ByteRange
from streamer.sources.base import ReadCancelledError, SourceClosedError
from streamer.sources.s3 import ADMIT_WAIT_S, READ_AHEAD, STREAM_WAIT_S, ObjectMeta, parse_s3_url
from streamer.sources.s3source import S3Source

SIZE = 3 * READ_AHEAD + 5
META = ObjectMeta("clip.mp4", SIZE, '"abc-2"', 0)
PATTERN = bytes(range(251)) * (SIZE // 251 + 2)


def pattern(start: int, stop: int) -> bytes:
    """Bytes ``start:stop`` of the fake object: ``i % 251`` at position ``i``."""
    return PATTERN[start % 251 : start % 251 + stop - start]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("s3://media", ("media", ""), id="bucket-only"),
        pytest.param("s3://media/", ("media", ""), id="trailing-slash"),
        pytest.param("s3://media/a/b/", ("media", "a/b"), id="prefix-slashes-stripped"),
        pytest.param("s3:///x", ValueError, id="no-bucket"),
        pytest.param("http://media", ValueError, id="not-s3"),
    ],
)
def test_parse_s3_url(url: str, expected: object) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError):
            parse_s3_url(url)
    else:
        assert parse_s3_url(url) == expected


class RecordingBucket:
    """Answers GETs from a deterministic pattern and records each (start, stop), its wait and its future."""

    def __init__(self) -> None:
        self.gets: list[tuple[int, int]] = []
        self.waits: list[float] = []
        self.futures: list[Future[bytes]] = []

    def start_get(self, meta: ObjectMeta, start: int, stop: int, *, wait_s: float) -> Future[bytes]:
        self.gets.append((start, stop))
        self.waits.append(wait_s)
        future: Future[bytes] = Future()  # pending until a read waits for it, like a GET on its way
        self.futures.append(future)
        return future

    def finish_get(self, meta: ObjectMeta, start: int, stop: int, future: Future[bytes]) -> memoryview:
        if not future.cancelled():
            future.set_result(pattern(start, stop))
        return memoryview(future.result())

    async def aget_range(self, meta: ObjectMeta, start: int, stop: int, *, wait_s: float) -> memoryview:
        return self.finish_get(meta, start, stop, self.start_get(meta, start, stop, wait_s=wait_s))

    async def afinish_get(self, meta: ObjectMeta, start: int, stop: int, future: Future[bytes]) -> memoryview:
        return self.finish_get(meta, start, stop, future)


def read(source: S3Source, io: str, offset: int, length: int) -> bytes:
    """A read in the sync form (``read_at``, a worker thread's) or the async one (``aread_at``, the loop's)."""
    return bytes(source.read_at(offset, length) if io == "sync" else asyncio.run(source.aread_at(offset, length)))


@pytest.mark.parametrize(
    ("body", "reads", "gets"),
    [
        pytest.param([ByteRange(0, 2)], [(0, 2)], [(0, 2)], id="probe-costs-its-bytes-only"),
        pytest.param([ByteRange(0, SIZE)], [(0, 10), (10, 10), (20, 10)], [(0, READ_AHEAD), (READ_AHEAD, 2 * READ_AHEAD)],
                     id="reads-served-from-read-ahead-next-block-on-its-way"),
        pytest.param([ByteRange(SIZE - 7, SIZE)], [(SIZE - 7, 7)], [(SIZE - 7, SIZE)], id="never-past-the-range"),
        pytest.param([ByteRange(0, SIZE)], [(READ_AHEAD - 4, 8)], [(READ_AHEAD - 4, 2 * READ_AHEAD - 4), (2 * READ_AHEAD - 4, 3 * READ_AHEAD - 4)],
                     id="across-boundary-one-get"),
        pytest.param([ByteRange(0, 10), ByteRange(100, 200)], [(0, 10), (100, 100)], [(0, 10), (100, 200)], id="each-part-its-own-get"),
        pytest.param([], [(5, 5)], [(5, 10)], id="no-plan-exact-read"),
    ],
)
@pytest.mark.parametrize("io", ["sync", "async"])
def test_read_ahead_is_bounded_by_the_planned_range(
    io: str, body: list[ByteRange], reads: list[tuple[int, int]], gets: list[tuple[int, int]]
) -> None:
    bucket = RecordingBucket()
    source = S3Source(bucket, META, body)  # type: ignore[arg-type]
    for offset, length in reads:
        assert read(source, io, offset, length) == pattern(offset, offset + length)
    assert bucket.gets == gets


def test_closed_source_refuses_reads() -> None:
    source = S3Source(RecordingBucket(), META, [ByteRange(0, 10)])  # type: ignore[arg-type]
    source.close()
    with pytest.raises(SourceClosedError):
        source.read_at(0, 1)


@pytest.mark.parametrize("io", ["sync", "async"])
def test_a_newcomer_waits_briefly_for_a_get_a_stream_under_way_longer(io: str) -> None:
    """The first read decides admission (503 after ADMIT_WAIT_S); an admitted stream is not cut for a busy store."""
    bucket = RecordingBucket()
    source = S3Source(bucket, META, [ByteRange(0, SIZE)])  # type: ignore[arg-type]
    for offset in range(0, 3 * READ_AHEAD, READ_AHEAD):
        read(source, io, offset, 10)
    assert bucket.gets == [(0, READ_AHEAD), (READ_AHEAD, 2 * READ_AHEAD), (2 * READ_AHEAD, 3 * READ_AHEAD), (3 * READ_AHEAD, SIZE)]
    assert bucket.waits == [ADMIT_WAIT_S, STREAM_WAIT_S, STREAM_WAIT_S, STREAM_WAIT_S] and ADMIT_WAIT_S < STREAM_WAIT_S


@pytest.mark.parametrize("io", ["sync", "async"])
def test_a_seek_cancels_the_block_on_its_way_and_close_cancels_what_is_left(io: str) -> None:
    bucket = RecordingBucket()
    source = S3Source(bucket, META, [ByteRange(0, SIZE)])  # type: ignore[arg-type]
    read(source, io, 0, 10)
    read(source, io, READ_AHEAD + 8, 10)  # not where the block fetched ahead starts
    assert bucket.gets == [(0, READ_AHEAD), (READ_AHEAD, 2 * READ_AHEAD), (READ_AHEAD + 8, 2 * READ_AHEAD + 8),
                           (2 * READ_AHEAD + 8, SIZE)]
    assert [f.cancelled() for f in bucket.futures] == [False, True, False, False]
    source.close()
    assert bucket.futures[-1].cancelled()


def test_cancelled_source_refuses_reads_as_cancelled() -> None:
    source = S3Source(RecordingBucket(), META, [ByteRange(0, 10)])  # type: ignore[arg-type]
    source.cancel()
    with pytest.raises(ReadCancelledError):
        source.read_at(0, 1)


def test_validator_drops_quotes_and_weakness() -> None:
    assert ObjectMeta("k", 1, 'W/"abc-2"', 0).validator == "abc-2"


def test_read_cached_answers_from_the_block_fetched_and_never_fetches() -> None:
    bucket = RecordingBucket()
    source = S3Source(bucket, META, [ByteRange(0, SIZE)])  # type: ignore[arg-type]
    assert source.read_cached(0, 10) is None and bucket.gets == []
    source.read_at(0, 10)
    cached = source.read_cached(10, 10)
    assert isinstance(cached, memoryview) and cached == pattern(10, 20)  # a slice, no copy
    assert source.read_cached(READ_AHEAD - 5, 10) is None  # past the block: only read_at may wait for more
    assert len(bucket.gets) == 2  # the block and the one on its way, nothing for read_cached
    source.cancel()
    assert source.read_cached(10, 10) is None
