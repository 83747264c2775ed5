"""What each scenario reports: its title, its metrics, their units, and how to print them.

Every measurement stores plain numbers under these keys: bytes/s, requests/s,
milliseconds, MiB, counts. Titles name the real file sizes of the run, so a
smoke run (10 MiB standing in for 1 GiB) never reads as a full one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.config import BenchConfig
from bench.data import file_name

BYTES_PER_GB = 1e9  # throughput is shown in decimal units, like curl's and the reference figures
BYTES_PER_MB = 1e6


@dataclass(frozen=True)
class Metric:
    scenario: str
    key: str
    label: str
    unit: str  # "B/s", "req/s", "ms", "MiB", "count"
    higher_is_better: bool
    compared: bool = True  # False: a sanity count, shown without a ratio to nginx


METRICS = (
    Metric("a", "throughput_Bps", "throughput", "B/s", True),
    Metric("b", "throughput_Bps", "throughput", "B/s", True),
    Metric("b", "req_s", "requests", "req/s", True),
    Metric("c", "req_s", "requests", "req/s", True),
    Metric("c", "p99_ms", "p99 latency", "ms", False),
    Metric("d", "req_s", "requests", "req/s", True),
    Metric("d", "p99_ms", "p99 latency", "ms", False),
    Metric("e", "p50_ms", "/healthz p50", "ms", False),
    Metric("e", "p99_ms", "/healthz p99", "ms", False),
    Metric("e", "max_ms", "/healthz max", "ms", False),
    Metric("f", "peak_rss_mib", "peak RSS (VmHWM)", "MiB", False),
    Metric("g", "rss_mib", "RSS (max VmRSS)", "MiB", False),
    Metric("g", "peak_rss_mib", "peak RSS (VmHWM)", "MiB", False),
    Metric("g", "fds", "open fds (max)", "count", False),
    Metric("g", "fds_after", "open fds after the clients left", "count", False),
    Metric("g", "p50_ms", "/healthz p50", "ms", False),
    Metric("g", "p99_ms", "/healthz p99", "ms", False),
    Metric("g", "max_ms", "/healthz max", "ms", False),
    Metric("g", "fast_download_Bps", "one fast download of the mid file meanwhile", "B/s", True),
    Metric("g", "clients_connected", "clients connected", "count", True, compared=False),
    Metric("g", "clients_streaming", "clients still streaming at the end", "count", True, compared=False),
    Metric("h", "throughput_Bps", "throughput", "B/s", True),
)


def scenario_titles(config: BenchConfig) -> dict[str, str]:
    sizes = (config.big_file_bytes, config.mid_file_bytes, config.small_file_bytes, config.range_bytes)
    big, mid, small, ranges = (file_name(n).removesuffix(".bin") for n in sizes)
    clients, rate, slow_s = config.slow_clients, config.slow_client_rate_Bps / 1000, config.slow_duration_s
    return {
        "a": f"{big} file, one stream (curl)",
        "b": f"32 concurrent downloads of {mid} (wrk -c32)",
        "c": f"random {ranges} ranges of {big}, 64 connections (wrk + Lua)",
        "d": f"{small} file, 64 connections (wrk -c64)",
        "e": f"/healthz latency while 16 streams download {big}",
        "f": "peak RSS of the server during (b)",
        "g": f"{clients:,} slow clients at {rate:g} kB/s for {slow_s:g} s on {big}",
        "h": f"chunked /stream-bytes/{config.big_file_bytes} (curl; streamer only)",
    }


def metrics_of(scenario: str) -> list[Metric]:
    return [m for m in METRICS if m.scenario == scenario]


def metric(scenario: str, key: str) -> Metric:
    for m in METRICS:
        if m.scenario == scenario and m.key == key:
            return m
    raise KeyError(f"no metric {key!r} in scenario {scenario!r}")


def format_value(value: float, unit: str) -> str:
    """``3.30 GB/s``, ``512 MB/s``, ``6657 req/s``, ``16.0 ms``, ``65 MiB``, ``1000``."""
    if unit == "B/s":
        return f"{value / BYTES_PER_GB:.2f} GB/s" if value >= BYTES_PER_GB / 10 else f"{value / BYTES_PER_MB:.1f} MB/s"
    if unit == "req/s":
        return f"{value:.0f} req/s" if value >= 100 else f"{value:.1f} req/s"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"
    if unit == "MiB":
        return f"{value:.0f} MiB" if value >= 10 else f"{value:.1f} MiB"
    return f"{value:.0f}"
