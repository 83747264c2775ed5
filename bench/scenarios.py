"""The measurements: one function per thing measured, each against one server.

Each returns ``{scenario letter: {metric key: number}}`` (one run can fill two
scenarios: (b) and (f) come from the same wrk run), or raises ``NotApplicable``
with a reason. Load comes from wrk and curl pinned to CPU 1; Python only makes
the untimed spot check and (g)'s slow clients, where the client's speed does not matter.
"""

from __future__ import annotations

import http.client
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.config import STREAM_CHUNK_BYTES, BenchConfig
from bench.data import DataFiles
from bench.load import RANGE_SCRIPT, LoadError, WrkResult, background_wrk, curl_download_speed, run_wrk
from bench.proc import peak_rss_mib, reset_peak_rss
from bench.servers import HOST, STREAMER_SYSTEMS, Server

Values = dict[str, dict[str, float]]
DOWNLOADS_CONNECTIONS = 32  # (b)
RANGE_CONNECTIONS = 64  # (c)
SMALL_CONNECTIONS = 64  # (d)
BACKGROUND_STREAMS = 16  # (e)
BACKGROUND_TIMEOUT_S = 300  # (e): wrk must not count a 1 GiB download as timed out
SPOT_CHECKS = 5  # (c): Range answers compared with the file, outside the timed part
SPOT_TIMEOUT_S = 30.0
# (c): wrk counts the bytes of answers cut off at the end of the run but not their requests, so bytes per
# request sit a little above 256 KiB; outside these bounds the server sent whole files or error pages.
RANGE_ANSWER_BOUNDS = (0.9, 1.5)
STREAM_BYTES_SEED = 1
SETTLE_S = 0.3  # pause after each measurement so one system's leftovers do not load the next


class NotApplicable(Exception):
    """This measurement does not apply to this system (the reason is the message)."""


@dataclass(frozen=True)
class Context:
    config: BenchConfig
    files: DataFiles
    missing_tools: dict[str, str] = field(default_factory=dict)


def require_tools(ctx: Context, *tools: str) -> None:
    for tool in tools:
        if tool in ctx.missing_tools:
            raise NotApplicable(ctx.missing_tools[tool])


def checked(result: WrkResult, what: str) -> WrkResult:
    """A wrk result that completed requests and saw no error status."""
    if result.requests == 0 or result.non_2xx_3xx:
        raise LoadError(f"{what}: {result.requests} requests, {result.non_2xx_3xx} answered with an error status")
    return result


def single_stream_throughput(server: Server, ctx: Context) -> Values:
    """(a) curl downloads the big file alone; the median of the round's downloads."""
    require_tools(ctx, "curl")
    url, size = server.media_url(ctx.files.big), ctx.config.big_file_bytes
    speeds = [curl_download_speed(url, size) for _ in range(ctx.config.stream_repeats)]
    return {"a": {"throughput_Bps": statistics.median(speeds)}}


def concurrent_download_throughput_and_peak_rss(server: Server, ctx: Context) -> Values:
    """(b) 32 connections download the 10 MiB file over and over; (f) the server's VmHWM meanwhile."""
    require_tools(ctx, "wrk")
    pid = server.serving_pid
    reset_peak_rss(pid)
    result = checked(run_wrk(server.media_url(ctx.files.mid), DOWNLOADS_CONNECTIONS, ctx.config.wrk_duration_s), "(b)")
    return {
        "b": {"throughput_Bps": result.transfer_Bps, "req_s": result.requests_per_s},
        "f": {"peak_rss_mib": peak_rss_mib(pid)},
    }


def random_range_rate(server: Server, ctx: Context) -> Values:
    """(c) 64 connections ask for random 256 KiB ranges of the big file."""
    require_tools(ctx, "wrk")
    config = ctx.config
    args = [str(config.big_file_bytes), str(config.range_bytes)]
    url = server.media_url(ctx.files.big)
    result = run_wrk(url, RANGE_CONNECTIONS, config.wrk_duration_s, latency=True, script=RANGE_SCRIPT, script_args=args)
    checked(result, "(c)")
    per_request = result.bytes_read / result.requests
    low, high = (config.range_bytes * bound for bound in RANGE_ANSWER_BOUNDS)
    if not low <= per_request <= high:
        raise LoadError(f"(c): {per_request:.0f} bytes per answer, not a {config.range_bytes}-byte range")
    return {"c": {"req_s": result.requests_per_s, "p99_ms": _required(result.p99_ms)}}


def _required(value: float | None) -> float:
    if value is None:
        raise LoadError("wrk printed no latency distribution")
    return value


