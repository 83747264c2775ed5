"""Shared fixtures: a media tree on disk, and real uvicorn servers on 127.0.0.1.

``server`` is parametrized over the two endpoint forms, so every HTTP test runs
against ``io=sync`` and ``io=async``. Servers run in a thread of the test
process (a real socket and a real uvicorn), so a test can watch or slow down
what the server does; ``spawn_server`` starts one as its own process instead.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from streamer import LagMonitor, Settings, create_app
from streamer.server.cli import proxy_options, set_send_buffer
from streamer.server.protocol import StreamerHttpToolsProtocol
from streamer.sources.file import FileSource

# Nothing the suite does touches the user's own folders: keys and caches live in a temporary home.
SUITE_HOME = tempfile.mkdtemp(prefix="streamer-suite-")
atexit.register(shutil.rmtree, SUITE_HOME, True)
os.environ["XDG_CONFIG_HOME"] = os.path.join(SUITE_HOME, "config")
os.environ["XDG_CACHE_HOME"] = os.path.join(SUITE_HOME, "cache")

BIG_SIZE = 8 * 1024 * 1024 + 12345  # several chunks, not a multiple of any chunk size
SMALL_SIZE = 1000
REPO = Path(__file__).resolve().parent.parent
# Cached open files close this long after their last use: short, so that a test can see every
# descriptor come back soon after its requests, with the cache in the path as in production.
OPEN_FILE_IDLE_S = 0.2
GRACE_EXCEEDED = "CancelledError: Task cancelled, timeout graceful shutdown exceeded"


def require_program(name: str, package: str) -> None:
    """Skip when a real client program is missing, except in CI, where that is a failure."""
    if shutil.which(name) is None:
        message = f"{name} is not installed ({package})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture(scope="session", autouse=True)
def tmp_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every server of the suite, in this process or spawned, keeps its cache in a temporary folder."""
    home = tmp_path_factory.mktemp("cache-home")
    saved = {name: os.environ.get(name) for name in ("XDG_CACHE_HOME", "STREAMER_CACHE_DIR")}
    os.environ["XDG_CACHE_HOME"] = str(home)
    os.environ.pop("STREAMER_CACHE_DIR", None)
    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("media")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_bytes(b"outside the root")
    (root / "big.bin").write_bytes(payload(BIG_SIZE, 1))
    (root / "small.bin").write_bytes(payload(SMALL_SIZE, 2))
    (root / "empty.bin").write_bytes(b"")
    (root / "clip.mp4").write_bytes(payload(50_000, 3))
    (root / "page.html").write_bytes(b"<script>alert(1)</script>")
    (root / "naïve café.mp4").write_bytes(payload(100, 4))
    (root / "sub").mkdir()
    (root / "sub" / "nested.webm").write_bytes(payload(3000, 5))
    (root / ".hidden").write_bytes(b"dotfile")
    (root / ".secret").mkdir()
    (root / ".secret" / "key.bin").write_bytes(b"dot-directory")
    (root / "escape.bin").symlink_to(outside / "secret.txt")
    (root / "escape-dir").symlink_to(outside, target_is_directory=True)
    (root / "to-hidden.bin").symlink_to(root / ".secret" / "key.bin")
    (root / "alias.bin").symlink_to(root / "small.bin")
    (root / "dir.mp4").mkdir()
    os.mkfifo(root / "pipe.mp4")
    return root


@dataclass
class ServerThread:
    """A real uvicorn server on 127.0.0.1 in a thread of this process."""

    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def io(self) -> str:
        return self.settings.io

    @property
    def sendfile(self) -> bool:
        """Whether /media bodies go by zerocopysend (sendfile), not copied through Python."""
        return self.settings.sendfile == "on"

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, **kwargs)  # type: ignore[arg-type]

    def app_lag(self) -> LagMonitor:
        return self.server.config.app.state.lag  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "server thread did not stop"


