"""Every open file has one owner that closes it, on every path, promptly.

Descriptor counts are read from /proc, for a server in its own process and
for in-process servers; reads are counted by wrapping FileSource's two read methods (``file_reads``).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from streamer.sources.file import FileSource
from tests.conftest import BIG_SIZE, FORMS, ServerThread, fd_targets, form_args

ABORTS = 200


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def start_download(port: int, path: str, *, rcvbuf: int | None = None, close: bool = False) -> socket.socket:
    """A GET on a raw socket; with ``close``, the server ends the connection after the answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    connection = "Connection: close\r\n" if close else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n{connection}\r\n".encode())
    return sock


def abort(sock: socket.socket, *, reset: bool) -> None:
    if reset:  # RST instead of FIN, as a player killing a connection may
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("form", FORMS)
def test_aborted_downloads_release_every_descriptor_within_a_second(form: str, spawn_server, media_root: Path) -> None:
    proc = spawn_server(str(media_root), *form_args(form), "--chunk-size", "64KiB")
    assert httpx.get(proc.base_url + "/media/small.bin").status_code == 200
    baseline = len(proc.open_fds())
    for index in range(ABORTS):
        sock = start_download(proc.port, "/media/big.bin")
        received = 0
        while received < 100_000:  # headers and at least one chunk: mid-stream
            received += len(sock.recv(65536))
        abort(sock, reset=index % 2 == 0)
    settled = wait_until(
        lambda: len(proc.open_fds()) <= baseline and not proc.open_fds(under=media_root), timeout=1.0
    )
    assert settled, (baseline, proc.open_fds())
    assert httpx.get(proc.base_url + "/media/small.bin").content == (media_root / "small.bin").read_bytes()


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        pytest.param("HEAD", {}, 200, id="head-reads-nothing"),
        pytest.param("HEAD", {"range": "bytes=0-99"}, 200, id="head-with-range-reads-nothing"),
        pytest.param("GET", {"if-none-match": "*"}, 304, id="not-modified-reads-nothing"),
        pytest.param("GET", {"if-match": '"nope"'}, 412, id="precondition-failed-reads-nothing"),
        pytest.param("GET", {"range": "bytes=999999999-"}, 416, id="unsatisfiable-reads-nothing"),
        pytest.param("GET", {}, 404, id="missing-file-reads-nothing"),
    ],
)
def test_answers_without_a_body_never_read_the_file(
    server: ServerThread, file_reads: list[tuple[int, int]], media_root: Path, method: str, headers: dict[str, str], status: int
) -> None:
    path = "/media/missing.bin" if status == 404 else "/media/big.bin"
    with server.client() as client:
        response = client.request(method, path, headers=headers)
        assert response.status_code == status
        assert file_reads == []
        assert client.get("/media/small.bin").status_code == 200
    assert file_reads, "the read counter saw no read even for a GET: the patch is not in effect"
    assert wait_until(lambda: fd_targets(under=media_root) == [], timeout=1.0)


def test_stalled_client_costs_bounded_reads_and_is_cut_at_the_stall_timeout(
    server_factory, file_reads: list[tuple[int, int]], tmp_path: Path
) -> None:
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as f:
        f.truncate(256 * 1024 * 1024)  # sparse: cheap to make, 256 MiB to stream
    running = server_factory(media_dir=tmp_path, stall_timeout=1.0)
    sock = start_download(running.port, "/media/huge.bin", rcvbuf=64 * 1024)
    try:
        time.sleep(0.5)  # let the server fill every buffer it can
        read_while_stalled = sum(length for _, length in file_reads)
        assert 0 < read_while_stalled <= 16 * 1024 * 1024, read_while_stalled
        assert wait_until(lambda: fd_targets(under=tmp_path) == [], timeout=3.0), "stalled stream kept its file"
        reads_after_cut = len(file_reads)
        time.sleep(0.2)
        assert len(file_reads) == reads_after_cut
    finally:
        sock.close()
    with running.client() as client:
        assert client.get("/healthz").text == "ok"


def test_a_client_that_is_not_reading_gets_no_chunk_read_ahead(
    server_factory, file_reads: list[tuple[int, int]], tmp_path: Path
) -> None:
    """The next chunk is read only once the last one has drained: a slow client holds one chunk, not two."""
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as f:
        f.truncate(64 * 1024 * 1024)
    chunk = 4 * 1024 * 1024  # far more than the socket buffers hold, so the first one cannot drain
    running = server_factory(media_dir=tmp_path, chunk_size=chunk, stall_timeout=5.0)
    sock = start_download(running.port, "/media/huge.bin", rcvbuf=64 * 1024)
    try:
        assert wait_until(lambda: len(file_reads) >= 1, timeout=2.0)
        time.sleep(0.5)  # time enough to read ahead, if it were going to
        if running.sendfile:  # nothing is held in the process: the kernel took what the socket buffers hold
            sent = sum(length for _, length in file_reads)
            assert covered(file_reads) == [(0, sent)] and sent < chunk, file_reads
            return
        assert file_reads == [(0, chunk)]
    finally:
        sock.close()


