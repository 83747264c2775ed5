"""The event loop is never blocked: no file-system call on its thread but reads the page cache
answers at once (``RWF_NOWAIT``) and sendfiles of spans it holds whole, and a lag bound under slow disks."""

from __future__ import annotations

import ctypes
import gc
import mmap
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest

import streamer.sources.catalog
import streamer.web.media
import streamer.sources.file
from streamer.server.lag import LagMonitor, monitor_lag
from streamer.sources.file import FileSource
from tests.conftest import ServerThread
from tests.integration.test_resources import abort, start_download

SLOW_READ_S = 0.2
RESIDENT, NOT_RESIDENT = "resident", "not resident"
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.mmap.restype = ctypes.c_void_p


def page_cache_holds(fd: int, offset: int, count: int) -> bool:
    """Whether every page of the span is in the page cache, read with mincore on a mapping of it."""
    start = offset - offset % mmap.PAGESIZE
    length = min(offset + count, os.fstat(fd).st_size) - start  # mmap refuses to reach past the end
    if length <= 0:
        return True  # nothing to read: sendfile answers 0 at once
    vec = (ctypes.c_ubyte * (-(-length // mmap.PAGESIZE)))()
    address = LIBC.mmap(None, ctypes.c_size_t(length), mmap.PROT_READ, mmap.MAP_SHARED, fd, ctypes.c_long(start))
    assert address not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
    try:
        assert LIBC.mincore(ctypes.c_void_p(address), ctypes.c_size_t(length), vec) == 0, ctypes.get_errno()
    finally:
        LIBC.munmap(ctypes.c_void_p(address), ctypes.c_size_t(length))
    return all(page & 1 for page in vec)
HEALTHZ_BOUND_S = 0.05


class ThreadGuard(SimpleNamespace):
    """Stands in for the ``os`` module of streamer.sources.file, recording each call's thread."""

    def __init__(self, module: Any, calls: list[tuple[str, int, Any]]) -> None:
        super().__init__()
        self._module = module
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        if name == "path":
            return ThreadGuard(value, self._calls)
        if not callable(value) or isinstance(value, type):
            return value

        def guarded(*args: Any, **kwargs: Any) -> Any:
            flags = args[3] if name == "preadv" and len(args) > 3 else None
            if name == "sendfile":  # checked here, independently: was every page of the span cached?
                _, in_fd, offset, count = args
                flags = RESIDENT if page_cache_holds(in_fd, offset, count) else NOT_RESIDENT
            self._calls.append((name, threading.get_ident(), flags))
            return value(*args, **kwargs)

        return guarded


@pytest.fixture
def fs_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int, Any]]]:
    """Every module of streamer that touches the file system at request time, watched."""
    calls: list[tuple[str, int, Any]] = []
    for module in (streamer.sources.file, streamer.sources.catalog):
        monkeypatch.setattr(module, "os", ThreadGuard(os, calls))
    yield calls


def test_no_file_system_call_runs_on_the_event_loop_thread(
    server: ServerThread, fs_calls: list[tuple[str, int, Any]]
) -> None:
    with server.client() as client:
        assert client.get("/media/big.bin").status_code == 200
        assert client.get("/media/big.bin", headers={"range": "bytes=5-70000,90000-"}).status_code == 206
        assert client.head("/media/clip.mp4").status_code == 200
        etag = client.head("/media/clip.mp4").headers["etag"]
        assert client.get("/media/clip.mp4", headers={"if-none-match": etag}).status_code == 304
        assert client.get("/media/clip.mp4", headers={"range": "bytes=999999-"}).status_code == 416
        assert client.get("/media/missing.mp4").status_code == 404
        assert client.get("/media/pipe.mp4").status_code == 404
        assert client.get("/api/media", params={"path": "sub"}).status_code == 200
        assert client.get("/api/media").status_code == 200
    sock = start_download(server.port, "/media/big.bin")
    sock.recv(65536)
    abort(sock, reset=True)
    time.sleep(0.2)
    names = {name for name, _, _ in fs_calls}
    assert {"open", "fstat", "pread", "close", "scandir", "stat"} <= names, names
    on_loop = [(name, flags) for name, thread, flags in fs_calls if thread == server.thread.ident]
    assert {call for call in on_loop if call not in (("preadv", os.RWF_NOWAIT), ("sendfile", RESIDENT))} == set(), on_loop
    if server.sendfile:  # the page cache holds the files: sent from it on the loop, never read into Python
        assert ("sendfile", RESIDENT) in on_loop, on_loop
    elif server.io == "async":  # its chunks of a file in the page cache are read in place, no thread hop
        assert ("preadv", os.RWF_NOWAIT) in on_loop, on_loop
    else:  # the def generator runs in worker threads, and reads there
        assert on_loop == []


