"""Bodies sent by zerocopysend (sendfile): exact bytes over a real socket, exact byte counters,
and the copying path kept where sendfile must not run (h11, TLS, paced streams)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from streamer.sources.file import FileSource
from tests.conftest import ServerThread, settings_for, start_server
from tests.integration.test_metrics import scrape, value

MEDIA_ROUTE = "/media/{path:path}"
RANGES = [
    pytest.param(None, id="whole-file"),
    pytest.param("bytes=100-200000", id="one-range"),
    pytest.param("bytes=-5000", id="suffix"),
    pytest.param("bytes=0-9,100000-100009,-10", id="multipart"),
]


@pytest.fixture(scope="module")
def servers(media_root: Path) -> Iterator[dict[str, ServerThread]]:
    """The same files served with sendfile and by copying (def generator), side by side."""
    running = {form: start_server(settings_for(media_root, form)) for form in ("sendfile", "sync")}
    yield running
    for server in running.values():
        server.stop()


def raw_get(port: int, path: str, range_header: str | None) -> tuple[bytes, bytes]:
    """Status line and headers, and the body read to the end of a ``Connection: close`` answer."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        extra = f"Range: {range_header}\r\n" if range_header else ""
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n".encode())
        data = bytearray()
        while chunk := sock.recv(1 << 20):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return head, body


def boundary(head: bytes) -> bytes:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-type: multipart/byteranges; boundary="):
            return line.split(b"=", 1)[1]
    return b""


@pytest.mark.parametrize("range_header", RANGES)
def test_sendfile_bodies_are_the_copied_bodies_byte_for_byte(
    servers: dict[str, ServerThread], file_reads: list[tuple[int, int]], range_header: str | None
) -> None:
    sent_head, sent = raw_get(servers["sendfile"].port, "/media/big.bin", range_header)
    copied_head, copied = raw_get(servers["sync"].port, "/media/big.bin", range_header)
    assert sent_head.split(b"\r\n")[0] == copied_head.split(b"\r\n")[0]
    if boundary(sent_head):  # a random boundary per answer: the parts must agree around it
        sent = sent.replace(boundary(sent_head), boundary(copied_head))
    assert sent == copied
    assert f"content-length: {len(sent)}".encode() in sent_head.lower()
    assert file_reads, "nothing was read or sent from the file"


def test_byte_counters_are_exact_on_both_paths(servers: dict[str, ServerThread]) -> None:
    for server in servers.values():
        before = value(scrape(server.base_url), "streamer_bytes_sent_total", route=MEDIA_ROUTE)
        total = 0
        with server.client() as client:
            for range_header in (None, "bytes=100-200000", "bytes=-5000", "bytes=0-9,100000-100009,-10"):
                total += len(client.get("/media/big.bin", headers={"range": range_header} if range_header else {}).content)
        after = value(scrape(server.base_url), "streamer_bytes_sent_total", route=MEDIA_ROUTE)
        assert after - before == total, server.settings.sendfile


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
         "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )
    return key, cert


@pytest.mark.parametrize("transport", ["h11", "tls", "paced"])
def test_h11_tls_and_paced_streams_copy(
    transport: str, media_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamer.sources.file import FileSource

    sends: list[int] = []
    original = FileSource.send_cached
    monkeypatch.setattr(FileSource, "send_cached", lambda self, *args: sends.append(1) or original(self, *args))
    monkeypatch.setattr(FileSource, "send_at", lambda self, *args: pytest.fail("sendfile from a thread"))
    config: dict[str, object] = {}
    if transport == "h11":
        config["http"] = "h11"
    elif transport == "tls":
        key, cert = self_signed(tmp_path)
        config.update(ssl_keyfile=str(key), ssl_certfile=str(cert))
    server = start_server(settings_for(media_root, "sendfile"), **config)
    try:
        scheme = "https" if transport == "tls" else "http"
        path = "/media/big.bin?rate=1000000000" if transport == "paced" else "/media/big.bin"
        with httpx.Client(base_url=f"{scheme}://127.0.0.1:{server.port}", verify=False, timeout=10) as client:
            response = client.get(path)
        assert response.status_code == 200
        assert response.content == (media_root / "big.bin").read_bytes()
        assert sends == []
    finally:
        server.stop()


def evict(path: Path) -> bool:
    """Drop the file's pages from the page cache; whether the kernel did (clean pages of a local file: yes)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        source = FileSource(os.dup(fd), path.name)
        try:
            return not source.ready(0, 4096)
        finally:
            source.close()
    finally:
        os.close(fd)


def test_a_seek_into_pages_not_cached_is_prefetched_not_sent_from_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cold.bin").write_bytes(os.urandom(4 << 20))
    server = start_server(replace(settings_for(tmp_path, "sendfile"), open_files=0))
    threads: list[int] = []
    send_at = FileSource.send_at
    monkeypatch.setattr(FileSource, "send_at", lambda self, *args: threads.append(1) or send_at(self, *args))
    try:
        evicted = 0
        for start in range(0, 4 << 20, 1 << 20):
            evicted += evict(tmp_path / "cold.bin")
            head, body = raw_get(server.port, "/media/cold.bin", f"bytes={start}-{start + 65535}")
            assert head.startswith(b"HTTP/1.1 206") and body == (tmp_path / "cold.bin").read_bytes()[start : start + 65536]
    finally:
        server.stop()
    if not evicted:
        pytest.skip("this file system keeps its pages (tmpfs?): nothing to prefetch")
    assert threads == []
