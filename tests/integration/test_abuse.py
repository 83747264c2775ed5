"""Abuse: disconnect storms, the stream limit, files that change under a stream, SIGTERM.

The long versions (10,000 aborts, 1,000 slow clients, a 10-minute soak) run
from ``python -m bench.abuse``; these are the short ones, on real servers.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from bench.soak import run_soak, slope_per_minute
from bench.storm import plan_aborts, run_storm, runtime, settled
from streamer.sources.file import resolve_in_root
from tests.conftest import BIG_SIZE, FORMS, GRACE_EXCEEDED, SMALL_SIZE, ServerThread, fd_targets, form_args, payload
from tests.integration.test_resources import start_download, wait_until

STORM_ABORTS = 1000
WARM_UP_ABORTS = 200
RSS_SLACK_BYTES = 24 * 1024 * 1024
CHANGING_SIZE = 32 * 1024 * 1024


def read_response(sock: socket.socket, first: bytes = b"", timeout: float = 10.0) -> tuple[bytes, bytes]:
    """Headers and whatever body arrives (after ``first``) before the server closes the connection."""
    sock.settimeout(timeout)
    data = first
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    chunks = [body]
    try:
        while chunk := sock.recv(1 << 20):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return head, b"".join(chunks)


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise AssertionError(f"no Content-Length in {head!r}")


@pytest.mark.parametrize("form", FORMS)
def test_a_disconnect_storm_leaves_nothing_behind(form: str, spawn_server, media_root: Path) -> None:
    proc = spawn_server(str(media_root), *form_args(form), "--chunk-size", "64KiB")
    targets = [
        ("/media/big.bin", BIG_SIZE),
        ("/media/small.bin", SMALL_SIZE),
        ("/bytes/4194304?seed=3", 4 << 20),
        ("/stream-bytes/4194304?chunk_size=65536", 0),
        ("/range/1048576", 1 << 20),
        ("/media/big.bin?rate=4000000", BIG_SIZE),
    ]
    run_storm(proc.port, plan_aborts(WARM_UP_ABORTS, targets, seed=1))  # threads, pools and caches grow once
    baseline = settled(proc.port, runtime(proc.port))
    storm = run_storm(proc.port, plan_aborts(STORM_ABORTS, targets, seed=2))
    after = settled(proc.port, baseline)

    assert storm.aborts == STORM_ABORTS and storm.errors == 0, storm
    assert after["streams"] == 0 and after["io_threads_busy"] == 0 and after["cached_files"] == 0, after
    assert after["tasks"] <= baseline["tasks"], (baseline, after)
    assert after["open_fds"] <= baseline["open_fds"], (baseline, after)
    assert not proc.open_fds(under=media_root)
    assert after["rss_bytes"] - baseline["rss_bytes"] < RSS_SLACK_BYTES, (baseline, after)
    with httpx.Client(base_url=proc.base_url, timeout=10) as client:
        assert client.get("/media/big.bin").content == (media_root / "big.bin").read_bytes()
        ranged = client.get("/media/big.bin", headers={"range": "bytes=1000-1999"})
        assert (ranged.status_code, ranged.content) == (206, (media_root / "big.bin").read_bytes()[1000:2000])


@pytest.fixture
def sparse_root(tmp_path: Path) -> Path:
    with (tmp_path / "huge.bin").open("wb") as f:
        f.truncate(256 * 1024 * 1024)  # cheap to make, too big to finish while a client holds it
    (tmp_path / "small.bin").write_bytes(b"0123456789")
    return tmp_path


def test_streams_beyond_the_limit_get_503_with_retry_after_at_once(server_factory, sparse_root: Path) -> None:
    running = server_factory(media_dir=sparse_root, max_streams=2)
    held = [start_download(running.port, "/media/huge.bin", rcvbuf=64 * 1024) for _ in range(2)]
    try:
        with running.client() as client:
            assert wait_until(lambda: client.get("/debug/runtime").json()["streams"] == 2, timeout=5.0)
            refused = client.get("/media/small.bin")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert "limit of 2" in refused.json()["detail"]
            assert client.get("/bytes/10").status_code == 503  # every body stream counts
            # Answers without a body stream are not refused.
            assert client.head("/media/huge.bin").status_code == 200
            etag = client.head("/media/small.bin").headers["etag"]
            assert client.get("/media/small.bin", headers={"if-none-match": etag}).status_code == 304
            assert client.get("/healthz").text == "ok"
            held.pop().close()
            assert wait_until(lambda: client.get("/debug/runtime").json()["streams"] == 1, timeout=5.0)
            answer = client.get("/media/small.bin", headers={"range": "bytes=2-4"})
            assert (answer.status_code, answer.content) == (206, b"234")
    finally:
        for sock in held:
            sock.close()


def refused_count(metrics: str) -> float:
    label = 'streamer_requests_total{route="/media/{path:path}",status="503"} '
    lines = [line for line in metrics.splitlines() if line.startswith(label)]
    return float(lines[0].removeprefix(label)) if lines else 0.0


def test_the_stream_limit_is_in_the_metrics_as_503s(server_factory, sparse_root: Path) -> None:
    running = server_factory(media_dir=sparse_root, max_streams=1)
    held = start_download(running.port, "/media/huge.bin", rcvbuf=64 * 1024)
    try:
        with running.client() as client:
            assert wait_until(lambda: client.get("/debug/runtime").json()["streams"] == 1, timeout=5.0)
            before = refused_count(client.get("/metrics").text)  # the registry is the process's: other tests count too
            assert client.get("/media/small.bin").status_code == 503
            assert refused_count(client.get("/metrics").text) == before + 1
    finally:
        held.close()


def changing_file(root: Path) -> tuple[Path, bytes]:
    path = root / "changing.bin"
    original = payload(CHANGING_SIZE, 7)
    path.write_bytes(original)
    return path, original


def start_changing_download(running: ServerThread) -> tuple[socket.socket, bytes]:
    """A download of changing.bin under way: its socket and the first bytes received."""
    sock = start_download(running.port, "/media/changing.bin", rcvbuf=64 * 1024, close=True)
    sock.settimeout(10)
    return sock, sock.recv(65536)


def test_a_file_truncated_mid_stream_gives_a_short_body_never_padding(server_factory, tmp_path: Path) -> None:
    path, original = changing_file(tmp_path)
    running = server_factory(media_dir=tmp_path)
    sock, first = start_changing_download(running)
    try:
        os.truncate(path, 4 * 1024 * 1024)
        head, body = read_response(sock, first)
    finally:
        sock.close()
    assert head.startswith(b"HTTP/1.1 200")
    assert content_length(head) == CHANGING_SIZE
    assert len(body) < CHANGING_SIZE, "the connection should end short of the promised length"
    assert body == original[: len(body)], "every byte sent was in the file"
    assert wait_until(lambda: fd_targets(under=tmp_path) == [], timeout=2.0)
    with running.client() as client:  # and the next request sees the file as it is now
        now = client.get("/media/changing.bin")
        assert (now.status_code, now.content) == (200, original[: 4 * 1024 * 1024])


def test_a_file_replaced_by_rename_mid_stream(server_factory, tmp_path: Path) -> None:
    path, original = changing_file(tmp_path)
    running = server_factory(media_dir=tmp_path)
    with running.client() as client:
        old_etag = client.head("/media/changing.bin").headers["etag"]
    sock, first = start_changing_download(running)
    try:
        replacement = tmp_path / "changing.bin.new"
        replacement.write_bytes(b"new content")
        os.replace(replacement, path)
        with running.client() as client:
            fresh = client.get("/media/changing.bin")
        assert fresh.content == b"new content"
        assert fresh.headers["etag"] != old_etag
        head, body = read_response(sock, first)
    finally:
        sock.close()
    assert content_length(head) == CHANGING_SIZE
    assert body == original, "the stream in flight finishes with the content it started with"


def test_a_file_deleted_mid_stream_finishes_and_is_then_gone(server_factory, tmp_path: Path) -> None:
    path, original = changing_file(tmp_path)
    running = server_factory(media_dir=tmp_path)
    sock, first = start_changing_download(running)
    try:
        path.unlink()
        with running.client() as client:
            assert client.get("/media/changing.bin").status_code == 404
        _, body = read_response(sock, first)
    finally:
        sock.close()
    assert body == original
    assert wait_until(lambda: fd_targets(under=tmp_path) == [], timeout=2.0)


def test_a_file_that_vanishes_between_lookup_and_open_gets_404(
    server_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fleeting.bin").write_bytes(b"here for a moment")
    running = server_factory(media_dir=tmp_path)

    def resolve_then_vanish(root: str, names: tuple[str, ...]) -> str:
        resolved = resolve_in_root(root, names)
        os.unlink(resolved)  # removed after the lookup, before the open
        return resolved

    monkeypatch.setattr("streamer.web.media.resolve_in_root", resolve_then_vanish)
    with running.client() as client:
        answer = client.get("/media/fleeting.bin")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found"}
    assert not (tmp_path / "fleeting.bin").exists(), "the patch did not run: the race was not staged"


def test_sigterm_stops_accepting_lets_short_streams_finish_and_cuts_the_rest(spawn_server, tmp_path: Path) -> None:
    (tmp_path / "short.bin").write_bytes(payload(400_000, 8))
    (tmp_path / "long.bin").write_bytes(payload(4_000_000, 9))
    proc = spawn_server(str(tmp_path), "--shutdown-grace", "2", "--chunk-size", "64KiB")
    results: dict[str, tuple[bytes, bytes]] = {}

    def download(name: str, rate: int) -> None:
        sock = socket.create_connection(("127.0.0.1", proc.port))
        with sock:
            sock.sendall(f"GET /media/{name}?rate={rate} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            results[name] = read_response(sock, timeout=30)

    threads = [  # at 400 kB/s: the short one takes 1 s, the long one 10 s
        threading.Thread(target=download, args=("short.bin", 400_000)),
        threading.Thread(target=download, args=("long.bin", 400_000)),
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    signalled = time.monotonic()
    proc.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    with pytest.raises(httpx.ConnectError):
        httpx.get(proc.base_url + "/healthz", timeout=2)
    for thread in threads:
        thread.join(timeout=30)
    exit_code = proc.process.wait(timeout=10)
    stopped = time.monotonic() - signalled

    assert exit_code == -signal.SIGTERM  # uvicorn re-raises the signal once it has shut down
    assert 1.5 < stopped < 6.0, stopped
    short_head, short_body = results["short.bin"]
    assert short_head.startswith(b"HTTP/1.1 200") and short_body == (tmp_path / "short.bin").read_bytes()
    long_head, long_body = results["long.bin"]
    assert content_length(long_head) == 4_000_000
    assert 0 < len(long_body) < 4_000_000, "the long stream is cut after the grace period"
    assert long_body == (tmp_path / "long.bin").read_bytes()[: len(long_body)]
    output = proc.output()
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in output, output
    # Whether uvicorn logs the cancelled stream with a traceback depends on where the cancellation
    # lands; any traceback must be that one.
    assert output.count("Traceback") == output.count(GRACE_EXCEEDED) <= 1, output


def test_debug_runtime_reports_what_the_worker_holds(server: ServerThread) -> None:
    busy = ("streams", "io_threads_busy", "media_workers", "probes_inflight")
    with server.client() as client:
        # Work an earlier test started (a file closing in a thread, a background probe) may still be ending.
        wait_until(lambda: not any(client.get("/debug/runtime").json()[name] for name in busy), timeout=3.0)
        now = client.get("/debug/runtime").json()
    assert set(now) == {
        "tasks", "threads", "io_threads_busy", "streams", "cached_files", "probes_inflight", "open_fds", "rss_bytes",
        "media_workers", "media_jobs",
    }
    assert now["streams"] == 0 and now["io_threads_busy"] == 0 and now["media_workers"] == 0 and now["probes_inflight"] == 0
    assert now["tasks"] >= 1 and now["threads"] >= 1 and now["open_fds"] > 3
    assert 10 * 1024 * 1024 < now["rss_bytes"] < 1 << 32


@pytest.mark.parametrize(
    ("points", "slope"),
    [
        pytest.param([(0.0, 5.0), (30.0, 5.0), (60.0, 5.0)], 0.0, id="flat"),
        pytest.param([(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)], 60.0, id="one-per-second-is-sixty-per-minute"),
        pytest.param([(0.0, 10.0), (60.0, 8.0), (120.0, 6.0)], -2.0, id="falling"),
        pytest.param([(0.0, 0.0), (60.0, 2.0), (120.0, 0.0), (180.0, 2.0)], 0.4, id="noise-least-squares"),
        pytest.param([(3.0, 7.0)], 0.0, id="one-point-has-no-slope"),
    ],
)
def test_soak_slope_per_minute(points: list[tuple[float, float]], slope: float) -> None:
    assert slope_per_minute(points) == pytest.approx(slope)


SOAK_SECONDS = 15.0
SOAK_RSS_GROWTH_MIB = 32.0


def test_a_short_soak_of_mixed_load_stays_flat(spawn_server, tmp_path: Path) -> None:
    (tmp_path / "seek.bin").write_bytes(payload(16 * 1024 * 1024, 10))
    (tmp_path / "download.bin").write_bytes(payload(4 * 1024 * 1024, 11))
    proc = spawn_server(str(tmp_path), "--chunk-size", "64KiB")
    result = run_soak(
        proc.base_url, proc.port, proc.process.pid, tmp_path, "seek.bin", "download.bin",
        duration_s=SOAK_SECONDS, sample_s=0.5, slow_clients=20,
    )  # fmt: skip
    counts = result.counts
    assert counts.wrong_answers == 0 and counts.errors == 0, counts.problems
    assert counts.seeks > 0 and counts.downloads > 0 and counts.aborts > 0, counts
    assert '"connected": 20' in result.slow_clients, result.slow_clients
    assert result.fds_after <= result.fds_before, (result.fds_before, result.fds_after)
    assert result.rss_last_mib - result.rss_first_mib < SOAK_RSS_GROWTH_MIB, result.samples


def test_a_client_reading_a_few_kb_a_second_is_not_cut_though_no_write_wakes_within_the_timeout(
    server_factory, sparse_root: Path
) -> None:
    """At 40 kB/s a third of the 512 KiB send buffer frees in ~4 s: the kernel wakes no writer within the 2 s
    stall timeout, yet the client acknowledges bytes all along (each time its 32 KiB window opens), and
    that is progress."""
    running = server_factory(media_dir=sparse_root, stall_timeout=2.0)
    if not running.sendfile:
        pytest.skip("the copying path bounds each send by the stall timeout (README, slow and stalled clients)")
    read_slowly(running, rcvbuf=16 * 1024, each=4_000, seconds=6.0)  # about 40 kB/s


def test_a_slow_client_that_keeps_reading_is_not_cut_as_stalled(server_factory, sparse_root: Path) -> None:
    # Each read is well inside the stall timeout, but with the kernel's autotuned send buffer
    # a blocked send would wait for megabytes to drain, longer than the timeout.
    running = server_factory(media_dir=sparse_root, stall_timeout=2.0)
    assert read_slowly(running, rcvbuf=64 * 1024, each=20_000, seconds=8.0) > 1_000_000  # about 200 kB/s


def read_slowly(running: ServerThread, *, rcvbuf: int, each: int, seconds: float) -> int:
    """Downloads a huge file reading ``each`` bytes every 0.1 s for ``seconds``; fails if the stream ends. The bytes read."""
    sock = start_download(running.port, "/media/huge.bin", rcvbuf=rcvbuf)
    received, deadline = 0, time.monotonic() + seconds
    try:
        sock.settimeout(5)
        while time.monotonic() < deadline:
            data = sock.recv(each)
            assert data, f"the server ended a live stream after {received} bytes"
            received += len(data)
            time.sleep(0.1)
        with running.client() as client:
            assert client.get("/debug/runtime").json()["streams"] == 1
    finally:
        sock.close()
    return received
