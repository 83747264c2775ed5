"""AAC chunks of sound browsers cannot decode: the chunk grid, the cache file format, seamless joins, one encode."""

from __future__ import annotations

import array
import os
import subprocess
from pathlib import Path

import anyio
import av
import pytest

from streamer.media import hlsaudio
from streamer.media.hlsaudio import FRAME, STEREO, AacFormat, AudioChunk, aac_config, packets_between, transcode_chunk
from streamer.media.thumbcache import ThumbCache
from streamer.media.workers import WorkerPool
from streamer.media.hlsvideo import AudioChunks
from tests.conftest import require_program

SMALL_CHUNK_FRAMES = 40  # about 0.85 s at 48 kHz: a 4 s clip crosses four chunk joins


@pytest.fixture(scope="module")
def ac3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_program("ffmpeg", "ffmpeg")
    path = tmp_path_factory.mktemp("ac3") / "tone.mka"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=4", "-c:a", "ac3", str(path)],
        check=True, timeout=30,
    )
    return path


def fake_chunks(size: int, count: int) -> dict[int, AudioChunk]:
    return {
        n: AudioChunk(48000, tuple((p, b"x") for p in range(n * size, (n + 1) * size, FRAME)), n == count - 1)
        for n in range(count)
    }


@pytest.mark.parametrize(
    ("first", "lo", "hi", "expected"),
    [
        pytest.param(0, None, None, list(range(0, 6 * FRAME, FRAME)), id="unbounded-reads-to-the-last-chunk"),
        pytest.param(0, None, 2 * FRAME, [0, FRAME], id="hi-excluded"),
        pytest.param(1, 2 * FRAME, 4 * FRAME, [2 * FRAME, 3 * FRAME], id="lo-included-across-a-join"),
        pytest.param(1, 2 * FRAME + 1, 4 * FRAME, [3 * FRAME], id="packet-before-lo-left-out"),
        pytest.param(2, 4 * FRAME, None, [4 * FRAME, 5 * FRAME], id="last-segment-to-the-end"),
    ],
)
def test_packets_between(first: int, lo: int | None, hi: int | None, expected: list[int]) -> None:
    chunks = fake_chunks(2 * FRAME, 3)
    asked: list[int] = []

    def get(number: int) -> AudioChunk:
        asked.append(number)
        return chunks[number]

    assert [pts for pts, _ in packets_between(get, first, lo, hi)] == expected
    assert asked == sorted(set(asked)) and asked[0] == first  # each chunk once, in order


def test_chunk_bytes_round_trip() -> None:
    chunk = AudioChunk(44100, ((-1024, b"\x01\x02"), (0, b""), (1024, bytes(300))), True)
    assert AudioChunk.from_bytes(chunk.to_bytes()) == chunk


def samples(packets: list[tuple[int, bytes]], rate: int) -> array.array[float]:
    decoder = av.CodecContext.create("aac", "r")
    decoder.extradata = aac_config(AacFormat(rate, STEREO))
    out: array.array[float] = array.array("f")
    for _, data in packets:
        for frame in decoder.decode(av.Packet(data)):
            out.frombytes(bytes(frame.planes[0])[: frame.samples * 4])
    return out


def test_chunks_join_without_a_gap_or_a_click(ac3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = transcode_chunk(ac3, 0, 0).packets
    monkeypatch.setattr(hlsaudio, "CHUNK_FRAMES", SMALL_CHUNK_FRAMES)
    chunks = [transcode_chunk(ac3, 0, n) for n in range(8)]
    assert [c.last for c in chunks].index(True) == 4
    joined = [p for c in chunks for p in c.packets]
    assert [pts for pts, _ in joined] == [pts for pts, _ in whole], "every frame once, on the grid"
    assert transcode_chunk(ac3, 0, 2) == chunks[2], "the same bytes every time"
    a, b = samples(joined, 48000), samples(whole, 48000)
    worst = max(abs(x - y) for x, y in zip(a, b))
    assert worst < 0.02, f"chunked and continuous encodes differ by {worst} (the tone's amplitude is about 0.125)"


def test_a_seek_that_lands_late_decodes_from_the_start(ac3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hlsaudio, "CHUNK_FRAMES", SMALL_CHUNK_FRAMES)
    honest = transcode_chunk(ac3, 0, 2)
    monkeypatch.setattr(hlsaudio, "SEEK_MARGIN_S", -1.5)  # aims the seek 1.5 s past the chunk's start
    assert transcode_chunk(ac3, 0, 2) == honest


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_concurrent_requests_encode_a_chunk_once(ac3: Path, tmp_path: Path, anyio_backend: str) -> None:
    pool = WorkerPool(2)
    chunks = AudioChunks(ThumbCache(tmp_path / "audio"), pool)
    st = os.stat(ac3)
    try:
        got: list[bytes] = []

        async def fetch() -> None:
            got.append(await chunks.fetch([str(ac3), st.st_size, st.st_mtime_ns], str(ac3), 0, 0))

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(fetch)
        assert pool.jobs_started == 1 and len(set(got)) == 1
        assert AudioChunk.from_bytes(got[0]) == transcode_chunk(ac3, 0, 0), "the worker's chunk is the same bytes"
        await chunks.fetch([str(ac3), st.st_size, st.st_mtime_ns], str(ac3), 0, 0)
        assert pool.jobs_started == 1, "read back from the file"
    finally:
        await pool.aclose()
    assert pool.processes == []


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_chunk_cache_is_bounded_least_recently_used_out(
    ac3: Path, tmp_path: Path, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hlsaudio, "CHUNK_FRAMES", SMALL_CHUNK_FRAMES)
    sizes = [len(transcode_chunk(ac3, 0, n).to_bytes()) for n in range(3)]
    cache = ThumbCache(tmp_path / "audio", max_bytes=sum(sizes) - 1)
    chunks = AudioChunks(cache, None)  # transcoded in a thread
    st = os.stat(ac3)
    fetch = [await chunks.fetch([str(ac3), st.st_size, st.st_mtime_ns], str(ac3), 0, n) for n in (0, 1, 0, 2)]
    assert cache.misses == 3 and fetch[0] == fetch[2], "chunk 0 read back"
    assert cache.total == sizes[0] + sizes[2] <= cache.max_bytes, "chunk 1, the least recently used, went out"
    assert sorted(p.stat().st_size for p in (tmp_path / "audio").iterdir() if p.is_file()) == sorted([sizes[0], sizes[2]])
    await chunks.fetch([str(ac3), st.st_size, st.st_mtime_ns], str(ac3), 0, 1)
    assert cache.misses == 4, "made again once gone"
