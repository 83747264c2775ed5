"""What a signed link costs: server CPU per request through ``/s/TOKEN/...`` against the same request open.

``python -m bench.access [--seconds 5] [--rounds 3]``: one streamer (pinned to CPU 0, as in
the main benchmark) serves a 100 KiB file; wrk (pinned to CPU 1) asks for it openly and
through a signed link, in alternating rounds. The figure is the server's CPU time (user +
system, from ``/proc/PID/stat``) divided by the requests answered, so a busy machine moves
both sides alike. Target: a signed request costs under 5 % more CPU than an open one.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.load import run_wrk
from bench.proc import stop_process
from bench.servers import free_port, start_server, streamer_command, wait_ready
from streamer.http.signing import format_link
from streamer.server.keys import load_keys

FILE_BYTES = 100 * 1024
CONNECTIONS = 16
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def measure(pid: int, url: str, seconds: int) -> tuple[float, float]:
    """(requests per second, server CPU microseconds per request) for one wrk run."""
    before = cpu_seconds(pid)
    result = run_wrk(url, CONNECTIONS, seconds)
    used = cpu_seconds(pid) - before
    return result.requests_per_s, used / max(result.requests, 1) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="streamer-bench-access-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "media").mkdir()
        (tmp / "media" / "small.bin").write_bytes(random.Random(1).randbytes(FILE_BYTES))
        secret = tmp / "secret"
        keys = load_keys(secret)
        token = format_link(keys.keys[keys.signing], keys.signing, int(time.time()) + 3600, "small.bin")
        port = free_port()
        env = {"STREAMER_SECRET_FILE": str(secret)}
        server = start_server("streamer", streamer_command("async", tmp / "media", port), port, tmp, env)
        try:
            wait_ready(server)
            base = f"http://127.0.0.1:{port}"
            urls = {"open": f"{base}/media/small.bin", "signed": f"{base}/s/{token}/media/small.bin"}
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
            measure(server.process.pid, urls["open"], 1)  # warm-up
            for round_index in range(args.rounds):
                order = list(urls) if round_index % 2 == 0 else list(reversed(urls))
                for name in order:
                    figures[name].append(measure(server.process.pid, urls[name], args.seconds))
        finally:
            stop_process(server.process)
    cost = {name: statistics.median(us for _, us in runs) for name, runs in figures.items()}
    rate = {name: statistics.median(rps for rps, _ in runs) for name, runs in figures.items()}
    for name in urls:
        print(f"{name:>6}: {rate[name]:8.0f} req/s, {cost[name]:6.0f} us of server CPU per request")
    extra = cost["signed"] / cost["open"] - 1
    print(f"a signed request costs {extra:+.1%} CPU against an open one (target: under +5 %)")


if __name__ == "__main__":
    main()