# uvicorn cancels streams still running after the grace period and then closes its
# loop without waiting for their sockets to flush: the socket warning is uvicorn's.
@pytest.mark.filterwarnings("ignore:Exception ignored in. 'uvloop.loop.UVHandle.__dealloc__':pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:unclosed resource <TCPTransport:ResourceWarning")
def test_server_shutdown_closes_files_of_streams_in_flight(server_factory, tmp_path: Path) -> None:
    (tmp_path / "long.bin").write_bytes(bytes(64 * 1024 * 1024))
    running = server_factory(media_dir=tmp_path, shutdown_grace=0.5)
    sock = start_download(running.port, "/media/long.bin", rcvbuf=64 * 1024)
    stop_reading = threading.Event()

    def read_slowly() -> None:  # a slow client: the stream outlives the grace period
        try:
            while not stop_reading.is_set() and sock.recv(16 * 1024):
                time.sleep(0.01)
        except ConnectionResetError:
            pass  # the server went away mid-stream, as it should after the grace period

    reader = threading.Thread(target=read_slowly)
    reader.start()
    try:
        assert wait_until(lambda: bool(fd_targets(under=tmp_path)), timeout=2.0)
        running.stop()
        assert fd_targets(under=tmp_path) == []
    finally:
        stop_reading.set()
        reader.join()
        sock.close()


def test_concurrent_complete_downloads_close_their_files(server: ServerThread, media_root: Path) -> None:
    expected = (media_root / "big.bin").read_bytes()
    results: list[bytes] = []

    def download() -> None:
        with server.client() as client:
            results.append(client.get("/media/big.bin").content)

    threads = [threading.Thread(target=download) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 8
    assert len(expected) == BIG_SIZE
    assert wait_until(lambda: fd_targets(under=media_root) == [], timeout=1.0)


@pytest.mark.parametrize(
    ("range_header", "expected_reads"),
    [
        pytest.param(None, [(0, 65536), (65536, 65536), (131072, 65536)], id="whole-file-in-full-chunks"),
        pytest.param("bytes=5-200000", [(5, 65536), (65541, 65536), (131077, 65536), (196613, 3388)], id="last-chunk-of-a-range-shorter"),
        pytest.param("bytes=0-9,100000-100009", [(0, 10), (100000, 10)], id="one-read-per-small-range"),
    ],
)
def test_file_is_read_in_exact_chunks(
    server: ServerThread, file_reads: list[tuple[int, int]], range_header: str | None, expected_reads: list[tuple[int, int]]
) -> None:
    headers = {"range": range_header} if range_header else {}
    with server.client() as client:
        response = client.get("/media/big.bin", headers=headers)
    assert response.status_code == (206 if range_header else 200)
    if server.sendfile:  # the kernel takes what the socket holds: each range sent once, in order, nothing more
        assert covered(file_reads) == ([(0, BIG_SIZE)] if range_header is None else covered(expected_reads))
        return
    assert file_reads[: len(expected_reads)] == expected_reads
    if range_header is None:
        assert len(file_reads) == -(-BIG_SIZE // 65536)
        assert all(length == 65536 for _, length in file_reads[:-1])


def covered(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(offset, length)`` spans with each run of adjacent ones merged into one."""
    merged: list[tuple[int, int]] = []
    for offset, length in spans:
        if merged and sum(merged[-1]) == offset:
            merged[-1] = (merged[-1][0], merged[-1][1] + length)
        else:
            merged.append((offset, length))
    return merged


def test_a_file_that_shrinks_before_its_read_gets_503_never_wrong_bytes(
    server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cold_cache: None
) -> None:
    from streamer.sources.base import SourceTruncatedError

    def shrunk(self: FileSource, offset: int, length: int) -> bytes:
        raise SourceTruncatedError(f"{self.name}: ended early")  # what pread finds after a truncate

    monkeypatch.setattr(FileSource, "read_at", shrunk)
    monkeypatch.setattr(FileSource, "send_at", lambda self, out_fd, offset, count: 0)  # what sendfile finds
    with server.client() as client:
        if server.sendfile:  # planned before any byte is sent: the shortfall shows mid-body, so the body is cut
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # short, then reset
                client.get("/media/small.bin")
            return
        response = client.get("/media/small.bin")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "changed" in response.json()["detail"]


def test_without_the_open_file_cache_every_file_closes_with_its_response(server_factory, media_root: Path) -> None:
    running = server_factory(open_files=0, open_file_idle=3600.0)  # an idle time that would show if a file were cached
    expected = (media_root / "big.bin").read_bytes()
    with running.client() as client:
        assert client.get("/media/big.bin").content == expected
        ranged = client.get("/media/big.bin", headers={"range": "bytes=10-19"})
        assert (ranged.status_code, ranged.content) == (206, expected[10:20])
        assert client.head("/media/small.bin").status_code == 200
        assert client.get("/debug/runtime").json()["cached_files"] == 0
    assert wait_until(lambda: fd_targets(under=media_root) == [], timeout=1.0)
