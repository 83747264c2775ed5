"""``python -m bench.thumbs``: thumbnails of 24 MP JPEGs, streamer against the naive pattern and nginx's image_filter.

One run, one machine, the same photos for everyone: cold p50 (a new photo for every
request) for streamer and for the naive pattern (Pillow full decode, ``thumbnail()``, save to
a BytesIO, in a ``def`` endpoint); cached p50; thumbnails per second at 8 concurrent requests
for streamer (cold and cached) and nginx ``image_filter`` (which never caches); /healthz p99
and peak RSS (server and its workers) while 16 thumbnails are made at once; and the loop lag of
one process making thumbnails in threads against in worker processes (the GIL, measured).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.proc import TinyGet, status_kib
from streamer.server.settings import MEDIA_WORKERS
from bench.thumb_servers import NAIVE_APP, NGINX_MODULE, free_port, nginx_throughput, running

SIZE = 320
def make_photo(path: Path, width: int = 6000, height: int = 4000) -> None:
    """A 24 MP JPEG with a photo's kind of detail: gradients and grain, about 8 MB at quality 90."""
    from PIL import Image

    red = Image.linear_gradient("L").resize((width, height))
    green = Image.effect_noise((width, height), 18)
    blue = Image.radial_gradient("L").resize((width, height))
    Image.merge("RGB", (red, green, blue)).save(path, quality=90)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed_get(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
    return elapsed


async def concurrent(base: str, urls: list[str], concurrency: int) -> float:
    """Thumbnails per second fetching ``urls`` with ``concurrency`` requests in flight."""
    queue = list(urls)

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            response = await client.get(queue.pop())
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return len(urls) / (time.perf_counter() - started)


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its children."""
    total = 0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return 0
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total


async def under_load(base: str, urls: list[str], pid: int) -> dict[str, float]:
    """/healthz timings (one keep-alive connection, ``TinyGet``) idle, then while ``urls`` are all requested at once; peak RSS."""
    probe = TinyGet(int(base.rsplit(":", 1)[1]))
    try:
        peak = [0]

        def sample(done: Callable[[], bool], count: int | None = None) -> list[float]:
            timings: list[float] = []
            while not done() and len(timings) != count:
                timings.append(probe.timed("/healthz"))
                peak[0] = max(peak[0], tree_rss(pid))
                time.sleep(0.01)
            return timings

        idle = sample(lambda: False, 100)  # the same probe with nothing else running, just before
        async with httpx.AsyncClient(base_url=base, timeout=300) as client:
            task = asyncio.ensure_future(asyncio.gather(*(client.get(url) for url in urls)))
            timings = await asyncio.to_thread(sample, task.done)
            responses = await task
    finally:
        probe.close()
    if any(r.status_code != 200 for r in responses):
        raise RuntimeError(f"statuses under load: {[r.status_code for r in responses]}")
    return {"healthz_p50_ms": percentile(timings, 0.5) * 1000, "healthz_p99_ms": percentile(timings, 0.99) * 1000,
            "healthz_samples": len(timings), "healthz_idle_p50_ms": percentile(idle, 0.5) * 1000,
            "healthz_idle_p99_ms": percentile(idle, 0.99) * 1000, "peak_rss_mib": peak[0] / (1 << 20)}


def loop_lag(photo: Path, jobs: int, mode: str) -> float:
    """Max lag (ms) of a 5 ms sleeper while ``jobs`` thumbnails are made in threads or in worker processes."""
    import anyio

    from streamer.media.thumbs import ThumbJob, make_thumbnail
    from streamer.media.workers import WorkerPool

    async def main() -> float:
        pool = WorkerPool(2)
        out = tempfile.mkdtemp()
        job = [ThumbJob(str(photo), "image", SIZE, "jpeg", f"{out}/{i}.jpg") for i in range(jobs)]
        await pool.run(os.getpid)  # started before the measurement
        await pool.run(os.getpid)
        lags: list[float] = []
        done = anyio.Event()

        async def sample() -> None:
            while not done.is_set():
                started = time.perf_counter()
                await anyio.sleep(0.005)
                lags.append(time.perf_counter() - started - 0.005)

        async def work(one: ThumbJob) -> None:
            if mode == "threads":
                await anyio.to_thread.run_sync(make_thumbnail, one, limiter=limiter)
            else:
                await pool.run(make_thumbnail, one)

        limiter = anyio.CapacityLimiter(2)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            async with anyio.create_task_group() as inner:
                for one in job:
                    inner.start_soon(work, one)
            done.set()
        await pool.aclose()
        shutil.rmtree(out)
        return max(lags) * 1000

    return anyio.run(main)


def decode_once(name: str, photo: str, output: str) -> None:
    """One 320 px thumbnail by ``name``: the naive pattern, streamer's Pillow job, pyvips, or the decoding floor."""
    if name == "naive":
        from PIL import Image, ImageOps

        image = ImageOps.exif_transpose(Image.open(photo))
        image.thumbnail((SIZE, SIZE))
        image.convert("RGB").save(io.BytesIO(), "JPEG", quality=80)
    elif name == "pillow":
        from streamer.media.thumbs import ThumbJob, make_thumbnail

        make_thumbnail(ThumbJob(photo, "image", SIZE, "webp", output))
    elif name == "floor":  # the JPEG decoder at 1/8 scale and nothing else: Huffman decoding of every block
        from PIL import Image

        with Image.open(photo) as image:
            image.draft("RGB", (SIZE * 2, SIZE * 2))
            image.load()
    else:
        import pyvips

        pyvips.Image.thumbnail(photo, SIZE).write_to_buffer(".webp[Q=80]")


def measure_decoder(name: str, photo: str, runs: int = 7) -> None:
    """In a process of its own: p50 wall and CPU time of ``runs`` thumbnails and the peak RSS, as JSON on stdout.

    Each runs in a worker thread, as FastAPI runs a ``def`` endpoint: in the main thread glibc hands
    a full decode's 72 MB back to the kernel after every image and faults it in again (44,000 minor
    faults per image, measured), which would make the naive pattern look twice as slow as it is served.
    CPU time (the process's, so libvips' own threads count) is what a shared machine's load does not move.
    """
    from concurrent.futures import ThreadPoolExecutor

    output = tempfile.mktemp(suffix=".img")
    baseline = tree_rss(os.getpid())  # the interpreter and its imports, before any decoding

    def once() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        decode_once(name, photo, output)
        return time.perf_counter() - wall, time.process_time() - cpu

    with ThreadPoolExecutor(1) as thread:
        thread.submit(once).result()
        times = [thread.submit(once).result() for _ in range(runs)]
    peak = status_kib(os.getpid(), "VmHWM") * 1024 - baseline  # not ru_maxrss: Linux carries it over exec from the parent
    print(json.dumps({"p50_ms": statistics.median(t[0] for t in times) * 1000,
                      "cpu_p50_ms": statistics.median(t[1] for t in times) * 1000, "peak_rss_mib": peak / (1 << 20)}))


def decoders(photo: Path) -> dict[str, Any]:
    """Each way of decoding in a fresh process, one after the other (pyvips only if installed)."""
    names = ["naive", "pillow", "floor"] + (["pyvips"] if importlib.util.find_spec("pyvips") else [])
    found = {}
    for name in names:
        command = [sys.executable, "-m", "bench.thumbs", "--decoder", name, str(photo)]
        found[name] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return found


def run(work: Path, cold_samples: int, media_workers: int = 2) -> dict[str, Any]:
    data = work / "photos"
    data.mkdir()
    make_photo(data / "photo-0.jpg")
    copies = 2 * cold_samples + 16 + 16 + 4
    for index in range(1, copies):  # other paths, the same bytes: a cold cache entry each
        os.link(data / "photo-0.jpg", data / f"photo-{index}.jpg")
    names = iter(f"photo-{i}.jpg" for i in range(copies))
    result: dict[str, Any] = {"photo_bytes": (data / "photo-0.jpg").stat().st_size, "size": SIZE}

    port, naive_port = free_port(), free_port()
    base, naive_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{naive_port}"
    command = [sys.executable, "-m", "streamer", "serve", str(data), "--port", str(port),
               "--cache-dir", str(work / "cache"), "--media-workers", str(media_workers), "--log-level", "warning"]
    (work / "naive_app.py").write_text(NAIVE_APP.replace("{ROOT}", str(data)))
    naive_command = [sys.executable, "-m", "uvicorn", "naive_app:app", "--port", str(naive_port), "--log-level", "warning"]
    with (
        running(command, base + "/healthz") as server,
        running(naive_command, naive_base + "/docs", cwd=work),
        httpx.Client(base_url=base, timeout=300) as client,
        httpx.Client(base_url=naive_base, timeout=300) as naive_client,
    ):
        timed_get(client, f"/thumbs/{next(names)}?size={SIZE}")  # workers started
        timed_get(client, f"/thumbs/{next(names)}?size={SIZE}")
        timed_get(naive_client, "/naive/photo-0.jpg")
        cold, naive = [], []
        for _ in range(cold_samples):  # interleaved, so both see the same machine
            cold.append(timed_get(client, f"/thumbs/{next(names)}?size={SIZE}"))
            naive.append(timed_get(naive_client, f"/naive/{next(names)}"))
        cached = [timed_get(client, f"/thumbs/photo-0.jpg?size={SIZE}") for _ in range(50)]
        result["streamer_cold_p50_ms"] = statistics.median(cold) * 1000
        result["naive_cold_p50_ms"] = statistics.median(naive) * 1000
        result["streamer_cached_p50_ms"] = statistics.median(cached) * 1000
        result["streamer_cold_per_s_at_8"] = asyncio.run(
            concurrent(base, [f"/thumbs/{next(names)}?size={SIZE}" for _ in range(16)], 8))
        result["naive_per_s_at_8"] = asyncio.run(concurrent(naive_base, [f"/naive/photo-{i}.jpg" for i in range(16)], 8))
        result["streamer_cached_per_s_at_8"] = asyncio.run(
            concurrent(base, [f"/thumbs/photo-0.jpg?size={SIZE}"] * 400, 8))
        result["streamer_under_16"] = asyncio.run(
            under_load(base, [f"/thumbs/{next(names)}?size={SIZE}" for _ in range(16)], server.pid))
    result["cold_speedup"] = result["naive_cold_p50_ms"] / result["streamer_cold_p50_ms"]

    if shutil.which("nginx") and NGINX_MODULE.exists():
        result["nginx_per_s_at_8"] = nginx_throughput(work, data, SIZE, concurrent)
    result["decoders"] = decoders(data / "photo-0.jpg")
    for mode in ("threads", "processes"):
        result[f"loop_lag_max_ms_{mode}"] = loop_lag(data / "photo-0.jpg", 8, mode)
    return result


def markdown(result: dict[str, Any]) -> str:
    load = result["streamer_under_16"]
    rows = [
        ("cold p50, 24 MP JPEG to 320 px", f"{result['streamer_cold_p50_ms']:.0f} ms",
         f"naive {result['naive_cold_p50_ms']:.0f} ms: **{result['cold_speedup']:.1f}x** faster (target 4x)"),
        ("cached p50", f"{result['streamer_cached_p50_ms']:.1f} ms", "target < 10 ms"),
        ("thumbnails/s at 8 concurrent, cold", f"{result['streamer_cold_per_s_at_8']:.1f}",
         f"naive {result['naive_per_s_at_8']:.1f}; nginx image_filter {result.get('nginx_per_s_at_8', float('nan')):.1f}"),
        ("thumbnails/s at 8 concurrent, cached", f"{result['streamer_cached_per_s_at_8']:.0f}", "nginx never caches"),
        ("/healthz p99 during 16 at once", f"{load['healthz_p99_ms']:.1f} ms",
         f"p50 {load['healthz_p50_ms']:.1f} ms over {load['healthz_samples']} probes; idle just before: p50 "
         f"{load['healthz_idle_p50_ms']:.1f} ms, p99 {load['healthz_idle_p99_ms']:.1f} ms; target < 5 ms"),
        ("peak RSS during 16 at once", f"{load['peak_rss_mib']:.0f} MiB", f"server and its {result['media_workers']} workers"),
        ("loop lag, 8 thumbnails in 2 threads", f"{result['loop_lag_max_ms_threads']:.0f} ms max", "same process"),
        ("loop lag, 8 thumbnails in 2 processes", f"{result['loop_lag_max_ms_processes']:.0f} ms max", "WorkerPool"),
    ]
    rows += [(f"decoder {name}, in a thread", f"{d['cpu_p50_ms']:.0f} ms CPU p50",
              f"wall {d['p50_ms']:.0f} ms; peak RSS {d['peak_rss_mib']:.0f} MiB above the bare process")
             for name, d in result["decoders"].items()]
    found = result["decoders"]
    rows.append(("naive / pillow CPU, in-process", f"**{found['naive']['cpu_p50_ms'] / found['pillow']['cpu_p50_ms']:.1f}x**",
                 f"ceiling naive / floor: {found['naive']['cpu_p50_ms'] / found['floor']['cpu_p50_ms']:.1f}x "
                 "(the floor is Huffman decoding at 1/8 scale, which no JPEG decoder can skip)"))
    lines = [f"bench.thumbs: {result['media_workers']} media workers, load average {result['load_average'][0]:.1f} at the end", "",
             "| measure | streamer | against |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.thumbs", description=__doc__)
    parser.add_argument("--cold-samples", type=int, default=15)
    parser.add_argument("--media-workers", type=int, default=MEDIA_WORKERS, help=f"default {MEDIA_WORKERS}, the server's")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--decoder", nargs=2, metavar=("NAME", "PHOTO"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.decoder:
        measure_decoder(*args.decoder)
        return
    with tempfile.TemporaryDirectory(prefix="streamer-thumbs-bench-") as work:
        result = run(Path(work), args.cold_samples, args.media_workers)
    result["load_average"] = os.getloadavg()
    result["media_workers"] = args.media_workers
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "thumbs-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (args.out / "thumbs-latest.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