def range_spot_check(server: Server, ctx: Context) -> str:
    """(c), untimed: a few random ranges must come back 206 with exactly the file's bytes."""
    config, path = ctx.config, ctx.files.big
    rng = random.Random(server.port)
    connection = http.client.HTTPConnection(HOST, server.port, timeout=SPOT_TIMEOUT_S)
    try:
        with open(path, "rb") as f:
            for _ in range(SPOT_CHECKS):
                start = rng.randrange(config.big_file_bytes - config.range_bytes + 1)
                stop = start + config.range_bytes
                connection.request("GET", f"/media/{path.name}", headers={"Range": f"bytes={start}-{stop - 1}"})
                response = connection.getresponse()
                body = response.read()
                expected_range = f"bytes {start}-{stop - 1}/{config.big_file_bytes}"
                got = f"{response.status} {response.getheader('Content-Range')}"
                if got != f"206 {expected_range}":
                    raise LoadError(f"range spot check: got {got}, expected 206 {expected_range}")
                if body != os.pread(f.fileno(), config.range_bytes, start):
                    raise LoadError(f"range spot check: wrong bytes for {expected_range}")
    finally:
        connection.close()
    return f"{SPOT_CHECKS}/{SPOT_CHECKS} ranges: 206 with the right bytes"


def small_file_rate(server: Server, ctx: Context) -> Values:
    """(d) 64 connections fetch the 100 KiB file over and over."""
    require_tools(ctx, "wrk")
    result = run_wrk(server.media_url(ctx.files.small), SMALL_CONNECTIONS, ctx.config.wrk_duration_s, latency=True)
    checked(result, "(d)")
    return {"d": {"req_s": result.requests_per_s, "p99_ms": _required(result.p99_ms)}}


def healthz_latency_under_downloads(server: Server, ctx: Context) -> Values:
    """(e) /healthz timed on one connection while 16 others download the big file at full speed."""
    require_tools(ctx, "wrk")
    probe_s = ctx.config.healthz_duration_s
    background_s = int(ctx.config.warmup_s + probe_s + 2)
    with background_wrk(server.media_url(ctx.files.big), BACKGROUND_STREAMS, background_s, timeout_s=BACKGROUND_TIMEOUT_S):
        time.sleep(ctx.config.warmup_s)
        result = checked(run_wrk(server.url("/healthz"), 1, probe_s, latency=True), "(e)")
    return {"e": {"p50_ms": _required(result.p50_ms), "p99_ms": _required(result.p99_ms), "max_ms": result.max_ms}}


def stream_bytes_status(server: Server) -> int:
    connection = http.client.HTTPConnection(HOST, server.port, timeout=SPOT_TIMEOUT_S)
    try:
        connection.request("GET", "/stream-bytes/16")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def chunked_stream_throughput(server: Server, ctx: Context) -> Values:
    """(h) curl downloads streamer's chunked /stream-bytes/{n} (no file behind it)."""
    require_tools(ctx, "curl")
    if server.name not in STREAMER_SYSTEMS:
        raise NotApplicable("only streamer has /stream-bytes")
    status = stream_bytes_status(server)
    if status == 404:
        raise NotApplicable("streamer answered 404 for /stream-bytes (endpoint not there)")
    n = ctx.config.big_file_bytes
    url = server.url(f"/stream-bytes/{n}?seed={STREAM_BYTES_SEED}&chunk_size={STREAM_CHUNK_BYTES}")
    speeds = [curl_download_speed(url, n) for _ in range(ctx.config.stream_repeats)]
    return {"h": {"throughput_Bps": statistics.median(speeds)}}


@dataclass(frozen=True)
class Measurement:
    scenarios: tuple[str, ...]  # the scenarios this one run fills
    measure: Callable[[Server, Context], Values]
    per_round: bool = True  # False: once per system, outside the rounds
    check: Callable[[Server, Context], str] | None = None  # untimed, once per system, before the rounds


def measurements() -> tuple[Measurement, ...]:
    """In running order; (g) last, since it holds a thousand connections per server."""
    from bench.footprint import slow_client_footprint  # footprint imports this module's helpers

    return (
        Measurement(("a",), single_stream_throughput),
        Measurement(("b", "f"), concurrent_download_throughput_and_peak_rss),
        Measurement(("c",), random_range_rate, check=range_spot_check),
        Measurement(("d",), small_file_rate),
        Measurement(("e",), healthz_latency_under_downloads),
        Measurement(("h",), chunked_stream_throughput),
        Measurement(("g",), slow_client_footprint, per_round=False),
    )
