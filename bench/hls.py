"""HLS costs: playlist for a long MKV (cold, cached), a segment at the start and late, and ffmpeg -c copy of the same;
then over HTTP, 1080p segments at 4 and 16 concurrent requests against ffmpeg run as often, with /healthz
and the event loop's lag timed meanwhile.

python -m bench.hls [--minutes 120] [--hd-seconds 120] [--duration 10]: makes a long low-resolution
H.264/AAC MKV (keyframe every 2 s) and a 1080p one in a temporary folder, times streamer's functions
in-process (no HTTP; a segment cut from the Matroska blocks and one muxed by PyAV) and ffmpeg run once
per segment the way servers that shell out do it, then
starts ``streamer serve`` on the 1080p clip and has wrk's 1, 4, then 16 connections fetch its segments
for ``--duration`` s each while one more times ``GET /healthz`` back to back (and alone first), against
each of ``VARIANTS`` in turn; ffmpeg is run by as many threads for the same time. Every segment is made
anew (streamer keeps no segment; it may keep the source open). Note the load average.
Last, the 1080p clip from a bucket: SeaweedFS, one ``streamer serve s3://`` replica, and the segment p50 against
the same segments from the disk, fetched alternately (A/B in the same minute). ``--s3-only``: that line alone.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import closing
from functools import partial
from pathlib import Path

import anyio
import httpx

from bench.load import WrkResult, run_wrk
from bench.proc import TinyGet
from streamer.media.hlsdirect import cut_segment, plan_cut
from streamer.media.hlsinputs import InputPool
from streamer.media.hlsmux import make_segment
from streamer.media.hlsplan import SegmentSpan, plan_segments
from streamer.media.keyframes import KeyframeCache

REPEATS = 5
SEGMENTS_LUA = Path(__file__).with_name("hls_segments.lua")


def make_long_clip(target: Path, minutes: int) -> None:
    seconds = minutes * 60
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=160x90:r=24:d={seconds}",
         "-f", "lavfi", "-i", f"sine=f=440:r=48000:d={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
         "-g", "48", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "32k", str(target)],
        check=True,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def ffmpeg_segment(clip: Path, start: float, seconds: float) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(start), "-i", str(clip), "-t", str(seconds), "-c", "copy", "-f", "mp4",
         "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-"],
        check=True, stdout=subprocess.DEVNULL,
    )


def make_hd_clip(target: Path, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=24:d={seconds}",
         "-f", "lavfi", "-i", f"sine=f=440:r=48000:d={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
         "-b:v", "6M", "-g", "48", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k", str(target)],
        check=True,
    )


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else float("nan")


VARIANTS = {  # label -> streamer.web.hls settings, served side by side (A/B in the same minute)
    "default (cut from the blocks, one at a time)": {},
    "two cut at once": {"CUTTING": 2},
    "muxed by PyAV (two at once)": {"CUT_FROM_INDEX": False},
}


def start_server(
    media: Path, cache: Path, settings: dict[str, int], options: list[str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``streamer serve`` with ``settings`` of streamer.web.hls (MUXING: segments muxed at once; INPUTS_KEPT;
    MUX_NICENESS) and more ``options``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assigned = "".join(f"h.{name} = {value}; " for name, value in settings.items())
    boot = f"import streamer.web.hls as h; {assigned}from streamer.server.cli import main; main()"
    command = [sys.executable, "-c", boot, "serve", str(media), "--port", str(port), "--cache-dir", str(cache), *(options or [])]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("streamer did not start")


async def segments_under_load(base: str, prefix: str, count: int, clients: int, seconds: float) -> dict[str, float]:
    """wrk's ``clients`` fetch the ``count`` segments under ``prefix`` round robin for ``seconds``, while
    /healthz is timed back to back on one connection (no clients: /healthz alone)."""
    health: list[float] = []
    done = anyio.Event()
    result: list[WrkResult] = []

    async def load() -> None:
        try:
            if clients:
                result.append(await anyio.to_thread.run_sync(
                    lambda: run_wrk(base + "/healthz", clients, round(seconds), latency=True, script=SEGMENTS_LUA,
                                    script_args=[prefix, str(count)])))
            else:
                await anyio.sleep(seconds)
        finally:
            done.set()

    async with httpx.AsyncClient(timeout=10) as client:
        await client.get(f"{base}/debug/lag")

        async def probe() -> None:
            await anyio.sleep(min(0.5, seconds / 4))  # the load is under way
            while not done.is_set():  # timed in the thread by a hand-written client: httpx adds 1-5 ms
                health.append(await anyio.to_thread.run_sync(tiny.timed, "/healthz"))
                await anyio.sleep(0.01)

        with closing(TinyGet(int(base.rsplit(":", 1)[1]))) as tiny:
            async with anyio.create_task_group() as group:
                group.start_soon(load)
                group.start_soon(probe)
        lag = (await client.get(f"{base}/debug/lag")).json()
    wrk = result[0] if result else None
    return {
        "rate": wrk.requests_per_s if wrk else 0.0, "p50": (wrk.p50_ms or 0) / 1000 if wrk else 0.0,
        "p99": (wrk.p99_ms or 0) / 1000 if wrk else 0.0, "health_p50": quantile(health, 0.5),
        "health_p99": quantile(health, 0.99), "lag_p99_ms": lag["p99_ms"], "lag_max_ms": lag["max_ms"],
        "not_200": (wrk.non_2xx_3xx + wrk.socket_errors) if wrk else 0,
    }


def segment_maker(clip: Path, inputs: InputPool, cut: bool) -> Callable[[SegmentSpan], bytes | None]:
    """Makes a segment of ``clip`` as the server does: muxed by PyAV from a kept source, or ``cut`` from its blocks."""
    kept = partial(inputs.checkout, (str(clip), clip.stat().st_size, clip.stat().st_mtime_ns))
    if not cut:
        return lambda span: make_segment(clip, span, opener=kept)
    plan = plan_cut(str(clip), opener=kept, transcode=False)
    assert plan is not None, "a Matroska file with Cues"
    return lambda span: cut_segment(str(clip), plan, span)


def loop_lag_while_muxing(clip: Path, index_dir: Path, seconds: float = 8.0, cut: bool = False) -> None:
    """In-process: an event loop's lag (a 1 ms sleep's overshoot) while one thread muxes (or ``cut``s) the clip's
    segments back to back from a kept source: how long the work holds the GIL at a stretch."""
    import asyncio

    index = KeyframeCache(index_dir).get(str(clip), clip.stat())
    plan = plan_segments(index.times, index.duration)
    inputs = InputPool()
    make = segment_maker(clip, inputs, cut)
    stop, made = threading.Event(), [0]

    def mux() -> None:
        while not stop.is_set():
            make(plan[made[0] % (len(plan) - 1)])
            made[0] += 1

    async def measure() -> list[float]:
        lags: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - start - 0.001)
        return lags

    worker = threading.Thread(target=mux)
    worker.start()
    try:
        lags = asyncio.run(measure())
    finally:
        stop.set()
        worker.join()
        inputs.close()
    print(f"in-process, one thread {'cutting' if cut else 'muxing'} 1080p segments back to back: {made[0] / seconds:.0f} segments/s; the loop's lag "
          f"p50 {ms(quantile(lags, 0.5))} p99 {ms(quantile(lags, 0.99))} max {ms(max(lags))}; load {os.getloadavg()[0]:.2f}")


def _mux_back_to_back(clip: str, index_dir: str, first: int, step: int, seconds: float, cut: bool = False) -> float:
    """Segments per second one thread or process muxes (or ``cut``s) from a kept source, every ``step``-th from ``first``."""
    path = Path(clip)
    plan = plan_segments(*_index_times(path, Path(index_dir)))
    inputs = InputPool()
    make = segment_maker(path, inputs, cut)
    made, began = 0, time.perf_counter()
    try:
        while time.perf_counter() - began < seconds:
            make(plan[(first + made * step) % (len(plan) - 1)])
            made += 1
    finally:
        inputs.close()
    return made / (time.perf_counter() - began)


def _index_times(clip: Path, index_dir: Path) -> tuple[tuple[float, ...], float]:
    index = KeyframeCache(index_dir).get(str(clip), clip.stat())
    assert index is not None
    return index.times, index.duration


def muxing_threads_against_processes(clip: Path, index_dir: Path, seconds: float = 6.0, cut: bool = False) -> None:
    """In-process: segments per second muxed (or ``cut``) by 1 and 2 threads of one process, and by 1 and 2
    processes (spawned, each with its own kept source): how far the GIL holds the work back."""
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
    from multiprocessing import get_context

    _index_times(clip, index_dir)  # indexed once, before the clocks start
    figures = []
    for kind in ("threads", "processes"):
        for count in (1, 2):
            pool = ThreadPoolExecutor(count) if kind == "threads" else ProcessPoolExecutor(count, mp_context=get_context("spawn"))
            with pool:
                jobs = [(str(clip), str(index_dir), i, count) for i in range(count)]
                if kind == "processes":  # started and warm before the clocks start
                    list(pool.map(_mux_back_to_back, *zip(*[(*job, 0.0, cut) for job in jobs])))
                rates = pool.map(_mux_back_to_back, *zip(*[(*job, seconds, cut) for job in jobs]))
                figures.append(f"{count} {kind} {sum(rates):.0f}/s")
    print(f"in-process, 1080p segments {'cut' if cut else 'muxed'} back to back: {', '.join(figures)}; load {os.getloadavg()[0]:.2f}")


def ffmpeg_rate(clip: Path, spans: list[tuple[float, float]], clients: int, seconds: float) -> float:
    """Segments per second made by ``clients`` threads each running ffmpeg once per segment."""
    done = [0] * clients
    stop = time.perf_counter() + seconds

    def run(first: int) -> None:
        n = first
        while time.perf_counter() < stop:
            ffmpeg_segment(clip, *spans[n % len(spans)])
            done[first] += 1
            n += clients

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def http_figures(folder: Path, seconds: int, duration: float) -> None:
    media = folder / "hd"
    media.mkdir()
    clip = media / "hd.mkv"
    made, _ = timed(make_hd_clip, clip, seconds)
    print(f"1080p clip: {seconds} s, {clip.stat().st_size / 1e6:.0f} MB, made in {made:.0f} s; load {os.getloadavg()}")
    for cut in (True, False):
        loop_lag_while_muxing(clip, folder / "lag-index", cut=cut)
        muxing_threads_against_processes(clip, folder / "lag-index", cut=cut)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", "-movflags", "+faststart", str(media / "hd.mp4")], check=True)
    servers = {label: start_server(media, folder / f"hd-cache-{n}", settings) for n, (label, settings) in enumerate(VARIANTS.items())}
    try:
        # the MKV at every load, each variant; then the same clip as MP4 (faststart), cut and muxed by PyAV
        runs = [("hd.mkv", clients, label) for clients in (0, 1, 4, 16) for label in servers]
        runs += [("hd.mp4", clients, label) for clients in (4, 16) for label in servers if "two cut" not in label]
        for name, clients, label in runs:  # A/B in the same minute
            base = servers[label][1]
            playlist = httpx.get(f"{base}/hls/{name}/index.m3u8", timeout=60).text
            count = sum(1 for line in playlist.splitlines() if line.endswith(".m4s"))
            got = anyio.run(segments_under_load, base, f"/hls/{name}/", count, clients, duration)
            print(f"{name}, {label}, {clients} clients: {got['rate']:.1f} segments/s, segment p50 {ms(got['p50'])} "
                  f"p99 {ms(got['p99'])}, /healthz p50 {ms(got['health_p50'])} p99 {ms(got['health_p99'])}, loop lag "
                  f"p99 {got['lag_p99_ms']:.1f} ms max {got['lag_max_ms']:.1f} ms, errors {got['not_200']}; "
                  f"load {os.getloadavg()[0]:.2f}")
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=30)
    index = KeyframeCache(folder / "hd-index").get(str(clip), clip.stat())
    spans = [(span.start, span.duration) for span in plan_segments(index.times, index.duration)]
    for clients in (4, 16):
        rate = ffmpeg_rate(clip, spans, clients, duration)
        print(f"ffmpeg -c copy, {clients} at once: {rate:.1f} segments/s; load {os.getloadavg()[0]:.2f}")


def segment_p50_s3_against_disk(folder: Path, clip: Path, rounds: int = 3) -> None:
    """One client fetches every segment of ``clip`` from a bucket replica and from a folder server, alternately."""
    from bench.s3stack import BUCKET, PREFIX, bucket_store, replica, seaweedfs  # SeaweedFS only for this figure
    import obstore

    with seaweedfs(folder / "seaweedfs") as (endpoint, _weed), replica(endpoint, folder, "s3-replica") as (bucket_url, _):
        obstore.put(bucket_store(endpoint), f"{PREFIX}/{clip.name}", clip.read_bytes())
        disk, disk_url = start_server(clip.parent, folder / "disk-cache", {"MUXING": 1})
        try:
            times: dict[str, list[float]] = {"s3": [], "disk": []}
            with httpx.Client(timeout=60) as client:
                playlist = client.get(f"{bucket_url}/hls/{clip.name}/index.m3u8").text
                names = [line for line in playlist.splitlines() if line.endswith(".m4s")]
                for _ in range(rounds):
                    for name in names:
                        for label, base in (("s3", bucket_url), ("disk", disk_url)):
                            took, answer = timed(client.get, f"{base}/hls/{clip.name}/{name}")
                            assert answer.status_code == 200, answer.text
                            times[label].append(took)
        finally:
            disk.terminate()
            disk.wait(timeout=30)
    s3, local = statistics.median(times["s3"]), statistics.median(times["disk"])
    print(f"segment p50 over S3 (SeaweedFS, s3://{BUCKET}/{PREFIX}) {ms(s3)} against {ms(local)} from disk "
          f"({s3 / local:.2f}x, {len(times['s3'])} segments each, one client); load {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--hd-seconds", type=int, default=120)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--s3-only", action="store_true", help="only the segment p50 over S3 against disk")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.s3_only:
            (Path(folder) / "hd").mkdir()
            make_hd_clip(Path(folder) / "hd" / "hd.mkv", args.hd_seconds)
            segment_p50_s3_against_disk(Path(folder), Path(folder) / "hd" / "hd.mkv")
            return
        http_figures(Path(folder), args.hd_seconds, args.duration)
        segment_p50_s3_against_disk(Path(folder), Path(folder) / "hd" / "hd.mkv")
        clip = Path(folder) / "long.mkv"
        made, _ = timed(make_long_clip, clip, args.minutes)
        print(f"clip: {args.minutes} min, {clip.stat().st_size / 1e6:.0f} MB, made in {made:.0f} s")
        cache = KeyframeCache(Path(folder) / "cache")
        cold, index = timed(cache.get, str(clip), clip.stat())
        cached = min(timed(cache.get, str(clip), clip.stat())[0] for _ in range(REPEATS))
        plan = plan_segments(index.times, index.duration)
        print(f"playlist index ({index.origin}, {len(index.times)} keyframes, {len(plan)} segments): cold {ms(cold)}, cached {ms(cached)}")
        long_mp4 = Path(folder) / "long.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", "-movflags", "+faststart", str(long_mp4)], check=True)
        mp4_plan = plan_segments(*_index_times(long_mp4, Path(folder) / "cache"))
        with closing(InputPool()) as pool:
            tables, cut = timed(segment_maker, long_mp4, pool, True)  # FFmpeg's index read into arrays, once per file
            first, made = timed(cut, mp4_plan[len(mp4_plan) // 2])
            assert made is not None
        print(f"the same {args.minutes} min as MP4: its Cut (sample tables) planned in {ms(tables)} once, then a segment "
              f"in the middle cut in {ms(first)}")
        inputs = InputPool()
        muxed, cut = segment_maker(clip, inputs, False), segment_maker(clip, inputs, True)
        for label, span in (("first", plan[0]), ("late", plan[-2])):
            ours = [timed(make_segment, clip, span)[0] for _ in range(REPEATS)]
            reused = [timed(muxed, span)[0] for _ in range(REPEATS)]
            cuts = [timed(cut, span)[0] for _ in range(REPEATS)]
            theirs = [timed(ffmpeg_segment, clip, span.start, span.duration)[0] for _ in range(REPEATS)]
            print(f"segment {span.number} ({label}, {span.duration:.1f} s): cut from the blocks p50 {ms(statistics.median(cuts))}, "
                  f"muxed by PyAV p50 {ms(statistics.median(ours))} (source kept open: {ms(statistics.median(reused))}), "
                  f"ffmpeg -c copy p50 {ms(statistics.median(theirs))}")
        inputs.close()


if __name__ == "__main__":
    main()
