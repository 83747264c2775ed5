"""``python -m bench``: the whole comparison from nothing. Wiring only.

Makes the data files, starts every server at once (each pinned to CPU 0), runs
the scenarios with clients pinned to CPU 1, and writes latest.{md,json,png}
(plus timestamped copies) to --out. Progress goes to stderr, the Markdown
table to stdout. Exit code 0 when every measurement ran (targets met or not),
1 when a measurement failed, 2 for bad options or a missing taskset.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from types import FrameType

from bench.chart import chart_available
from bench.config import BenchConfig, full_config, parse_scenarios, smoke_config, with_duration
from bench.data import prepare_data, remove_data
from bench.environment import BUSY_LOAD, environment
from bench.load import missing_tools
from bench.proc import raise_fd_limit
from bench.report import markdown, summarize, write_outputs
from bench.runner import Progress, run_all
from bench.scenarios import Context
from bench.servers import missing_systems, running_servers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark streamer against nginx and Starlette.")
    parser.add_argument("--smoke", action="store_true", help="about 1 s per scenario, 1 round, 10 MiB instead of 1 GiB")
    parser.add_argument("--rounds", type=int, help="rounds of every per-round scenario (default 3; smoke 1)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 6; smoke 1)")
    parser.add_argument("--only", type=parse_scenarios, help="scenarios to run, e.g. a,c,e (default all of a..h)")
    parser.add_argument("--slow-clients", type=int, help="clients in (g) (default 1000; smoke 20)")
    parser.add_argument("--slow-duration", type=float, help="seconds of (g) (default 30; smoke 2)")
    parser.add_argument("--out", type=Path, help="folder for the results (default bench/results)")
    parser.add_argument("--data-dir", type=Path, help="folder for the data files (default /tmp/streamer-bench-data)")
    parser.add_argument("--keep-data", action="store_true", help="keep the data files for the next run")
    return parser


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    config = smoke_config() if args.smoke else full_config()
    if args.duration is not None:
        config = with_duration(config, args.duration)
    overrides = {
        "rounds": args.rounds, "scenarios": args.only, "slow_clients": args.slow_clients,
        "slow_duration_s": args.slow_duration, "out_dir": args.out, "data_dir": args.data_dir,
    }  # fmt: skip
    config = replace(config, **{name: value for name, value in overrides.items() if value is not None})
    return replace(config, keep_data=args.keep_data)


def check_config(parser: argparse.ArgumentParser, config: BenchConfig) -> None:
    if config.rounds < 1 or config.wrk_duration_s < 1 or config.slow_clients < 1 or config.slow_duration_s < 1:
        parser.error("--rounds, --duration, --slow-clients and --slow-duration must be at least 1")


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every finally: servers and clients are stopped


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    config = config_from_args(parser.parse_args(argv))
    check_config(parser, config)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    raise_fd_limit()
    progress = Progress()
    tools, unavailable = missing_tools(), missing_systems()
    if "taskset" in tools:
        print(f"python -m bench: {tools['taskset']}; cannot pin servers and clients", file=sys.stderr)
        return 2
    for reason in tools.values():
        progress.line(f"NOTE: {reason}: the scenarios that need it are n/a")
    if not chart_available():
        progress.line("NOTE: matplotlib is not installed (pip install -e '.[bench]'): no PNG chart")
    for reason in unavailable.values():
        progress.line(f"NOTE: {reason}: it is not run, and there are no ratios to nginx")
    started, stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z"), time.strftime("%Y%m%d-%H%M%S")
    load_before = os.getloadavg()[0]
    if load_before > BUSY_LOAD:
        progress.line(f"NOTE: load average {load_before:.2f} before the run: something else is using the CPUs")
    files = prepare_data(config)
    progress.line(f"data ready in {files.folder} (page cache warm)")
    try:
        with tempfile.TemporaryDirectory(prefix="streamer-bench-") as tmp, running_servers(files.folder, Path(tmp)) as servers:
            progress.line("servers up: " + ", ".join(f"{name} :{server.port}" for name, server in servers.items()))
            results = run_all(servers, Context(config, files, tools), progress)
    finally:
        if not config.keep_data:
            remove_data(files)
    meta = {
        "started": started,
        "elapsed_s": progress.elapsed_s(),
        "command": shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)]),
        "config": {**asdict(config), "out_dir": str(config.out_dir), "data_dir": str(config.data_dir)},
        "missing_tools": tools,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "environment": environment(),
    }
    doc = summarize(results, config, unavailable, meta)
    written = write_outputs(doc, config.out_dir, stamp)
    print(markdown(doc))
    progress.line("wrote " + ", ".join(str(path) for path in written.values()))
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
