"""Processes: what /proc says about a server (memory, descriptors, children), and stopping them.

Memory figures are read from ``/proc/PID/status`` in KiB and returned in MiB;
the peak (VmHWM) is reset by writing 5 to ``/proc/PID/clear_refs``.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from pathlib import Path
from typing import Any

STOP_GRACE_S = 5.0
KIB_PER_MIB = 1024


def status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/PID/status``, e.g. ``VmHWM``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])
    raise LookupError(f"no {field} in /proc/{pid}/status")


def rss_mib(pid: int) -> float:
    return status_kib(pid, "VmRSS") / KIB_PER_MIB


def peak_rss_mib(pid: int) -> float:
    return status_kib(pid, "VmHWM") / KIB_PER_MIB


def reset_peak_rss(pid: int) -> None:
    """Start a new VmHWM measurement from the current RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def open_fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def raise_fd_limit() -> int:
    """Raise this process's soft descriptor limit to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def stop_process(process: subprocess.Popen[Any], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; always reaps the process."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


class TinyGet:
    """GETs on one keep-alive connection, written by hand: times the server, not a client library.

    httpx adds 1-5 ms per request on this machine (measured against this client on one server:
    /healthz p50 5.7 ms through httpx.AsyncClient, 1.0 ms here), which would swamp a 5 ms target.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        import socket

        self.host = host
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def get(self, path: str) -> tuple[int, bytes]:
        """Status and body of ``GET path`` (the answer must carry Content-Length)."""
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        while b"\r\n\r\n" not in self._buffer:
            self._receive()
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(int(v) for k, _, v in (line.partition(":") for line in lines[1:]) if k.lower() == "content-length")
        while len(self._buffer) < length:
            self._receive()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return int(lines[0].split()[1]), body

    def timed(self, path: str) -> float:
        """Seconds for one ``GET path`` that must answer 200."""
        import time

        started = time.perf_counter()
        status, body = self.get(path)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:200]!r}")
        return elapsed

    def _receive(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self._buffer += data

    def close(self) -> None:
        self.sock.close()