def test_sendfile_of_pages_not_in_the_page_cache_runs_in_worker_threads(
    server_factory: Any, fs_calls: list[tuple[str, int, Any]], media_root: Path
) -> None:
    running: ServerThread = server_factory()
    if not running.sendfile:
        pytest.skip("copies bodies: test_no_file_system_call_runs_on_the_event_loop_thread covers it")
    path = media_root / "big.bin"
    with open(path, "rb") as evicted:
        os.fsync(evicted.fileno())  # dirty pages are not dropped
        os.posix_fadvise(evicted.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # out of the page cache
    with running.client() as client:
        assert client.get("/media/big.bin").content == path.read_bytes()
    sends = [(thread, flags) for name, thread, flags in fs_calls if name == "sendfile"]
    assert sends, fs_calls
    assert (running.thread.ident, NOT_RESIDENT) not in sends, sends
    assert any(thread != running.thread.ident for thread, _ in sends), sends  # the cold pages went to threads


@pytest.fixture
def slow_reads(monkeypatch: pytest.MonkeyPatch, cold_cache: None) -> None:
    """A slow disk: nothing in the page cache, and every read takes SLOW_READ_S."""
    original = FileSource.read_at

    def read_at(self: FileSource, offset: int, length: int) -> bytes:
        time.sleep(SLOW_READ_S)
        return original(self, offset, length)

    monkeypatch.setattr(FileSource, "read_at", read_at)


def test_healthz_answers_quickly_while_streams_wait_on_slow_reads(server: ServerThread, slow_reads: None) -> None:
    stop = threading.Event()
    received: list[int] = []

    def stream() -> None:
        with server.client() as client, client.stream("GET", "/media/big.bin") as response:
            for chunk in response.iter_bytes():
                received.append(len(chunk))
                if stop.is_set():
                    break

    streams = [threading.Thread(target=stream) for _ in range(6)]
    for thread in streams:
        thread.start()
    # The server shares this process: keep the test suite's own garbage out of the measurement
    # (a full collection of everything earlier tests left pauses every thread, the loop's too).
    gc.collect()
    gc.freeze()
    try:
        with server.client() as client:
            client.get("/healthz")  # connection set up outside the timed part
            time.sleep(SLOW_READ_S * 2)
            server.app_lag().reset()
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                assert client.get("/healthz").text == "ok"
                timings.append(time.perf_counter() - started)
                time.sleep(0.02)
        assert received, "the streams should be running"
        assert max(timings) < HEALTHZ_BOUND_S, (timings, server.app_lag().snapshot())
        assert server.app_lag().max_lag < HEALTHZ_BOUND_S
    finally:
        gc.unfreeze()
        stop.set()
        for thread in streams:
            thread.join(timeout=30)


def test_lag_monitor_measures_a_blocked_loop() -> None:
    async def main() -> tuple[float, float]:
        async with monitor_lag(0.01) as monitor:
            await anyio.sleep(0.1)
            calm = monitor.max_lag
            time.sleep(0.2)  # block the loop on purpose
            await anyio.sleep(0.05)
            return calm, monitor.max_lag

    calm, blocked = anyio.run(main)
    assert calm < 0.1
    assert blocked >= 0.15


def test_lag_snapshot_quantiles() -> None:
    monitor = LagMonitor()
    assert monitor.snapshot().samples == 0
    monitor._lags.extend([0.001 * i for i in range(1, 101)])
    monitor.max_lag = 0.1
    snapshot = monitor.snapshot()
    assert (snapshot.samples, snapshot.p50_ms, snapshot.p99_ms, snapshot.max_ms) == (100, pytest.approx(50), pytest.approx(99), pytest.approx(100))


def test_debug_lag_reports_the_running_monitor(client: httpx.Client) -> None:
    deadline = time.monotonic() + 2
    while (body := client.get("/debug/lag").json())["samples"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(body) == {"samples", "p50_ms", "p99_ms", "max_ms"}
    assert body["samples"] > 0 and 0 <= body["p50_ms"] <= body["p99_ms"] <= body["max_ms"]


def test_a_small_file_served_again_from_the_open_file_cache_makes_no_thread_hop(
    server_factory, fs_calls: list[tuple[str, int, Any]], media_root: Path
) -> None:
    server = server_factory(open_file_idle=30.0)  # no expiry between the two requests, however slow the machine
    with server.client() as client:
        assert client.get("/media/small.bin").status_code == 200  # opened in a thread, now cached
        fs_calls.clear()
        again = client.get("/media/small.bin", headers={"range": "bytes=10-19"})
    assert (again.status_code, again.content) == (206, (media_root / "small.bin").read_bytes()[10:20])
    if server.sendfile:
        assert fs_calls == [("sendfile", server.thread.ident, RESIDENT)], fs_calls
    else:
        assert fs_calls == [("preadv", server.thread.ident, os.RWF_NOWAIT)], fs_calls


def test_a_burst_of_requests_for_a_file_not_yet_open_opens_it_once(
    server_factory, fs_calls: list[tuple[str, int, Any]], media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = streamer.web.media.open_resolved

    def slow_open(root: str, resolved: str, names: tuple[str, ...]) -> Any:
        time.sleep(0.2)  # the whole burst arrives while the first open is in its thread
        return original(root, resolved, names)

    monkeypatch.setattr(streamer.web.media, "open_resolved", slow_open)
    server = server_factory(open_file_idle=30.0)
    expected = (media_root / "small.bin").read_bytes()
    results: list[bytes] = []

    def fetch() -> None:
        with server.client() as client:
            results.append(client.get("/media/small.bin").content)

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 20
    assert [name for name, _, _ in fs_calls].count("open") == 1, fs_calls
