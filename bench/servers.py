"""The servers under test: start each on its own 127.0.0.1 port, pinned to CPU 0, and stop them.

Every system serves the data files at ``/media/<name>`` and answers ``/healthz``.
All of them run at once, each with one worker; ``running_servers`` stops every
process it started on the way out, whatever happened. A system whose program
is missing (nginx) is left out with a reason instead.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.proc import child_pids, stop_process
from bench.starlette_app import DATA_DIR_ENV

HOST = "127.0.0.1"
SERVER_CPU = 0
READY_TIMEOUT_S = 20.0
READY_POLL_S = 0.1
STREAMER_CHUNK = "256KiB"
REPO = Path(__file__).resolve().parent.parent
NGINX_TEMPLATE = Path(__file__).resolve().parent / "nginx.conf"
SYSTEMS = ("nginx", "streamer-async", "streamer-sync", "starlette")
STREAMER_SYSTEMS = ("streamer-async", "streamer-sync")
REFERENCE = "nginx"


class ServerStartError(RuntimeError):
    """A server exited or never answered /healthz."""


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def media_url(self, file: Path) -> str:
        return self.url(f"/media/{file.name}")

    @property
    def serving_pid(self) -> int:
        """The process that answers requests: nginx's worker, or the uvicorn process itself."""
        if self.name != "nginx":
            return self.process.pid
        children = child_pids(self.process.pid)
        if len(children) != 1:
            raise ServerStartError(f"nginx master {self.process.pid} has workers {children}, expected one")
        return children[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu), *command]


def streamer_command(io: str, data_dir: Path, port: int) -> list[str]:
    """The async form as served by default (file bodies by sendfile); the sync form copies every body,
    so one run compares the zero-copy path with the copying one."""
    return [
        sys.executable, "-m", "streamer", "serve", str(data_dir), "--host", HOST, "--port", str(port),
        "--io", io, "--chunk-size", STREAMER_CHUNK, "--log-level", "warning",
        "--sendfile", "on" if io == "async" else "off",
    ]  # fmt: skip


def starlette_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "bench.starlette_app:app", "--host", HOST, "--port", str(port),
        "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def nginx_user_directive() -> str:
    """Run nginx's worker as whoever runs the benchmark: as root, nginx would switch it to nobody,
    which cannot read data files in a private folder (pytest's tmp_path, for one)."""
    if os.geteuid() != 0:
        return ""  # not root: the worker keeps our user anyway, and a ``user`` line only draws a warning
    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"


def write_nginx_conf(tmp: Path, data_dir: Path, port: int) -> Path:
    text = NGINX_TEMPLATE.read_text()
    values = (("user", nginx_user_directive()), ("tmp", str(tmp)), ("data", str(data_dir)), ("port", str(port)))
    for name, value in values:
        text = text.replace("{{" + name + "}}", value)
    conf = tmp / "nginx.conf"
    conf.write_text(text)
    return conf


def nginx_command(conf: Path, tmp: Path) -> list[str]:
    return ["nginx", "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(conf), "-g", "daemon off;"]


def answers_healthz(server: Server) -> bool:
    try:
        with urllib.request.urlopen(server.url("/healthz"), timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_ready(server: Server, timeout_s: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerStartError(f"{server.name} exited with {server.process.returncode}:\n{tail(server.log)}")
        if answers_healthz(server):
            return
        time.sleep(READY_POLL_S)
    raise ServerStartError(f"{server.name} did not answer /healthz within {timeout_s} s:\n{tail(server.log)}")


def tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def start_server(name: str, command: list[str], port: int, tmp: Path, env: dict[str, str] | None = None) -> Server:
    log = tmp / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            pinned(command, SERVER_CPU), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=REPO, env={**os.environ, **(env or {})},
        )  # fmt: skip
    return Server(name, port, process, log)


def server_commands(data_dir: Path, tmp: Path) -> dict[str, tuple[list[str], int, dict[str, str]]]:
    ports = {name: free_port() for name in SYSTEMS}
    commands = {
        "streamer-async": (streamer_command("async", data_dir, ports["streamer-async"]), ports["streamer-async"], {}),
        "streamer-sync": (streamer_command("sync", data_dir, ports["streamer-sync"]), ports["streamer-sync"], {}),
        "starlette": (starlette_command(ports["starlette"]), ports["starlette"], {DATA_DIR_ENV: str(data_dir)}),
    }
    if shutil.which("nginx"):
        conf = write_nginx_conf(tmp, data_dir, ports["nginx"])
        commands["nginx"] = (nginx_command(conf, tmp), ports["nginx"], {})
    return commands


def missing_systems() -> dict[str, str]:
    """Systems that cannot run here, with the reason."""
    return {} if shutil.which("nginx") else {"nginx": "nginx is not installed (apt-get install nginx)"}


@contextmanager
def running_servers(data_dir: Path, tmp: Path) -> Iterator[dict[str, Server]]:
    """Every available system, started at once and ready; all stopped on exit."""
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        for name, (command, port, env) in server_commands(data_dir, tmp).items():
            server = start_server(name, command, port, tmp, env)
            stack.callback(stop_process, server.process)
            servers[name] = server
        for server in servers.values():
            wait_ready(server)
        yield {name: servers[name] for name in SYSTEMS if name in servers}
