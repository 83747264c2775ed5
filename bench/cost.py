"""CPU time per request: what each server spends on one answer, a figure a busy machine moves less than req/s.

``python -m bench.cost`` starts nginx, streamer with sendfile (the default) and streamer copying
(``--sendfile off``, async form), each pinned to CPU 0, drives each with wrk pinned to CPU 1 in
rotated rounds, and reads the serving process's user+system CPU time (``/proc/PID/stat``) around
every run: microseconds of CPU per request, medians over the rounds. Throughput on a shared
machine falls with whatever else runs; the CPU a request costs the server moves far less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.data import warm_page_cache
from bench.load import run_wrk
from bench.proc import stop_process
from bench.servers import (
    Server,
    free_port,
    nginx_command,
    start_server,
    streamer_command,
    wait_ready,
    write_nginx_conf,
)

RANGE_LUA = Path(__file__).resolve().parent / "range.lua"
RANGE_BYTES = 256 * 1024
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


# ``--ab``: the default server beside itself with one part of the request path as it was before
# (the front door off; that and uvicorn's proxy-header layer, as before issue 14's front door).
AB_VARIANTS = {
    "front-off": ["--front-door", "off"],
    "front-off-proxy": ["--front-door", "off", "--forwarded-allow-ips", "127.0.0.1"],
}


@contextmanager
def systems(data_dir: Path, tmp: Path, ab: bool = False) -> Iterator[dict[str, Server]]:
    commands = {
        "streamer-sendfile": streamer_command("async", data_dir, free_port()),
        **({} if ab else {"streamer-copy": [*streamer_command("async", data_dir, free_port())[:-2], "--sendfile", "off"]}),
        **({f"streamer-{name}": [*streamer_command("async", data_dir, free_port()), *extra]
            for name, extra in AB_VARIANTS.items()} if ab else {}),
    }
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        nginx_port = free_port()
        conf = write_nginx_conf(tmp, data_dir, nginx_port)
        servers["nginx"] = start_server("nginx", nginx_command(conf, tmp), nginx_port, tmp)
        for name, command in commands.items():
            servers[name] = start_server(name, command, int(command[command.index("--port") + 1]), tmp)
        for server in servers.values():
            stack.callback(stop_process, server.process)
        for server in servers.values():
            wait_ready(server)
        yield servers


def measure(server: Server, run: Callable[[Server], object]) -> tuple[float, float, float]:
    """``(microseconds of server CPU per request, requests per second, p99 ms)`` of one wrk run."""
    pid = server.serving_pid
    before = cpu_seconds(pid)
    result = run(server)
    used = cpu_seconds(pid) - before
    return used / max(result.requests, 1) * 1e6, result.requests_per_s, result.p99_ms or 0.0  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--ab", action="store_true", help="streamer-sendfile against " + ", ".join(AB_VARIANTS) + " (no streamer-copy)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/streamer-bench-data"))
    args = parser.parse_args(argv)
    big, small = args.data_dir / "1GiB.bin", args.data_dir / "100KiB.bin"  # made by python -m bench --keep-data
    for path in (big, small):
        warm_page_cache(path)
    scenarios: dict[str, Callable[[Server], object]] = {
        "(c) random 256 KiB ranges, 64 conns": lambda s: run_wrk(
            s.media_url(big), 64, args.duration, latency=True, script=RANGE_LUA, script_args=(str(big.stat().st_size), str(RANGE_BYTES))
        ),
        "(d) 100 KiB file, 64 conns": lambda s: run_wrk(s.media_url(small), 64, args.duration, latency=True),
    }
    with tempfile.TemporaryDirectory() as tmp, systems(args.data_dir, Path(tmp), args.ab) as servers:
        names = list(servers)
        samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for round_index in range(args.rounds):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for scenario, run in scenarios.items():
                for name in order:
                    samples.setdefault((scenario, name), []).append(measure(servers[name], run))
                    print(f"round {round_index + 1} {scenario} {name}: {samples[scenario, name][-1]}", file=sys.stderr)
    print("| scenario | system | server CPU per request | req/s | p99 |\n|---|---|---|---|---|")
    for scenario in scenarios:
        reference = statistics.median(us for us, _, _ in samples[scenario, "nginx"])
        for name in names:
            us, rate, p99 = (statistics.median(sample[i] for sample in samples[scenario, name]) for i in range(3))
            print(f"| {scenario} | {name} | {us:.0f} us ({us / reference:.1f}x nginx) | {rate:.0f} | {p99:.0f} ms |")
    print(f"\nload average after the run: {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