def start_server(settings: Settings, **config: Any) -> ServerThread:
    """The app for ``settings`` under uvicorn in a thread; ``config``: more uvicorn options (``http``, ``ssl_*``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    set_send_buffer(sock, settings.send_buffer)
    sock.bind(("127.0.0.1", 0))
    uv_config = uvicorn.Config(
        create_app(settings),
        log_level="warning",
        timeout_graceful_shutdown=settings.shutdown_grace,
        **{"http": StreamerHttpToolsProtocol, **proxy_options(settings), **config},
    )
    server = uvicorn.Server(uv_config)

    def run() -> None:
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"uvicorn-{settings.io}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    return ServerThread(settings, server, thread, sock.getsockname()[1])


@pytest.fixture
def file_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """``(offset, length)`` of every read of a media file, in a thread or from the page cache; with sendfile,
    ``(offset, bytes sent)`` of every ``sendfile`` that sent something."""
    reads: list[tuple[int, int]] = []
    read_at, read_cached = FileSource.read_at, FileSource.read_cached
    send_at, send_cached = FileSource.send_at, FileSource.send_cached

    def counted(send: Callable[..., int | None]) -> Callable[..., int | None]:
        def counted_send(self: FileSource, out_fd: int, offset: int, count: int) -> int | None:
            entry = [(offset, count)]
            reads.extend(entry)  # before the bytes leave: the client may have them before sendfile returns
            try:
                sent = send(self, out_fd, offset, count)
            except BaseException:
                sent = None
                raise
            finally:
                if not sent:
                    reads.remove(entry[0])
                elif sent != count:
                    reads[reads.index(entry[0])] = (offset, sent)
            return sent

        return counted_send

    def counted_read_at(self: FileSource, offset: int, length: int) -> bytes:
        data = read_at(self, offset, length)
        reads.append((offset, length))
        return data

    def counted_read_cached(self: FileSource, offset: int, length: int) -> bytes | None:
        data = read_cached(self, offset, length)
        if data is not None:
            reads.append((offset, length))
        return data

    monkeypatch.setattr(FileSource, "read_at", counted_read_at)
    monkeypatch.setattr(FileSource, "read_cached", counted_read_cached)
    monkeypatch.setattr(FileSource, "send_at", counted(send_at))
    monkeypatch.setattr(FileSource, "send_cached", counted(send_cached))
    yield reads


@pytest.fixture
def cold_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if no media file were in the page cache: every read (and sendfile) goes to a worker thread."""
    monkeypatch.setattr(FileSource, "read_cached", lambda self, offset, length: None)
    monkeypatch.setattr(FileSource, "send_cached", lambda self, out_fd, offset, count: None)


FORMS = ["sync", "async", "sendfile"]  # how /media bodies go: def generator, async generator, zerocopysend


def front_door(form: str) -> str:
    """The sync form runs with the front door off (FastAPI routes /media), the others with it on (the default):
    so every test of the ``server`` fixtures sees the planned routes answered both ways."""
    return "off" if form == "sync" else "on"


def form_args(form: str) -> list[str]:
    """``streamer serve`` options for one of ``FORMS``."""
    io, sendfile = ("async", "on") if form == "sendfile" else (form, "off")
    return ["--io", io, "--sendfile", sendfile, "--front-door", front_door(form)]


def settings_for(media_root: Path, form: str) -> Settings:
    """Test settings for one form: ``sync`` and ``async`` copy every body; ``sendfile`` is async with sendfile on.
    ``sync`` is also the form with the front door off (``front_door``)."""
    io, sendfile = ("async", "on") if form == "sendfile" else (form, "off")
    return Settings(  # type: ignore[arg-type]
        media_dir=media_root, io=io, sendfile=sendfile, front_door=front_door(form), chunk_size=64 * 1024, open_file_idle=OPEN_FILE_IDLE_S, cache_dir=media_root.parent / "cache",
        cors_origins=("*",),  # CORS is off by default; the HTTP tests check it on
    )


@pytest.fixture(scope="session", params=FORMS)
def server(request: pytest.FixtureRequest, media_root: Path) -> Iterator[ServerThread]:
    running = start_server(settings_for(media_root, request.param))
    yield running
    running.stop()


@pytest.fixture(params=FORMS)
def server_factory(request: pytest.FixtureRequest, media_root: Path) -> Iterator[object]:
    """Start servers with custom settings (io form from the parameter); all stopped afterwards."""
    started: list[ServerThread] = []

    def factory(**overrides: object) -> ServerThread:
        base = settings_for(media_root, request.param)
        running = start_server(replace(base, **overrides))  # type: ignore[arg-type]
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def fd_targets(pid: int | str = "self", under: Path | str = "") -> list[str]:
    """What a process's descriptors name (those starting with ``under``); one closed while listed is skipped."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed since the listing, the listing's own descriptor among them
            continue
        if target.startswith(str(under)):
            targets.append(target)
    return targets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path  # stdout and stderr: a file, never a pipe nobody reads (a full pipe blocks the server)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def open_fds(self, under: Path | str = "") -> list[str]:
        return fd_targets(self.process.pid, under)


@pytest.fixture
def spawn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Start ``python -m streamer serve`` as a separate process; stopped and checked afterwards."""
    spawned: list[ServerProcess] = []

    def spawn(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        port = free_port()
        log = tmp_path_factory.mktemp("server-log") / "output.txt"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-X", "dev", "-m", "streamer", "serve", "--open-file-idle", str(OPEN_FILE_IDLE_S), *args,
                 "--port", str(port)],
                env={**os.environ, **(env or {})},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        running = ServerProcess(process, port, log)
        spawned.append(running)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert process.poll() is None, running.output()
            try:
                if httpx.get(running.base_url + "/healthz", timeout=1).text == "ok":
                    return running
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("server process did not start")

    yield spawn
    for running in spawned:
        running.process.terminate()
        running.process.wait(timeout=30)
        output = running.output()
        assert "ResourceWarning" not in output, output
        # uvicorn logs every stream it cancels at the end of the shutdown grace period with a traceback.
        assert output.count("Traceback") == output.count(GRACE_EXCEEDED), output


@pytest.fixture(scope="session")
def thumb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Photos in every format, a video, audio with and without cover art, and hostile files."""
    require_program("ffmpeg", "Debian: ffmpeg")
    from tests.thumb_media import make_thumb_media

    return make_thumb_media(tmp_path_factory.mktemp("thumb-media"))
