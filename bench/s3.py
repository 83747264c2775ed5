"""streamer over object storage, against the store itself, in the same run (issue 13's figures).

Starts SeaweedFS, two streamer replicas and nginx (deploy/nginx.conf) like ``bench.cluster``,
plus two references: nginx proxying the store directly (no cache) and nginx serving the same
file from disk. Then, each metric over every system in rotated order, medians of ``--rounds``:

- (a) one stream of the whole object (curl): store's own GET, nginx->store, streamer;
- (b) random 256 KiB ranges at 16 connections (wrk + range.lua): the same three;
- (c) random 256 KiB ranges through nginx's warm slice cache vs nginx serving the file from disk;
- (d) 32 concurrent streams on one replica: its peak RSS (VmHWM) and most TCP connections to the store.

(b) and (c) also report each serving process's CPU time per request (user+system, from
/proc; nginx's worker, SeaweedFS's whole process): a shared machine moves req/s a lot
and CPU per request little, so that is the figure to compare across runs.

Usage: python -m bench.s3 [--size-mib 1024] [--seconds 6] [--rounds 3] [--json PATH] [--smoke]
Clients are pinned to CPU 1 (bench.load); the servers share the machine. Note the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import obstore

from bench.cost import cpu_seconds
from bench.load import RANGE_SCRIPT, curl_download_speed, run_wrk
from bench.proc import child_pids, peak_rss_mib, reset_peak_rss
from bench.s3stack import BUCKET, PREFIX, bucket_store, deploy_conf, nginx, replica, seaweedfs
from bench.servers import HOST, free_port, write_nginx_conf

RANGE_BYTES = 256 * 1024
RANGE_CONNECTIONS = 16
STREAMS = 32
PIECE = 64 << 20  # upload and write the object in pieces, never all of it in memory
KEY = "bench.bin"


def store_connections(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` to ``port`` on 127.0.0.1."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    rows = [line.split() for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for r in rows if r[3] == "01" and int(r[2].split(":")[1], 16) == port and r[9] in inodes)


def make_object(path: Path, endpoint: str, size: int) -> None:
    """The same random bytes on disk (for nginx) and in the bucket (multipart, piece by piece)."""
    store = bucket_store(endpoint)
    with path.open("wb") as out:
        while out.tell() < size:
            out.write(os.urandom(min(PIECE, size - out.tell())))
    with path.open("rb") as data:
        obstore.put(store, f"{PREFIX}/{KEY}", iter(lambda: data.read(PIECE), b""), chunk_size=PIECE)


def proxy_conf(store: str, port: int, tmp: Path) -> str:
    """nginx proxying /media/KEY to the store's own GET of media/lib/KEY: no cache, keep-alive."""
    return f"""worker_processes 1;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    upstream store {{ server {store.removeprefix("http://")}; keepalive 32; }}
    server {{
        listen {HOST}:{port};
        location /media/ {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://store/{BUCKET}/{PREFIX}/;
        }}
        location / {{ return 200 "ok"; }}
    }}
}}
"""


def rotated_medians(systems: dict[str, str], rounds: int, measure) -> dict[str, float]:  # type: ignore[no-untyped-def]
    names = list(systems)
    values: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            values[name].append(measure(systems[name]))
    return {name: statistics.median(v) for name, v in values.items()}


def serving_pid(process: subprocess.Popen[bytes]) -> int:
    """The process that answers: nginx's one worker, else the process itself."""
    children = child_pids(process.pid)
    return children[0] if children and Path(f"/proc/{children[0]}/comm").read_text().strip() == "nginx" else process.pid


def ranges_with_cost(systems: dict[str, tuple[str, int]], rounds: int, size: int,
                     seconds: float) -> tuple[dict[str, float], dict[str, float]]:
    """Random 256 KiB ranges on each system: (median req/s, median server CPU microseconds per request)."""
    cost: dict[str, list[float]] = {name: [] for name in systems}

    def measure(name: str) -> float:
        url, pid = systems[name]
        before = cpu_seconds(pid)
        rate, requests = _ranges(url, size, seconds)
        cost[name].append((cpu_seconds(pid) - before) / max(requests, 1) * 1e6)
        return rate

    rates = rotated_medians({name: name for name in systems}, rounds, measure)
    return rates, {name: statistics.median(v) for name, v in cost.items()}


