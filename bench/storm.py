"""Disconnect storms: many downloads, each abandoned at a random point, some with a reset.

A player aborts a request on every seek, and a flaky network drops connections
anywhere: half-way through the request line, before the headers, mid-body.
``plan_aborts`` draws such a storm from a seed (so a failure can be replayed)
and ``run_storm`` plays it with a few threads of raw blocking sockets. The
server is then asked what it still holds (``/debug/runtime``): the suite runs
1,000 aborts per io form, ``python -m bench.abuse storm`` 10,000.
"""

from __future__ import annotations

import json
import queue
import random
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

HOST = "127.0.0.1"
RECEIVE_BUFFER_BYTES = 64 * 1024
MAX_READ_BYTES = 2 * 1024 * 1024  # an abort happens within the first 2 MiB of a response
SOCKET_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Abort:
    """One request, and where its client gives up."""

    target: str  # path and query
    range: str | None
    send_bytes: int | None  # send only this much of the request (None: all of it)
    read_bytes: int  # then read this many bytes of the answer (0: none) ...
    reset: bool  # ... and close with an RST instead of a FIN

    def request(self) -> bytes:
        lines = [f"GET {self.target} HTTP/1.1", f"Host: {HOST}", "User-Agent: bench-storm", "Connection: close"]
        if self.range:
            lines.append(f"Range: {self.range}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        return data if self.send_bytes is None else data[: self.send_bytes]


def plan_aborts(count: int, targets: Sequence[tuple[str, int]], seed: int = 0) -> list[Abort]:
    """``count`` aborts over ``targets`` (path, size in bytes), drawn from ``seed``."""
    rng = random.Random(seed)
    aborts = []
    for _ in range(count):
        target, size = rng.choice(targets)
        byte_range = None
        if size and rng.random() < 0.5:  # a seek: from a random point, open-ended or not
            start = rng.randrange(size)
            byte_range = f"bytes={start}-" if rng.random() < 0.5 else f"bytes={start}-{rng.randrange(start, size)}"
        where = rng.random()
        send_bytes = rng.randrange(1, 20) if where < 0.05 else None  # gone before the request was whole
        read_bytes = 0 if where < 0.15 else rng.randrange(1, MAX_READ_BYTES)
        aborts.append(Abort(target, byte_range, send_bytes, read_bytes, reset=rng.random() < 0.5))
    return aborts


@dataclass
class StormResult:
    aborts: int = 0
    bytes_read: int = 0
    completed_first: int = 0  # answers that ended before the client meant to leave
    errors: int = 0  # connections refused or timed out: the server failed to keep up
    seconds: float = 0.0


def _play(port: int, abort: Abort, result: StormResult, lock: threading.Lock) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    read, ended, failed = 0, False, False
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        sock.settimeout(SOCKET_TIMEOUT_S)
        sock.connect((HOST, port))
        sock.sendall(abort.request())
        while read < abort.read_bytes:
            data = sock.recv(min(65536, abort.read_bytes - read))
            if not data:
                ended = True
                break
            read += len(data)
    except ConnectionResetError:
        ended = True
    except OSError:
        failed = True
    finally:
        if abort.reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    with lock:
        result.aborts += 1
        result.bytes_read += read
        result.completed_first += ended
        result.errors += failed


def run_storm(port: int, aborts: Sequence[Abort], concurrency: int = 8) -> StormResult:
    """Play every abort against 127.0.0.1:``port``, ``concurrency`` at a time."""
    result, lock = StormResult(), threading.Lock()
    work: queue.SimpleQueue[Abort | None] = queue.SimpleQueue()
    for abort in aborts:
        work.put(abort)

    def worker() -> None:
        while (abort := work.get()) is not None:
            _play(port, abort, result, lock)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, name=f"storm-{i}") for i in range(concurrency)]
    for thread in threads:
        work.put(None)
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    return result


def runtime(port: int) -> dict[str, int]:
    """What the server holds now, from its ``/debug/runtime``."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/debug/runtime", timeout=SOCKET_TIMEOUT_S) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def settled(port: int, baseline: dict[str, int], timeout_s: float = 15.0) -> dict[str, int]:
    """The server's runtime once nothing of the storm is left running, or after ``timeout_s``.

    Nothing left includes the open-file cache: idle files close ``--open-file-idle``
    (default 10 s) after their last use.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        now = runtime(port)
        quiet = now["streams"] == 0 and now["io_threads_busy"] == 0 and now["tasks"] <= baseline["tasks"]
        quiet = quiet and now.get("cached_files", 0) == 0
        if (quiet and now["open_fds"] <= baseline["open_fds"]) or time.monotonic() > deadline:
            return now
        time.sleep(0.05)
