"""The front door changes nothing a client sees: the same answers, errors included, with it on and off.

Two servers, identical but for ``--front-door``, answer the same table of requests to the planned
routes; every status, header (but Date) and body byte must match, and /metrics must count the same.
"""

from __future__ import annotations

from collections.abc import Iterator
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import ServerThread, settings_for, start_server
from tests.http import wire

REQUESTS = [
    pytest.param("GET", "/media/small.bin", [], 200, id="whole-file"),
    pytest.param("GET", "/media/big.bin", [("Range", "bytes=100-299")], 206, id="one-range"),
    pytest.param("GET", "/media/big.bin", [("Range", "bytes=9999999999-")], 416, id="unsatisfiable-416"),
    pytest.param("GET", "/media/nope.bin", [], 404, id="missing-404"),
    pytest.param("GET", "/media/.hidden", [], 404, id="hidden-404"),
    pytest.param("GET", "/media/small.bin?rate=abc", [], 422, id="bad-query-422"),
    pytest.param("GET", "/media/small.bin", [("If-Match", '"nope"')], 412, id="precondition-412"),
    pytest.param("HEAD", "/media/small.bin", [], 200, id="head"),
    pytest.param("POST", "/media/small.bin", [], 405, id="other-method-405"),
    pytest.param("OPTIONS", "/media/small.bin", [("Origin", "http://a.example"), ("Access-Control-Request-Method", "GET")],
                 200, id="cors-preflight"),
    pytest.param("GET", "/media/small.bin", [("Origin", "http://a.example")], 200, id="cors-simple"),
    pytest.param("GET", "/media/" + "a" * 9000, [], 414, id="overlong-target-414"),
    pytest.param("GET", "/range/10", [("Range", "bytes=2-4")], 206, id="load-range"),
    pytest.param("HEAD", "/range/10", [], 200, id="load-range-head"),
    pytest.param("GET", "/bytes/100?seed=7", [("If-None-Match", '"nope"')], 200, id="load-bytes"),
    pytest.param("GET", "/bytes/abc", [], 422, id="load-bad-path-parameter-422"),
    pytest.param("GET", "/bytes/10?seed=x&chunk_size=", [], 422, id="load-bad-query-422"),
    pytest.param("GET", "/bytes/-1", [], 400, id="load-out-of-limit-400"),
    pytest.param("GET", "/stream-bytes/1000?chunk_size=100", [], 200, id="load-chunked"),
    pytest.param("HEAD", "/stream-bytes/10", [], 405, id="load-get-only-405"),
    pytest.param("GET", "/drip?numbytes=3&duration=0&code=201", [], 201, id="load-drip"),
    pytest.param("GET", "/drip?code=204&numbytes=3", [], 400, id="load-drip-400"),
    pytest.param("GET", "/hls/small.bin/index.m3u8", [], 422, id="hls-not-a-video-422"),
    pytest.param("GET", "/hls/nope.mp4/0.m4s", [], 404, id="hls-missing-404"),
    pytest.param("GET", "/thumbs/nope.jpg", [], 404, id="thumbs-missing-404"),
    pytest.param("GET", "/thumbs/small.bin?size=123456789", [], 422, id="thumbs-size-too-long-422"),
    pytest.param("GET", "/thumbs/small.bin?size=77", [], 400, id="thumbs-size-not-offered"),
]


@pytest.fixture(scope="module")
def servers(media_root: Path) -> Iterator[dict[str, ServerThread]]:
    running = {door: start_server(replace(settings_for(media_root, "sendfile"), front_door=door, load_testing="on"))
               for door in ("on", "off")}
    yield running
    for server in running.values():
        server.stop()


def comparable(response: wire.WireResponse) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(name.lower(), value) for name, value in response.headers if name.lower() != "date"]
    return response.status, headers, response.body


@pytest.mark.parametrize(("method", "target", "headers", "status"), REQUESTS)
def test_same_answer_with_and_without_front_door(
    servers: dict[str, ServerThread], method: str, target: str, headers: list[tuple[str, str]], status: int
) -> None:
    raw = wire.build_request(method, target.encode("ascii"), headers)
    on, off = (comparable(wire.parse_response(wire.exchange(servers[door].port, raw))) for door in ("on", "off"))
    assert on[0] == status  # the right answer, not merely the same wrong one both ways
    assert on == off


COUNTED = ("streamer_requests_total{", "streamer_bytes_sent_total{")
MEDIA_ROUTE = 'route="/media/{path:path}"'


def counters(port: int) -> dict[str, float]:
    """The request and byte counters of ``/metrics``, but those of ``/metrics`` itself (its body varies)."""
    body = wire.parse_response(wire.exchange(port, wire.build_request("GET", b"/metrics"))).body.decode()
    lines = (line.rpartition(" ") for line in body.splitlines() if line.startswith(COUNTED))
    return {name: float(value) for name, _, value in lines if 'route="/metrics"' not in name}


def test_metrics_count_the_same_both_ways(servers: dict[str, ServerThread]) -> None:
    counted = {}
    for door, server in servers.items():
        before = counters(server.port)
        for param in REQUESTS:
            method, target, headers, _ = param.values
            wire.exchange(server.port, wire.build_request(method, target.encode("ascii"), headers))
        after = counters(server.port)
        counted[door] = {name: value - before.get(name, 0.0) for name, value in after.items() if value != before.get(name)}
    assert counted["on"] == counted["off"]
    on = counted["on"]
    assert on[f'streamer_requests_total{{{MEDIA_ROUTE},status="206"}}'] == 1, on
    assert on[f'streamer_requests_total{{{MEDIA_ROUTE},status="404"}}'] == 2, on
    assert on[f'streamer_bytes_sent_total{{{MEDIA_ROUTE}}}'] > 0, on


def test_busy_503_is_the_same(media_root: Path) -> None:
    answers = []
    for door in ("on", "off"):
        server = start_server(replace(settings_for(media_root, "sendfile"), front_door=door, max_streams=1))
        try:
            with socket.create_connection(("127.0.0.1", server.port)) as holder:  # takes the one slot, reads nothing
                holder.sendall(b"GET /media/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                holder.recv(1)
                answers.append(comparable(wire.parse_response(wire.exchange(server.port, wire.build_request("GET", b"/media/small.bin")))))
        finally:
            server.stop()
    assert answers[0][0] == 503 and ("retry-after", "1") in answers[0][1]
    assert answers[0] == answers[1]