def peak_under_streams(url: str, pid: int, store_port: int, seconds: float) -> dict[str, float]:
    """wrk -c32 downloading the object from one replica; its peak RSS and most store connections meanwhile."""
    reset_peak_rss(pid)
    most, done = 0, threading.Event()

    def sample() -> None:
        nonlocal most
        while not done.is_set():
            most = max(most, store_connections(pid, store_port))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = run_wrk(url, STREAMS, seconds)
    finally:
        done.set()
        sampler.join()
    idle_after = store_connections(pid, store_port)
    return {"peak_rss_mib": peak_rss_mib(pid), "store_connections_max": most, "store_connections_after": idle_after,
            "MBps": result.transfer_Bps / 1e6}


def run(size: int, seconds: float, rounds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="streamer-bench-s3-") as name, ExitStack() as stack:
        tmp = Path(name)
        store, weed = stack.enter_context(seaweedfs(tmp / "seaweedfs"))  # weed: the process that answers
        (tmp / "data").mkdir()
        make_object(tmp / "data" / KEY, store, size)
        replicas = [stack.enter_context(replica(store, tmp, f"replica{i}")) for i in range(2)]
        front, front_nginx = stack.enter_context(nginx(deploy_conf([u for u, _ in replicas], free_port(), tmp / "cache"), tmp, "front"))
        proxy, proxy_nginx = stack.enter_context(nginx(proxy_conf(store, free_port(), tmp), tmp, "proxy"))
        disk_port = free_port()
        (tmp / "disk").mkdir()
        disk, disk_nginx = stack.enter_context(nginx(write_nginx_conf(tmp / "disk", tmp / "data", disk_port).read_text(), tmp, "disk"))
        streamer_url, streamer_process = replicas[0]
        urls = {"store": f"{store}/{BUCKET}/{PREFIX}/{KEY}", "nginx->store": f"{proxy}/media/{KEY}",
                "streamer": f"{streamer_url}/media/{KEY}"}
        one = rotated_medians(urls, rounds, lambda u: curl_download_speed(u, size) / 1e6)
        pids = {"store": weed.pid, "nginx->store": serving_pid(proxy_nginx), "streamer": streamer_process.pid}
        ranged, ranged_cost = ranges_with_cost({n: (u, pids[n]) for n, u in urls.items()}, rounds, size, seconds)
        curl_download_speed(f"{front}/media/{KEY}", size)  # every slice into nginx's cache
        cached = {"nginx slice cache": (f"{front}/media/{KEY}", serving_pid(front_nginx)),
                  "nginx from disk": (f"{disk}/media/{KEY}", serving_pid(disk_nginx))}
        warm, warm_cost = ranges_with_cost(cached, rounds, size, seconds)
        streams = peak_under_streams(urls["streamer"], streamer_process.pid, int(store.rsplit(":", 1)[1]), seconds)
    return {
        "size_bytes": size, "seconds": seconds, "rounds": rounds, "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "a_one_stream_MBps": one, "b_ranges_16_rps": ranged, "c_cached_ranges_16_rps": warm, "d_32_streams": streams,
        "b_cpu_us_per_request": ranged_cost, "c_cpu_us_per_request": warm_cost,
        "ratios": {
            "a streamer/store": one["streamer"] / one["store"], "a streamer/nginx->store": one["streamer"] / one["nginx->store"],
            "b streamer/store": ranged["streamer"] / ranged["store"],
            "b streamer/nginx->store": ranged["streamer"] / ranged["nginx->store"],
            "c slice cache/disk": warm["nginx slice cache"] / warm["nginx from disk"],
            "c CPU per request, disk/slice cache": warm_cost["nginx from disk"] / warm_cost["nginx slice cache"],
        },
    }


def _ranges(url: str, size: int, seconds: float) -> tuple[float, int]:
    """(req/s, requests) of random 256 KiB ranges at 16 connections."""
    result = run_wrk(url, RANGE_CONNECTIONS, seconds, script=RANGE_SCRIPT, script_args=(str(size), str(RANGE_BYTES)))
    if result.non_2xx_3xx or result.socket_errors:
        raise SystemExit(f"{url}: {result.non_2xx_3xx} bad answers, {result.socket_errors} socket errors")
    return result.requests_per_s, result.requests


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.s3", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--smoke", action="store_true", help="32 MiB, 1 s, one round: checks that it all runs")
    args = parser.parse_args(argv)
    size, seconds, rounds = (32 << 20, 1, 1) if args.smoke else (args.size_mib << 20, args.seconds, args.rounds)
    figures = run(size, seconds, rounds)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
