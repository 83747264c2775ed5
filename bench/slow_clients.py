"""Slow clients for (g): many connections, each reading one download at a paced rate.

``python -m bench.slow_clients --port P --path /media/x --clients N --rate B --duration S``
opens N raw sockets to 127.0.0.1 (a small receive buffer each, so the server feels
the slowness at once), sends one GET on each, and reads about B bytes/s per
connection until S seconds have passed. It prints ``ready <connected>`` once every
connection has been tried, then one JSON line of totals. It stops by itself:
every read is bounded by the deadline, and the whole run by ``duration + GRACE_S``.
The client's speed does not matter here (N x B is a few MB/s), so Python will do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import socket
import sys
from dataclasses import asdict, dataclass

HOST = "127.0.0.1"
RECEIVE_BUFFER_BYTES = 64 * 1024  # fixed SO_RCVBUF: no loopback autotuning to megabytes per socket
TICK_S = 0.25  # one read per tick and connection at most
CONNECT_BATCH = 100  # connections opened before pausing ...
CONNECT_PAUSE_S = 0.05  # ... this long, so the accept queue never overflows
CONNECT_TIMEOUT_S = 10.0
GRACE_S = 15.0
FD_HEADROOM = 64


@dataclass
class Totals:
    clients: int = 0
    connected: int = 0
    streaming_at_end: int = 0  # connections still receiving when the time was up
    closed_early: int = 0  # the server ended the response or the connection
    errors: int = 0
    bytes_received: int = 0


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(needed, soft), hard), hard))


def request_bytes(port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: bench-slow-client\r\n\r\n".encode("ascii")


async def open_slow_socket(loop: asyncio.AbstractEventLoop, port: int, request: bytes) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        sock.setblocking(False)
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await loop.sock_connect(sock, (HOST, port))
            await loop.sock_sendall(sock, request)
    except BaseException:
        sock.close()
        raise
    return sock


async def read_paced(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, rate_Bps: int, deadline: float, totals: Totals
) -> None:
    """Read at most ``rate_Bps`` on average until the deadline or the end of the response."""
    per_read = max(1, int(rate_Bps * TICK_S))
    next_read = loop.time() + random.uniform(0, TICK_S)  # clients out of step, as real ones are
    await asyncio.sleep(next_read - loop.time())
    while (left := deadline - loop.time()) > 0:
        try:
            async with asyncio.timeout(left):
                data = await loop.sock_recv(sock, per_read)
        except TimeoutError:
            break
        if not data:
            totals.closed_early += 1
            return
        totals.bytes_received += len(data)
        next_read += len(data) / rate_Bps
        await asyncio.sleep(max(0.0, min(next_read, deadline) - loop.time()))
    totals.streaming_at_end += 1


async def slow_client(port: int, request: bytes, rate_Bps: int, deadline: float, totals: Totals) -> None:
    loop = asyncio.get_running_loop()
    try:
        sock = await open_slow_socket(loop, port, request)
    except (OSError, TimeoutError):
        totals.errors += 1
        return
    totals.connected += 1
    try:
        await read_paced(loop, sock, rate_Bps, deadline, totals)
    except OSError:
        totals.errors += 1
    finally:
        sock.close()


async def run_slow_clients(port: int, path: str, clients: int, rate_Bps: int, duration_s: float) -> Totals:
    loop = asyncio.get_running_loop()
    totals = Totals(clients=clients)
    request = request_bytes(port, path)
    deadline = loop.time() + duration_s
    tasks = []
    async with asyncio.timeout(duration_s + GRACE_S):
        for index in range(clients):
            if index and index % CONNECT_BATCH == 0:
                await asyncio.sleep(CONNECT_PAUSE_S)
            tasks.append(asyncio.create_task(slow_client(port, request, rate_Bps, deadline, totals)))
        while totals.connected + totals.errors < clients and loop.time() < deadline:
            await asyncio.sleep(TICK_S / 5)
        print(f"ready {totals.connected}", flush=True)
        await asyncio.gather(*tasks)
    return totals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--rate", type=int, required=True, help="bytes per second per connection")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    args = parser.parse_args(argv)
    raise_fd_limit(args.clients + FD_HEADROOM)
    totals = asyncio.run(run_slow_clients(args.port, args.path, args.clients, args.rate, args.duration))
    json.dump(asdict(totals), sys.stdout)
    print(flush=True)


if __name__ == "__main__":
    main()
