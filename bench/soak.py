"""Soak: mixed load for a long time, with the server's RSS and descriptors sampled throughout.

Four kinds of client run at once against one server process: seekers (random
Range requests, every answer checked against the file), downloaders (whole
files, length and a checksum checked), a disconnect storm (``bench.storm``) and
slow clients (``bench.slow_clients``). Every ``sample_s`` the server's VmRSS and
open descriptors are read from /proc; the result is their least-squares slope
over the run after a warm-up, in MiB and descriptors per minute. A leak shows
as a slope that stays above zero however long the run; a healthy server's is
flat once its pools and caches have grown.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import httpx

from bench.proc import open_fd_count, rss_mib, stop_process
from bench.storm import plan_aborts, run_storm, runtime, settled

WARM_UP_FRACTION = 0.2  # samples before this share of the run are left out of the slope
SEEK_BYTES = 256 * 1024
SLOW_CLIENTS = 100
SLOW_RATE_BPS = 10_000
STORM_BATCH = 50
MAX_PROBLEMS = 20  # the first few are kept to show what went wrong
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Counts:
    seeks: int = 0
    downloads: int = 0
    aborts: int = 0
    wrong_answers: int = 0
    errors: int = 0
    problems: list[str] = field(default_factory=list)
    lock: ClassVar[threading.Lock] = threading.Lock()  # the client threads add to one Counts

    def add(self, name: str, problem: str | None = None, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)
            if problem is not None and len(self.problems) < MAX_PROBLEMS:
                self.problems.append(problem)


@dataclass
class SoakResult:
    seconds: float
    counts: Counts
    samples: list[tuple[float, float, int]]  # (seconds since start, RSS MiB, open fds)
    rss_slope_mib_per_min: float
    fds_slope_per_min: float
    rss_first_mib: float  # first sample after the warm-up
    rss_last_mib: float
    fds_before: int
    fds_after: int  # once the load stopped and the server settled
    slow_clients: str  # the slow clients' totals, as they printed them


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(seconds, value)`` points, per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def seeker(base_url: str, name: str, content: bytes, stop: threading.Event, counts: Counts, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            start = rng.randrange(len(content) - SEEK_BYTES)
            try:
                answer = client.get(f"/media/{name}", headers={"range": f"bytes={start}-{start + SEEK_BYTES - 1}"})
            except httpx.HTTPError as exc:
                counts.add("errors", f"seek: {exc!r}")
                continue
            counts.add("seeks")
            if answer.status_code != 206 or answer.content != content[start : start + SEEK_BYTES]:
                counts.add("wrong_answers", f"seek at {start}: {answer.status_code}, {len(answer.content)} bytes")


def downloader(base_url: str, name: str, digest: str, stop: threading.Event, counts: Counts) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        while not stop.is_set():
            try:
                with client.stream("GET", f"/media/{name}") as answer:
                    hasher = hashlib.sha256()
                    for chunk in answer.iter_bytes():
                        hasher.update(chunk)
            except httpx.HTTPError as exc:
                counts.add("errors", f"download: {exc!r}")
                continue
            counts.add("downloads")
            if answer.status_code != 200 or hasher.hexdigest() != digest:
                counts.add("wrong_answers", f"download: {answer.status_code}, digest {hasher.hexdigest()[:12]}")


def aborter(port: int, targets: list[tuple[str, int]], stop: threading.Event, counts: Counts) -> None:
    seed = 0
    while not stop.is_set():
        result = run_storm(port, plan_aborts(STORM_BATCH, targets, seed=seed), concurrency=4)
        counts.add("aborts", amount=result.aborts)
        counts.add("errors", f"storm: {result.errors} connections failed" if result.errors else None, result.errors)
        seed += 1


def fds_settled(pid: int, baseline: int, timeout_s: float = 2.0) -> int:
    """The server's descriptor count once it is back to ``baseline``, or after ``timeout_s``.

    ``settled`` asks the server over HTTP, and the server closes its side of that
    connection a moment after the client does: counting at once saw it as a leak.
    """
    deadline = time.monotonic() + timeout_s
    while (count := open_fd_count(pid)) > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    return count


def run_soak(
    base_url: str, port: int, pid: int, media_dir: Path, seek_file: str, download_file: str,
    *, duration_s: float, sample_s: float, slow_clients: int = SLOW_CLIENTS, progress: bool = False,
) -> SoakResult:  # fmt: skip
    """Run the mixed load against a server already serving ``media_dir``; ``pid`` is its process."""
    seek_content = (media_dir / seek_file).read_bytes()
    digest = hashlib.sha256((media_dir / download_file).read_bytes()).hexdigest()
    targets = [(f"/media/{seek_file}", len(seek_content)), (f"/media/{download_file}", (media_dir / download_file).stat().st_size)]
    fds_before, before = open_fd_count(pid), runtime(port)
    counts, stop = Counts(), threading.Event()
    threads = [
        threading.Thread(target=seeker, args=(base_url, seek_file, seek_content, stop, counts, 1)),
        threading.Thread(target=seeker, args=(base_url, seek_file, seek_content, stop, counts, 2)),
        threading.Thread(target=downloader, args=(base_url, download_file, digest, stop, counts)),
        threading.Thread(target=aborter, args=(port, targets, stop, counts)),
    ]
    slow = subprocess.Popen(
        [sys.executable, "-m", "bench.slow_clients", "--port", str(port), "--path", f"/media/{seek_file}",
         "--clients", str(slow_clients), "--rate", str(SLOW_RATE_BPS), "--duration", str(duration_s)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO, text=True,
    )  # fmt: skip
    samples: list[tuple[float, float, int]] = []
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        while (elapsed := time.monotonic() - started) < duration_s:
            samples.append((elapsed, rss_mib(pid), open_fd_count(pid)))
            if progress:
                print(f"  {elapsed:6.0f} s  RSS {samples[-1][1]:6.1f} MiB  fds {samples[-1][2]:5d}  "
                      f"seeks {counts.seeks}  downloads {counts.downloads}  aborts {counts.aborts}", file=sys.stderr)  # fmt: skip
            time.sleep(sample_s)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        try:
            slow_totals, _ = slow.communicate(timeout=60)
        finally:
            stop_process(slow)
    seconds = time.monotonic() - started
    settled(port, before, timeout_s=10)  # every stream ended, no task left over: then count
    fds_after = fds_settled(pid, fds_before)
    steady = [s for s in samples if s[0] >= WARM_UP_FRACTION * duration_s] or samples
    return SoakResult(
        seconds=seconds,
        counts=counts,
        samples=samples,
        rss_slope_mib_per_min=slope_per_minute([(t, rss) for t, rss, _ in steady]),
        fds_slope_per_min=slope_per_minute([(t, float(fds)) for t, _, fds in steady]),
        rss_first_mib=steady[0][1],
        rss_last_mib=steady[-1][1],
        fds_before=fds_before,
        fds_after=fds_after,
        slow_clients=slow_totals.strip().splitlines()[-1] if slow_totals.strip() else "",
    )
