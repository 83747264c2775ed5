"""``python -m bench.abuse``: the long versions of the abuse tests, with figures for the record.

``storm``: 10,000 downloads abandoned at random points (some with a reset), per io
form; then what the server still holds, against what it held before.
``soak``: 10 minutes of mixed load (seeks, whole downloads, aborts, 100 slow
clients) with RSS and descriptors sampled every 5 s; their slopes per minute.
(The 1,000 slow clients are scenario (g) of ``python -m bench``.)

Each run starts its own ``python -m streamer serve`` on a temporary folder of
random files and writes ``abuse-<what>.{md,json}`` to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import httpx

from bench.proc import raise_fd_limit, rss_mib, stop_process
from bench.servers import free_port
from bench.soak import run_soak
from bench.storm import plan_aborts, run_storm, runtime, settled

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
MiB = 1024 * 1024
READY_TIMEOUT_S = 20.0


@contextmanager
def streamer_process(media_dir: Path, io: str, log: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [sys.executable, "-m", "streamer", "serve", str(media_dir), "--io", io, "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen([*command, "--log-level", "warning"], stdout=output, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamer did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.05)
        yield port, process
    finally:
        stop_process(process)


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
        f.write(os.urandom(size % MiB))


def storm(aborts: int, ios: list[str], data: Path, logs: Path) -> dict[str, object]:
    write_random(data / "big.bin", 64 * MiB)
    write_random(data / "small.bin", 100 * 1024)
    targets = [
        ("/media/big.bin", 64 * MiB), ("/media/small.bin", 100 * 1024), ("/bytes/8388608?seed=3", 8 * MiB),
        ("/stream-bytes/8388608?chunk_size=65536", 0), ("/range/1048576", MiB), ("/media/big.bin?rate=4000000", 64 * MiB),
    ]  # fmt: skip
    figures: dict[str, object] = {}
    for io in ios:
        with streamer_process(data, io, logs / f"storm-{io}.log") as (port, process):
            run_storm(port, plan_aborts(500, targets, seed=1))  # warm up: pools and caches grow once
            before = settled(port, runtime(port))
            print(f"storm ({io}): {aborts} aborts ...", file=sys.stderr)
            result = run_storm(port, plan_aborts(aborts, targets, seed=2))
            after = settled(port, before)  # idle cached files close after --open-file-idle (10 s)
            media_fds = [t for t in (os.readlink(f"/proc/{process.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{process.pid}/fd")) if t.startswith(str(data))]  # fmt: skip
            check = httpx.get(f"http://127.0.0.1:{port}/media/small.bin", timeout=10)
            figures[io] = {
                "storm": asdict(result), "before": before, "after": after, "media_fds_after": len(media_fds),
                "correct_after": check.content == (data / "small.bin").read_bytes(),
            }  # fmt: skip
    return figures


def storm_markdown(aborts: int, figures: dict[str, object]) -> str:
    lines = [
        f"# Disconnect storm: {aborts:,} aborted downloads per io form", "",
        "`python -m bench.abuse storm` — before: after a 500-abort warm-up; after: once the server settled.", "",
        "| io | seconds | aborts | client errors | tasks before → after | threads | busy io threads | streams | fds | RSS MiB | media fds | correct after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for io, f in figures.items():
        assert isinstance(f, dict)
        b, a, s = f["before"], f["after"], f["storm"]
        lines.append(
            f"| {io} | {s['seconds']:.0f} | {s['aborts']:,} | {s['errors']} | {b['tasks']} → {a['tasks']} | "
            f"{b['threads']} → {a['threads']} | {a['io_threads_busy']} | {a['streams']} | {b['open_fds']} → {a['open_fds']} | "
            f"{b['rss_bytes'] / MiB:.1f} → {a['rss_bytes'] / MiB:.1f} | {f['media_fds_after']} | {f['correct_after']} |"
        )
    return "\n".join(lines) + "\n"


def soak(minutes: float, io: str, sample_s: float, data: Path, logs: Path) -> dict[str, object]:
    write_random(data / "seek.bin", 64 * MiB)
    write_random(data / "download.bin", 16 * MiB)
    with streamer_process(data, io, logs / f"soak-{io}.log") as (port, process):
        result = run_soak(
            f"http://127.0.0.1:{port}", port, process.pid, data, "seek.bin", "download.bin",
            duration_s=minutes * 60, sample_s=sample_s, progress=True,
        )  # fmt: skip
        rss_end = rss_mib(process.pid)
    figures = asdict(result)
    figures |= {"io": io, "minutes": minutes, "rss_end_mib": rss_end}
    return figures


def soak_markdown(f: dict[str, object]) -> str:
    counts = f["counts"]
    assert isinstance(counts, dict)
    return "\n".join([
        f"# Soak: {f['minutes']:g} minutes of mixed load, io={f['io']}", "",
        f"`python -m bench.abuse soak --minutes {f['minutes']:g} --io {f['io']}`", "",
        "| seeks | downloads | aborts | wrong answers | errors | RSS slope MiB/min | fds slope /min | RSS after warm-up → end MiB | fds before → after |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {counts['seeks']:,} | {counts['downloads']:,} | {counts['aborts']:,} | {counts['wrong_answers']} | {counts['errors']} | "
        f"{f['rss_slope_mib_per_min']:+.2f} | {f['fds_slope_per_min']:+.2f} | {f['rss_first_mib']:.1f} → {f['rss_last_mib']:.1f} | "
        f"{f['fds_before']} → {f['fds_after']} |",
        "", f"Slow clients: `{f['slow_clients']}`", "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.abuse", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    storm_parser = commands.add_parser("storm", help="a disconnect storm per io form")
    storm_parser.add_argument("--aborts", type=int, default=10_000)
    storm_parser.add_argument("--io", choices=["sync", "async", "both"], default="both")
    soak_parser = commands.add_parser("soak", help="mixed load with RSS and descriptors sampled")
    soak_parser.add_argument("--minutes", type=float, default=10.0)
    soak_parser.add_argument("--io", choices=["sync", "async"], default="async")
    soak_parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    raise_fd_limit()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="streamer-abuse-") as tmp:
        data, logs = Path(tmp) / "media", Path(tmp)  # the server's log outside the folder it serves
        data.mkdir()
        if args.command == "storm":
            ios = ["sync", "async"] if args.io == "both" else [args.io]
            figures = storm(args.aborts, ios, data, logs)
            text = storm_markdown(args.aborts, figures)
        else:
            figures = soak(args.minutes, args.io, args.sample, data, logs)
            text = soak_markdown(figures)
    (args.out / f"abuse-{args.command}.json").write_text(json.dumps(figures, indent=2) + "\n")
    (args.out / f"abuse-{args.command}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
