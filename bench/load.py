"""Load generators: wrk and curl, pinned to CPU 1, and the parsing of what they print.

wrk prints sizes in binary units (``512.00KB`` is 512 KiB) and times as ``us``,
``ms``, ``s``, ``m`` or ``h``; both are turned into plain numbers (bytes, ms).
Every run is bounded: wrk by ``-d`` plus a subprocess timeout, curl by ``--max-time``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.proc import stop_process

CLIENT_CPU = 1
WRK_TIMEOUT_S = 10  # wrk's per-request timeout; a 10 MiB body at 32 connections can take over its 2 s default
WRK_SLACK_S = 30  # a wrk run is killed this long after its -d duration
CURL_MAX_TIME_S = 300
RANGE_SCRIPT = Path(__file__).resolve().parent / "range.lua"
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


class LoadError(RuntimeError):
    """A load generator failed or printed something unexpected."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    bytes_read: float
    requests_per_s: float
    transfer_Bps: float
    max_ms: float
    p50_ms: float | None  # only with --latency
    p99_ms: float | None
    socket_errors: int
    non_2xx_3xx: int


def parse_size_bytes(text: str) -> float:
    """``"1.23GB"`` -> bytes (wrk's units are binary)."""
    match = re.fullmatch(_NUMBER + r"\s*([KMGT]?B)", text.strip())
    if match is None:
        raise LoadError(f"not a wrk size: {text!r}")
    return float(match.group(1)) * _SIZE_UNITS[match.group(2)]


def parse_duration_ms(text: str) -> float:
    """``"2.05ms"``, ``"812.00us"``, ``"1.2s"``, ``"1.00m"`` -> milliseconds."""
    match = re.fullmatch(_NUMBER + r"\s*(us|ms|s|m|h)", text.strip())
    if match is None:
        raise LoadError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _TIME_UNITS_MS[match.group(2)]


def _field(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1) if match else None


def _required(pattern: str, text: str) -> str:
    value = _field(pattern, text)
    if value is None:
        raise LoadError(f"wrk output has no match for {pattern!r}:\n{text}")
    return value


def parse_wrk(text: str) -> WrkResult:
    """The figures of one wrk run, from its standard output."""
    p50, p99 = _field(r"^\s*50(?:\.0+)?%\s+(\S+)", text), _field(r"^\s*99(?:\.0+)?%\s+(\S+)", text)
    errors = _field(r"Socket errors:\s*(.*)$", text)
    return WrkResult(
        requests=int(_required(r"^\s*([0-9]+) requests in", text)),
        bytes_read=parse_size_bytes(_required(r"requests in \S+, (\S+) read", text)),
        requests_per_s=float(_required(r"^Requests/sec:\s*" + _NUMBER, text)),
        transfer_Bps=parse_size_bytes(_required(r"^Transfer/sec:\s*(\S+)", text)),
        max_ms=parse_duration_ms(_required(r"^[ \t]*Latency[ \t]+\S+[ \t]+\S+[ \t]+(\S+)", text)),
        p50_ms=parse_duration_ms(p50) if p50 else None,
        p99_ms=parse_duration_ms(p99) if p99 else None,
        socket_errors=sum(int(n) for n in re.findall(r"[0-9]+", errors)) if errors else 0,
        non_2xx_3xx=int(_field(r"Non-2xx or 3xx responses:\s*([0-9]+)", text) or 0),
    )


def wrk_command(
    url: str,
    connections: int,
    duration_s: float,
    *,
    latency: bool = False,
    script: Path | None = None,
    script_args: Sequence[str] = (),
    timeout_s: int = WRK_TIMEOUT_S,
) -> list[str]:
    command = ["taskset", "-c", str(CLIENT_CPU), "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s"]
    command += [f"--timeout={timeout_s}s", *(["--latency"] if latency else []), *(["-s", str(script)] if script else [])]
    return [*command, url, *(["--", *script_args] if script_args else [])]


def run_wrk(
    url: str,
    connections: int,
    duration_s: float,
    *,
    latency: bool = False,
    script: Path | None = None,
    script_args: Sequence[str] = (),
) -> WrkResult:
    """One wrk run to completion; raises LoadError if wrk fails."""
    command = wrk_command(url, connections, duration_s, latency=latency, script=script, script_args=script_args)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + WRK_SLACK_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"wrk ran past {duration_s + WRK_SLACK_S} s: {' '.join(command)}") from exc
    if done.returncode != 0:
        raise LoadError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


@contextmanager
def background_wrk(
    url: str, connections: int, duration_s: float, *, latency: bool = False, timeout_s: int = WRK_TIMEOUT_S
) -> Iterator[subprocess.Popen[str]]:
    """wrk running while the block runs; stopped (if still running) when it ends."""
    command = wrk_command(url, connections, duration_s, latency=latency, timeout_s=timeout_s)
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        stop_process(process)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def finish_wrk(process: subprocess.Popen[str], timeout_s: float) -> WrkResult:
    """Wait for a background wrk to finish by itself and parse its output."""
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"background wrk ran past {timeout_s} s") from exc
    if process.returncode != 0:
        raise LoadError(f"wrk exited with {process.returncode}: {err.strip() or out.strip()}")
    return parse_wrk(out)


def curl_download_speed(url: str, expected_bytes: int) -> float:
    """Bytes per second of one download with curl (``%{speed_download}``); checks status and size."""
    command = ["taskset", "-c", str(CLIENT_CPU), "curl", "-s", "-o", "/dev/null", "--max-time", str(CURL_MAX_TIME_S)]
    command += ["-w", "%{http_code} %{size_download} %{speed_download}", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CURL_MAX_TIME_S + 10, check=False)
    if done.returncode != 0:
        raise LoadError(f"curl exited with {done.returncode} for {url}")
    status, size, speed = done.stdout.split()
    if status != "200" or int(size) != expected_bytes:
        raise LoadError(f"curl got status {status} and {size} bytes from {url}, expected 200 and {expected_bytes}")
    return float(speed)


def missing_tools() -> dict[str, str]:
    """Load generators that are not installed, with what to install."""
    needed = {"wrk": "apt-get install wrk", "curl": "apt-get install curl", "taskset": "apt-get install util-linux"}
    return {tool: f"{tool} is not installed ({how})" for tool, how in needed.items() if shutil.which(tool) is None}
