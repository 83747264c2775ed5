"""``python -m bench.hls_audio [--minutes 10]``: what converting a video's AC-3 sound to AAC for HLS costs.

Makes a low-resolution H.264 MKV with 5.1 AC-3 sound (448 kb/s), then, in-process: the speed of
one chunk's transcode against real time; a segment cold (its chunk encoded) at the start and at
75 %, and cached; the time a whole-track transcode would make the first viewer wait; and the
event-loop lag (a 5 ms sleeper) while chunks are encoded two at a time in threads or in worker processes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import anyio

from streamer.media import hlsaudio
from streamer.media.hlsaudio import chunk_name, read_chunk, transcode_chunk, write_chunk
from streamer.media.hlsmux import make_segment
from streamer.media.hlsplan import plan_segments
from streamer.media.keyframes import read_keyframes
from streamer.media.workers import WorkerPool


def cached_chunks(folder: Path, clip: Path, st: os.stat_result):  # type: ignore[no-untyped-def]
    """Chunks from files under ``folder``, transcoded in this process when missing (no pool: timing only)."""

    def get(index: int, number: int):  # type: ignore[no-untyped-def]
        target = folder / chunk_name(str(clip), st, index, number)
        if not target.exists():
            write_chunk(str(clip), index, number, str(target))
        return read_chunk(target)

    return get


def make_clip(target: Path, minutes: int) -> None:
    seconds = minutes * 60
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=160x90:r=24:d={seconds}",
         "-f", "lavfi", "-i", f"sine=f=440:r=48000:d={seconds}", "-f", "lavfi", "-i", f"sine=f=300:r=48000:d={seconds}",
         "-filter_complex", "[1][2]amerge=inputs=2,pan=5.1|c0=c0|c1=c1|c2=c0|c3=c1|c4=c0|c5=c1[a]",
         "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "48",
         "-c:a", "ac3", "-b:a", "448k", str(target)],
        check=True,
    )


def loop_lag_ms(clip: Path, chunks: list[int], mode: str) -> tuple[float, float]:
    """Max and p99 lag (ms) of a 5 ms sleeper while ``chunks`` are transcoded two at a time in threads or processes."""
    lags: list[float] = []

    async def main() -> None:
        done = anyio.Event()
        limiter = anyio.CapacityLimiter(2)
        pool = WorkerPool(2)
        await pool.run(os.getpid)  # started before the measurement
        await pool.run(os.getpid)
        out = tempfile.mkdtemp()

        async def work(number: int) -> None:
            if mode == "threads":
                await anyio.to_thread.run_sync(transcode_chunk, clip, 1, number, limiter=limiter)
            else:
                await pool.run(write_chunk, str(clip), 1, number, f"{out}/{number}")

        async def sample() -> None:
            while not done.is_set():
                started = time.perf_counter()
                await anyio.sleep(0.005)
                lags.append(time.perf_counter() - started - 0.005)

        async with anyio.create_task_group() as outer:
            outer.start_soon(sample)
            async with anyio.create_task_group() as inner:
                for number in chunks:
                    inner.start_soon(work, number)
            done.set()
        await pool.aclose()
        shutil.rmtree(out)

    anyio.run(main)
    ordered = sorted(lags)
    return ordered[-1] * 1000, ordered[int(len(ordered) * 0.99)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "dolby.mkv"
        make_clip(clip, args.minutes)
        chunk_s = hlsaudio.chunk_samples() / 48000
        transcode_chunk(clip, 1, 2)  # warm: libraries loaded
        surround = hlsaudio.SURROUND
        for label, layout in (("5.1 AAC", surround), ("stereo AAC (downmixed)", hlsaudio.STEREO)):
            hlsaudio.SURROUND = layout  # what a source of more than two channels becomes
            times = []
            for number in (3, 4, 5):
                started = time.perf_counter()
                transcode_chunk(clip, 1, number)
                times.append(time.perf_counter() - started)
            one = sorted(times)[1]
            print(f"one chunk ({chunk_s:.1f} s of 5.1 AC-3 -> {label}): {one:.2f} s, {chunk_s / one:.0f}x real time per core; "
                  f"load {os.getloadavg()[0]:.2f}")
            print(f"  a whole-track transcode of a 2-hour film would keep the first viewer waiting ~{7200 / (chunk_s / one):.0f} s")
        hlsaudio.SURROUND = surround
        index = read_keyframes(clip)
        assert index is not None
        segments = plan_segments(index.times, index.duration)
        assert segments is not None
        st = os.stat(clip)
        chunks = cached_chunks(Path(folder) / "cache", clip, st)
        for label, number in (("first", 0), ("at 75 %", len(segments) * 3 // 4)):
            for state in ("cold", "cached"):
                started = time.perf_counter()
                make_segment(clip, segments[number], chunks)
                print(f"segment {number} ({label}) {state}: {(time.perf_counter() - started) * 1000:.0f} ms")
        idle = loop_lag_ms(clip, [], "threads")
        print(f"loop lag idle: max {idle[0]:.1f} ms")
        for mode in ("threads", "processes"):
            busy = loop_lag_ms(clip, list(range(5, 13)), mode)
            print(f"loop lag while 8 chunks are transcoded 2 at a time in {mode}: max {busy[0]:.1f} ms, p99 {busy[1]:.1f} ms")


if __name__ == "__main__":
    main()
