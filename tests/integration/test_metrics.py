"""/metrics in Prometheus text format: requests, bytes, streams and their outcomes, lag, descriptors."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BIG_SIZE, ServerThread
from tests.integration.test_resources import abort, start_download, wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base_url: str) -> Samples:
    response = httpx.get(base_url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_and_bytes_are_counted_by_route_template(server: ServerThread) -> None:
    before = scrape(server.base_url)
    with server.client() as client:
        client.get("/bytes/1000?seed=1")
        client.get("/bytes/2000?seed=2")
        client.get("/no/such/thing")
    after = scrape(server.base_url)
    route = {"route": "/bytes/{n}"}
    assert value(after, "streamer_requests_total", status="200", **route) - value(before, "streamer_requests_total", status="200", **route) == 2
    assert value(after, "streamer_bytes_sent_total", **route) - value(before, "streamer_bytes_sent_total", **route) == 3000
    assert value(after, "streamer_requests_total", route="unmatched", status="404") > value(before, "streamer_requests_total", route="unmatched", status="404")
    assert not any("/no/such/thing" in str(key) for key in after)  # raw paths never become series


def test_streams_are_counted_in_progress_and_by_outcome(server: ServerThread) -> None:
    before = scrape(server.base_url)
    sock = start_download(server.port, "/media/big.bin", rcvbuf=64 * 1024)
    sock.recv(65536)
    assert wait_until(lambda: value(scrape(server.base_url), "streamer_streams_in_progress") >= 1, timeout=5)
    abort(sock, reset=True)
    assert wait_until(
        lambda: value(scrape(server.base_url), "streamer_streams_aborted_total") > value(before, "streamer_streams_aborted_total"),
        timeout=5,
    )
    with server.client() as client:
        assert len(client.get("/media/big.bin").content) == BIG_SIZE
    after = scrape(server.base_url)
    done = value(after, "streamer_stream_duration_seconds_count", outcome="complete")
    assert done > value(before, "streamer_stream_duration_seconds_count", outcome="complete")
    assert value(after, "streamer_stream_duration_seconds_count", outcome="disconnect") >= 1
    settled = value(before, "streamer_streams_in_progress")
    assert wait_until(lambda: value(scrape(server.base_url), "streamer_streams_in_progress") <= settled, timeout=5)


def test_stall_timeouts_are_counted(server_factory) -> None:
    running: ServerThread = server_factory(stall_timeout=0.5, chunk_size=16 * 1024 * 1024)
    before = value(scrape(running.base_url), "streamer_stall_timeouts_total")
    sock = start_download(running.port, "/media/big.bin", rcvbuf=4096)
    try:
        assert wait_until(lambda: value(scrape(running.base_url), "streamer_stall_timeouts_total") > before, timeout=4)
    finally:
        sock.close()


def test_loop_lag_and_descriptors_are_reported(server: ServerThread) -> None:
    assert wait_until(lambda: value(scrape(server.base_url), "streamer_loop_lag_seconds_count") > 0, timeout=2)
    samples = scrape(server.base_url)
    assert any(name == "streamer_open_fds" and v > 0 for (name, _), v in samples.items())


def test_workers_report_together(spawn_server, media_root: Path) -> None:
    proc = spawn_server(str(media_root), "--workers", "2")
    for _ in range(20):
        with httpx.Client() as client:  # new connections, so both workers answer
            client.get(proc.base_url + "/bytes/100")
    time.sleep(0.2)
    samples = scrape(proc.base_url)
    assert value(samples, "streamer_requests_total", route="/bytes/{n}", status="200") == 20
    assert value(samples, "streamer_bytes_sent_total", route="/bytes/{n}") == 2000
    pids = {dict(labels)["pid"] for (name, labels) in samples if name == "streamer_open_fds"}
    assert len(pids) == 2
