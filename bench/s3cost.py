"""CPU time a streamer process spends per request and per MiB over S3, against the same file from disk.

``python -m bench.s3cost`` starts SeaweedFS with one object, a replica serving the bucket
(``--io async``) and streamer serving the same bytes from a folder (sendfile on, and off:
the copying path), then, in rotated rounds, drives each with random 256 KiB ranges at 16
connections (wrk) and one whole-object download (curl), reading the serving process's
user+system CPU time around each run: microseconds per range request and per MiB streamed.
A busy machine moves req/s a lot and CPU per request little, so this is the figure to
compare. ``--baseline DIR`` adds a replica running the streamer package found in DIR (a
``git archive`` of another commit), ``--variant "OPTIONS"`` a replica run with those extra
``serve`` options (``--chunk-size 1MiB``), for an A/B in the same minute.

Usage: python -m bench.s3cost [--size-mib 256] [--seconds 4] [--rounds 3] [--baseline DIR] [--variant OPTIONS]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from bench.cost import cpu_seconds
from bench.load import RANGE_SCRIPT, curl_download_speed, run_wrk
from bench.s3 import KEY, RANGE_BYTES, RANGE_CONNECTIONS, make_object
from bench.s3stack import BUCKET, PREFIX, replica, running, seaweedfs, store_env, wait_until
from bench.servers import HOST, free_port

import httpx

MiB = 1 << 20


def folder_server(stack: ExitStack, data: Path, tmp: Path, name: str, *extra: str) -> tuple[str, int]:
    port = free_port()
    command = [sys.executable, "-m", "streamer", "serve", str(data), "--host", HOST, "--port", str(port),
               "--cache-dir", str(tmp / f"{name}-cache"), "--log-level", "warning", *extra]
    process = stack.enter_context(running(command, tmp / f"{name}.log"))
    url = f"http://{HOST}:{port}"
    wait_until(lambda: httpx.get(url + "/healthz", timeout=2).status_code == 200, name, process, tmp / f"{name}.log")
    return url, process.pid


def baseline_replica(stack: ExitStack, store: str, tmp: Path, code: Path) -> tuple[str, int]:
    port = free_port()
    command = [sys.executable, "-m", "streamer", "serve", f"s3://{BUCKET}/{PREFIX}", "--s3-endpoint", store,
               "--host", HOST, "--port", str(port), "--cache-dir", str(tmp / "base-cache"), "--log-level", "warning"]
    process = stack.enter_context(running(command, tmp / "base.log", {**store_env(), "PYTHONPATH": str(code)}))
    url = f"http://{HOST}:{port}"
    wait_until(lambda: httpx.get(url + "/readyz", timeout=2).status_code == 200, "baseline", process, tmp / "base.log")
    return url, process.pid


def per_unit(pid: int, run: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    """``(server CPU microseconds per unit, rate)``: ``run`` returns (units done, rate)."""
    before = cpu_seconds(pid)
    units, rate = run()
    return (cpu_seconds(pid) - before) / max(units, 1) * 1e6, rate


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.s3cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="a folder holding another version of the streamer package")
    parser.add_argument("--variant", help="extra serve options for a second replica of this version")
    args = parser.parse_args(argv)
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="streamer-bench-s3cost-") as name, ExitStack() as stack:
        tmp = Path(name)
        store, _ = stack.enter_context(seaweedfs(tmp / "seaweedfs"))
        (tmp / "data").mkdir()
        make_object(tmp / "data" / KEY, store, size)
        url, process = stack.enter_context(replica(store, tmp, "s3"))
        systems = {"s3": (url, process.pid)}
        if args.variant:
            url, process = stack.enter_context(replica(store, tmp, "variant", *args.variant.split()))
            systems[f"s3 {args.variant}"] = (url, process.pid)
        if args.baseline:
            systems["s3-baseline"] = baseline_replica(stack, store, tmp, args.baseline.resolve())
        systems["disk"] = folder_server(stack, tmp / "data", tmp, "disk")
        systems["disk-copy"] = folder_server(stack, tmp / "data", tmp, "disk-copy", "--sendfile", "off")

        def ranges(base: str) -> tuple[float, float]:
            result = run_wrk(f"{base}/media/{KEY}", RANGE_CONNECTIONS, args.seconds, script=RANGE_SCRIPT,
                             script_args=(str(size), str(RANGE_BYTES)))
            if result.non_2xx_3xx or result.socket_errors:
                raise SystemExit(f"{base}: {result.non_2xx_3xx} bad answers, {result.socket_errors} socket errors")
            return result.requests, result.requests_per_s

        def stream(base: str) -> tuple[float, float]:
            return args.size_mib, curl_download_speed(f"{base}/media/{KEY}", size) / 1e6

        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        names = list(systems)
        for r in range(args.rounds):
            for system in names[r % len(names):] + names[: r % len(names)]:
                base, pid = systems[system]
                for metric, run in (("ranges", ranges), ("stream", stream)):
                    samples.setdefault((metric, system), []).append(per_unit(pid, lambda: run(base)))
    print("| system | CPU per 256 KiB range | req/s (16 conns) | CPU per MiB streamed | MB/s (one stream) |")
    print("|---|---|---|---|---|")
    for system in names:
        cells = []
        for metric in ("ranges", "stream"):
            cells += [statistics.median(u for u, _ in samples[metric, system]), statistics.median(r for _, r in samples[metric, system])]
        print(f"| {system} | {cells[0]:.0f} us | {cells[1]:.0f} | {cells[2]:.0f} us | {cells[3]:.0f} |")
    print(f"\nload average after the run: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
