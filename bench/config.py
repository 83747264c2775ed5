"""What one benchmark run does, as one frozen value: sizes, durations, rounds, scenarios.

``full_config()`` follows shared/BENCHMARKS.md; ``smoke_config()`` shrinks every
scenario to about a second (the 10 MiB file stands in for the 1 GiB one) so the
whole comparison runs in well under a minute. Options override either.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

BIG_FILE_BYTES = GIB
MID_FILE_BYTES = 10 * MIB
SMALL_FILE_BYTES = 100 * KIB
RANGE_BYTES = 256 * KIB
STREAM_CHUNK_BYTES = 256 * KIB  # chunk_size asked of /stream-bytes in (h)

ROUNDS = 3
WRK_DURATION_S = 6  # (b), (c), (d)
HEALTHZ_DURATION_S = 5  # the /healthz probe in (e); (g) probes for its whole duration
WARMUP_S = 1.0  # (e): the 16 downloads run this long before /healthz is timed
SMOKE_WARMUP_S = 0.5
STREAM_REPEATS = 2  # curl downloads per round and system in (a) and (h); the round keeps their median
SLOW_CLIENTS = 1000
SLOW_CLIENT_RATE_BPS = 10_000
SLOW_DURATION_S = 30

SMOKE_WRK_DURATION_S = 1
SMOKE_MID_FILE_BYTES = 1 * MIB
SMOKE_SLOW_CLIENTS = 20
SMOKE_SLOW_DURATION_S = 2

SCENARIOS = tuple("abcdefgh")
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "streamer-bench-data"
DEFAULT_OUT_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class BenchConfig:
    rounds: int = ROUNDS
    wrk_duration_s: int = WRK_DURATION_S
    healthz_duration_s: int = HEALTHZ_DURATION_S
    warmup_s: float = WARMUP_S
    stream_repeats: int = STREAM_REPEATS
    big_file_bytes: int = BIG_FILE_BYTES
    mid_file_bytes: int = MID_FILE_BYTES
    small_file_bytes: int = SMALL_FILE_BYTES
    range_bytes: int = RANGE_BYTES
    slow_clients: int = SLOW_CLIENTS
    slow_client_rate_Bps: int = SLOW_CLIENT_RATE_BPS
    slow_duration_s: float = SLOW_DURATION_S
    scenarios: tuple[str, ...] = SCENARIOS
    out_dir: Path = DEFAULT_OUT_DIR
    data_dir: Path = DEFAULT_DATA_DIR
    keep_data: bool = False
    smoke: bool = False

    def wants(self, *scenarios: str) -> bool:
        """Whether any of these scenarios was asked for."""
        return any(s in self.scenarios for s in scenarios)


def full_config() -> BenchConfig:
    return BenchConfig()


def smoke_config() -> BenchConfig:
    return BenchConfig(
        rounds=1,
        wrk_duration_s=SMOKE_WRK_DURATION_S,
        healthz_duration_s=SMOKE_WRK_DURATION_S,
        warmup_s=SMOKE_WARMUP_S,
        stream_repeats=1,
        big_file_bytes=MID_FILE_BYTES,
        mid_file_bytes=SMOKE_MID_FILE_BYTES,  # 32 connections finish some requests within 1 s on a busy machine
        slow_clients=SMOKE_SLOW_CLIENTS,
        slow_duration_s=SMOKE_SLOW_DURATION_S,
        smoke=True,
    )


def with_duration(config: BenchConfig, duration_s: int) -> BenchConfig:
    """Every wrk run lasts ``duration_s``; the /healthz probe one second less (at least one)."""
    return replace(config, wrk_duration_s=duration_s, healthz_duration_s=max(1, duration_s - 1))


def parse_scenarios(text: str) -> tuple[str, ...]:
    """``"a,c,e"`` -> ``("a", "c", "e")``; raises ValueError naming an unknown letter."""
    letters = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [letter for letter in letters if letter not in SCENARIOS]
    if unknown or not letters:
        raise ValueError(f"scenarios are letters among {','.join(SCENARIOS)}, not {text!r}")
    return letters
