"""What the run ran on: program and package versions, CPU, and streamer's commit."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from bench.servers import REPO

PACKAGES = ("streamer", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "anyio", "aiofiles")
COMMAND_TIMEOUT_S = 10
BUSY_LOAD = 0.5  # a 1-minute load average above this before a run means another job shares the CPUs


def program_output(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return ""
    done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    return (done.stdout + done.stderr).strip()


def nginx_version() -> str | None:
    match = re.search(r"nginx/(\S+)", program_output(["nginx", "-v"]))
    return match.group(1) if match else None


def wrk_version() -> str | None:
    match = re.search(r"wrk (\S+)", program_output(["wrk", "-v"]))
    return match.group(1) if match else None


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def streamer_commit() -> str | None:
    """HEAD of the repository, with ``+dirty`` when streamer/ has uncommitted changes."""
    head = program_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    if not re.fullmatch(r"[0-9a-f]{4,40}", head):
        return None
    dirty = program_output(["git", "-C", str(REPO), "status", "--porcelain", "--", "streamer"])
    return head + ("+dirty" if dirty else "")


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if match:
            return match.group(1).strip()
    return platform.processor() or "unknown"


def environment() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "nginx": nginx_version(),
        "wrk": wrk_version(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "streamer_commit": streamer_commit(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
    }
