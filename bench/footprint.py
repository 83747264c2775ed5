"""(g) What many slow clients cost a server: memory, descriptors, /healthz latency and a fast download meanwhile.

The clients run as their own process (``bench.slow_clients``) pinned to CPU 1.
/healthz is timed with wrk from the moment they start connecting (their arrival
is the hardest part for a server) to the end, while this process samples the
server's VmRSS and descriptor count; VmHWM is reset before the clients connect
and read after they leave.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from bench.load import CLIENT_CPU, WRK_SLACK_S, LoadError, background_wrk, curl_download_speed, finish_wrk
from bench.proc import open_fd_count, peak_rss_mib, reset_peak_rss, rss_mib, stop_process
from bench.scenarios import Context, Values
from bench.servers import REPO, Server

SAMPLE_INTERVAL_S = 0.25
READY_TIMEOUT_S = 60.0  # for every client to have tried to connect
EXIT_SLACK_S = 30.0  # the clients' process must have ended this long after their duration
PIPE_READ_BYTES = 65536
SETTLE_TIMEOUT_S = 15.0  # after the clients leave, wait for the server to close their streams ...
SETTLE_SLACK_FDS = 4  # ... until it holds at most this many descriptors more than before


def slow_clients_command(server: Server, ctx: Context) -> list[str]:
    config = ctx.config
    return [
        "taskset", "-c", str(CLIENT_CPU), sys.executable, "-m", "bench.slow_clients",
        "--port", str(server.port), "--path", f"/media/{ctx.files.big.name}", "--clients", str(config.slow_clients),
        "--rate", str(config.slow_client_rate_Bps), "--duration", str(config.slow_duration_s),
    ]  # fmt: skip


class LineReader:
    """Whole lines from a child's unbuffered stdout, each wait bounded by a timeout."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.process, self.fd, self.pending = process, process.stdout.fileno(), b""

    def read_line(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.pending:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise LoadError(f"slow clients printed nothing within {timeout_s} s")
            chunk = os.read(self.fd, PIPE_READ_BYTES)
            if not chunk:
                raise LoadError(f"slow clients ended early ({self.process.wait()}): {self.errors()}")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode().strip()

    def errors(self) -> str:
        return self.process.stderr.read().decode(errors="replace")[-2000:] if self.process.stderr else ""


def sample_until_exit(process: subprocess.Popen[bytes], pid: int, deadline: float) -> tuple[float, int]:
    """Max VmRSS (MiB) and max open descriptors of ``pid`` until ``process`` ends."""
    max_rss, max_fds = rss_mib(pid), open_fd_count(pid)
    while process.poll() is None and time.monotonic() < deadline:
        max_rss, max_fds = max(max_rss, rss_mib(pid)), max(max_fds, open_fd_count(pid))
        time.sleep(SAMPLE_INTERVAL_S)
    return max_rss, max_fds


def wait_for_fds(pid: int, at_most: int, timeout_s: float) -> int:
    """Wait (at most ``timeout_s``) for the server to close what the slow clients made it open; its fd count then."""
    deadline = time.monotonic() + timeout_s
    while (count := open_fd_count(pid)) > at_most and time.monotonic() < deadline:
        time.sleep(SAMPLE_INTERVAL_S)
    return count


def probe_seconds(ctx: Context) -> int:
    """/healthz is timed for the clients' whole time but the last second (wrk takes whole seconds)."""
    return max(1, int(ctx.config.slow_duration_s) - 1)


@contextmanager
def running_slow_clients(server: Server, ctx: Context) -> Iterator[tuple[subprocess.Popen[bytes], LineReader]]:
    """The slow clients' process, stopped and its pipes closed on the way out."""
    process = subprocess.Popen(
        slow_clients_command(server, ctx), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        bufsize=0, cwd=REPO,
    )  # fmt: skip
    try:
        yield process, LineReader(process)
    finally:
        stop_process(process)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def healthz_figures(probe: subprocess.Popen[str]) -> dict[str, float]:
    result = finish_wrk(probe, WRK_SLACK_S)
    if result.requests == 0 or result.p50_ms is None or result.p99_ms is None:
        raise LoadError("/healthz never answered while the slow clients ran")
    return {"p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "max_ms": result.max_ms}


def slow_client_footprint(server: Server, ctx: Context) -> Values:
    """(g) Slow clients download the big file; the server's footprint and /healthz latency meanwhile."""
    pid, probing, healthz = server.serving_pid, "wrk" not in ctx.missing_tools, server.url("/healthz")
    baseline_fds = open_fd_count(pid)
    reset_peak_rss(pid)
    deadline = time.monotonic() + ctx.config.slow_duration_s + EXIT_SLACK_S
    with running_slow_clients(server, ctx) as (process, lines), ExitStack() as stack:
        probe = stack.enter_context(background_wrk(healthz, 1, probe_seconds(ctx), latency=True)) if probing else None
        values = {"clients_connected": float(lines.read_line(READY_TIMEOUT_S).removeprefix("ready "))}
        if "curl" not in ctx.missing_tools:  # one fast client among the slow ones: what speed does it get?
            values["fast_download_Bps"] = curl_download_speed(server.media_url(ctx.files.mid), ctx.files.mid.stat().st_size)
        max_rss, max_fds = sample_until_exit(process, pid, deadline)
        values |= healthz_figures(probe) if probe is not None else {}
        totals = json.loads(lines.read_line(EXIT_SLACK_S))
    values |= {"rss_mib": max_rss, "peak_rss_mib": peak_rss_mib(pid), "fds": float(max_fds)}
    values["clients_streaming"] = float(totals["streaming_at_end"])
    values["fds_after"] = float(wait_for_fds(pid, baseline_fds + SETTLE_SLACK_FDS, SETTLE_TIMEOUT_S))
    return {"g": values}
