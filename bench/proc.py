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
