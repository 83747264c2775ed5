"""``python -m bench.probe``: what probing costs, per file and to the event loop.

1. p50/p99 of ``probe_file`` per file, in this process, over a mix of tiny real clips and songs.
2. A streamer server on a folder of --files such files (copies under distinct names): one
   listing of the whole folder starts their probes in the background, and /healthz latency is
   measured from a client (one request at a time) until every probe is done; then again idle.
Prints a Markdown table and writes it (and JSON) to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from bench.proc import TinyGet, open_fd_count, rss_mib, stop_process
from streamer.media.probe import probe_file
from tests.conftest import free_port
from tests.media.factory import make_av, make_tagged_audio

HEALTHZ_INTERVAL_S = 0.005
READY_TIMEOUT_S = 20.0
PROBE_TIMEOUT_S = 600.0


def make_originals(root: Path) -> list[Path]:
    return [
        make_av(root / "h264.mp4", "mp4", "libx264", "aac", options={"movflags": "+faststart"}),
        make_av(root / "h264.mkv", "matroska", "libx264", "aac"),
        make_av(root / "vp9.webm", "webm", "libvpx-vp9", "libopus"),
        make_tagged_audio(root / "song.mp3", "mp3", "libmp3lame", cover=True),
        make_tagged_audio(root / "song.flac", "flac", "flac"),
    ]


def fill(folder: Path, originals: list[Path], count: int) -> None:
    folder.mkdir()
    for index in range(count):
        source = originals[index % len(originals)]
        shutil.copyfile(source, folder / f"item {index:04d}{source.suffix}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def probe_costs(folder: Path, rounds: int = 200) -> dict[str, float]:
    paths = sorted(folder.iterdir())[:rounds]
    timings = []
    for path in paths:
        started = time.perf_counter()
        assert probe_file(str(path))["ok"], path
        timings.append(time.perf_counter() - started)
    return {"probe_p50_ms": percentile(timings, 0.5) * 1000, "probe_p99_ms": percentile(timings, 0.99) * 1000}


def healthz_while(probe: TinyGet, done: Any) -> list[float]:
    timings = []
    while not done():
        timings.append(probe.timed("/healthz"))
        time.sleep(HEALTHZ_INTERVAL_S)
    return timings


def start(folder: Path, cache: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamer", "serve", str(folder), "--port", str(port), "--cache-dir", str(cache),
             "--log-level", "warning"],
            stdout=output, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).text == "ok":
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    stop_process(process)
    raise RuntimeError(log.read_text())


def folder_in_background(folder: Path, cache: Path, log: Path) -> dict[str, float]:
    port = free_port()
    process = start(folder, cache, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client, closing(TinyGet(port)) as probe:
            idle = healthz_while(probe, _for_seconds(2.0))
            started = time.perf_counter()
            first = client.get("/api/media", params={"limit": 1000}).json()
            listed_s = time.perf_counter() - started
            busy = healthz_while(probe, lambda: client.get("/debug/runtime").json()["probes_inflight"] == 0)
            probed_s = time.perf_counter() - started
            last = client.get("/api/media", params={"limit": 1000}).json()
            assert last["pending"] == [], len(last["pending"])
            return {
                "files": len(first["entries"]), "pending_after_first_listing": len(first["pending"]),
                "first_listing_s": listed_s, "all_probed_s": probed_s, "probes_per_s": len(first["pending"]) / probed_s,
                "healthz_idle_p50_ms": percentile(idle, 0.5) * 1000, "healthz_idle_p99_ms": percentile(idle, 0.99) * 1000,
                "healthz_busy_p50_ms": percentile(busy, 0.5) * 1000, "healthz_busy_p99_ms": percentile(busy, 0.99) * 1000,
                "healthz_busy_max_ms": max(busy) * 1000, "healthz_samples": len(busy),
                "server_rss_mib": rss_mib(process.pid), "server_fds": open_fd_count(process.pid),
            }
    finally:
        stop_process(process)


def _for_seconds(seconds: float) -> Any:
    end = time.monotonic() + seconds
    return lambda: time.monotonic() >= end


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.probe", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="files in the folder probed in the background (default 1000)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results", help="where probe.{md,json} go")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as tmp:
        root = Path(tmp)
        (root / "originals").mkdir()
        fill(root / "folder", make_originals(root / "originals"), args.files)
        results = {**probe_costs(root / "folder"), **folder_in_background(root / "folder", root / "cache", root / "server.log")}
    results["load_average_1m"] = os.getloadavg()[0]
    table = "| measure | value |\n|---|---|\n" + "\n".join(
        f"| {name} | {value:.2f} |" if isinstance(value, float) else f"| {name} | {value} |" for name, value in results.items()
    )
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "probe.md").write_text(f"# bench.probe ({args.files} files, cores: {os.cpu_count()})\n\n{table}\n")
    (args.out / "probe.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
