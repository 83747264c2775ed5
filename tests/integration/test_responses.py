"""MediaResponse on its own: it closes the iterator it streams, starts nothing for HEAD,
and bounds every send, the last one included, by the stall timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from streamer import MediaResponse
from tests.conftest import ServerThread, fd_targets
from tests.integration.test_resources import abort, start_download, wait_until
from tests.integration.test_servers import serve_app

CHUNK = b"x" * 65536


class Watch:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.closed = threading.Event()
        self.closed_on: int | None = None

    def close(self) -> None:
        self.closed_on = threading.get_ident()
        self.closed.set()


def endless_app(watch: Watch) -> FastAPI:
    app = FastAPI()

    def endless() -> Iterator[bytes]:
        watch.started.set()
        try:
            while True:
                yield CHUNK
        finally:
            watch.close()

    @app.get("/sync", response_class=MediaResponse)
    def sync_endpoint() -> Iterator[bytes]:
        yield from endless()

    @app.head("/sync", response_class=MediaResponse)
    def sync_head() -> Iterator[bytes]:
        yield from endless()

    @app.get("/async", response_class=MediaResponse)
    async def async_endpoint() -> AsyncIterator[bytes]:
        watch.started.set()
        try:
            while True:
                yield CHUNK
        finally:
            watch.close()

    return app


@pytest.mark.parametrize("form", ["sync", "async"])
def test_disconnect_closes_the_streamed_generator_promptly(form: str) -> None:
    watch = Watch()
    with serve_app(endless_app(watch)) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        sock = start_download(port, f"/{form}")
        sock.recv(65536)
        assert watch.started.wait(timeout=1.0)
        abort(sock, reset=False)
        assert watch.closed.wait(timeout=1.0), "the endpoint's generator was left to the garbage collector"
    assert watch.closed_on != threading.main_thread().ident


def test_sync_generator_is_closed_on_a_worker_thread_not_the_loop() -> None:
    watch = Watch()
    app = endless_app(watch)
    loop_thread: list[int] = []

    @app.get("/where")
    async def where() -> dict[str, int]:
        loop_thread.append(threading.get_ident())
        return {}

    with serve_app(app) as base_url:
        httpx.get(base_url + "/where")
        sock = start_download(int(base_url.rsplit(":", 1)[1]), "/sync")
        sock.recv(65536)
        abort(sock, reset=True)
        assert watch.closed.wait(timeout=1.0)
    assert watch.closed_on not in loop_thread


def test_head_never_starts_the_generator() -> None:
    watch = Watch()
    with serve_app(endless_app(watch)) as base_url:
        response = httpx.head(base_url + "/sync", timeout=5)
    assert response.status_code == 200 and response.content == b""
    assert not watch.started.is_set()


def test_the_final_send_is_bounded_by_the_stall_timeout_too(server_factory, caplog: pytest.LogCaptureFixture) -> None:
    # One 16 MiB chunk holds the whole file: the only send that can wait is the last, empty one.
    running: ServerThread = server_factory(chunk_size=16 * 1024 * 1024, stall_timeout=1.0)
    sock = start_download(running.port, "/media/big.bin", rcvbuf=4096)
    try:
        assert wait_until(lambda: "aborting stream of /media/big.bin" in caplog.text, timeout=4.0), "never cut"
    finally:
        sock.close()


def test_a_disconnect_stops_the_reads(server_factory, tmp_path: Path, file_reads: list[tuple[int, int]]) -> None:
    reads = file_reads
    with (tmp_path / "huge.bin").open("wb") as f:
        f.truncate(4 * 1024**3)  # sparse 4 GiB: reading it all would take far longer than this test
    running = server_factory(media_dir=tmp_path)
    sock = start_download(running.port, "/media/huge.bin")
    sock.recv(65536)
    abort(sock, reset=True)
    assert wait_until(lambda: not fd_targets(under=tmp_path), timeout=1.0)
    count = len(reads)
    time.sleep(0.3)
    assert len(reads) == count, "reads went on after the client left"
    assert sum(length for _, length in reads) < 256 * 1024 * 1024


class RecordingObserver:
    def __init__(self) -> None:
        self.events: list[str] = []

    def started(self) -> None:
        self.events.append("started")

    def ended(self, outcome: str) -> None:
        self.events.append(f"ended:{outcome}")


@pytest.mark.parametrize(
    ("method", "slots_free", "expected"),
    [
        pytest.param("GET", True, ["started", "ended:stalled"], id="a-stalled-stream-is-told-started-and-stalled"),
        pytest.param("GET", False, [], id="a-stalled-503-refusal-is-no-stream"),
        pytest.param("HEAD", True, [], id="a-stalled-head-is-no-stream"),
    ],
)
def test_the_observer_hears_of_a_stream_only_if_one_started(method: str, slots_free: bool, expected: list[str]) -> None:
    """A send that never returns (a client whose window stays shut) is cut at the stall timeout either way;
    only a body stream that started is reported, so the streams gauge cannot go below zero."""
    import anyio

    from streamer.web.responses import OBSERVER_KEY, SLOTS_KEY, STALL_TIMEOUT_KEY, StreamSlots

    observer = RecordingObserver()
    slots = StreamSlots(1)
    if not slots_free:
        assert slots.try_acquire()
    scope = {"type": "http", "method": method, "path": "/x", "headers": [],
             STALL_TIMEOUT_KEY: 0.1, OBSERVER_KEY: observer, SLOTS_KEY: slots}  # fmt: skip

    async def receive() -> dict[str, str]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, object]) -> None:
        await anyio.sleep_forever()

    async def main() -> None:
        with anyio.fail_after(2):
            await MediaResponse(b"body")(scope, receive, send)

    anyio.run(main)
    assert observer.events == expected
    assert slots.in_use == (0 if slots_free else 1)


def server_connections(port: int) -> int:
    """Connections whose local end is ``port``, other than the listener, from /proc/net/tcp."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if int(row[1].split(":")[1], 16) == port and row[3] != "0A")


def test_a_stalled_connection_is_dropped_at_the_stall_timeout(server_factory, caplog: pytest.LogCaptureFixture) -> None:
    running: ServerThread = server_factory(chunk_size=64 * 1024, stall_timeout=1.0)
    sock = start_download(running.port, "/media/big.bin", rcvbuf=4096)
    try:
        assert wait_until(lambda: "aborting stream of /media/big.bin to 127.0.0.1:" in caplog.text, timeout=4.0)
        assert wait_until(lambda: server_connections(running.port) == 0, timeout=1.0), "the connection lingers"
        sock.settimeout(2.0)
        with pytest.raises(ConnectionResetError):  # a reset, after what the client's buffer already held
            while sock.recv(1 << 20):
                pass
    finally:
        sock.close()
    warnings = [r for r in caplog.records if "aborting stream" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    assert "ASGI callable returned without completing" not in caplog.text
