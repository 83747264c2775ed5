"""The load-testing endpoints over HTTP, both io forms: exact bytes, framing, pacing, limits."""

from __future__ import annotations

import time

import httpx
import pytest

from streamer.sources.synthetic import ALPHABET, PatternSource, expected_bytes
from tests.conftest import ServerThread
from tests.http import wire


def alphabet(offset: int, length: int) -> bytes:
    return PatternSource(ALPHABET).read_at(offset, length)


def chunk_sizes(raw: bytes) -> list[int]:
    """The sizes of the HTTP/1.1 chunks in a raw chunked body, as sent."""
    body, sizes = raw.split(b"\r\n\r\n", 1)[1], []
    while True:
        line, body = body.split(b"\r\n", 1)
        size = int(line, 16)
        if size == 0:
            return sizes
        sizes.append(size)
        body = body[size + 2 :]


@pytest.mark.parametrize(
    ("target", "seed"),
    [
        pytest.param("/bytes/100000", 0, id="default-seed-is-zero"),
        pytest.param("/bytes/100000?seed=0", 0, id="seed-zero"),
        pytest.param("/bytes/100000?seed=42&chunk_size=7", 42, id="seed-and-odd-chunks"),
    ],
)
def test_bytes_are_the_documented_stream(client: httpx.Client, target: str, seed: int) -> None:
    response = client.get(target)
    assert response.status_code == 200
    assert response.headers["content-length"] == "100000"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == expected_bytes(seed, 0, 100000)


def test_bytes_support_ranges_and_conditionals_like_files(client: httpx.Client) -> None:
    head = client.head("/bytes/5000?seed=9")
    etag = head.headers["etag"]
    assert head.content == b"" and head.headers["content-length"] == "5000"
    part = client.get("/bytes/5000?seed=9", headers={"range": "bytes=4990-"})
    assert (part.status_code, part.content) == (206, expected_bytes(9, 4990, 10))
    assert part.headers["content-range"] == "bytes 4990-4999/5000"
    assert client.get("/bytes/5000?seed=9", headers={"if-none-match": etag}).status_code == 304
    assert client.get("/bytes/5000?seed=8", headers={"if-none-match": etag}).status_code == 200  # another stream
    stale = client.get("/bytes/5000?seed=9", headers={"range": "bytes=0-9", "if-range": '"other"'})
    assert (stale.status_code, len(stale.content)) == (200, 5000)
    assert client.get("/bytes/5000?seed=9", headers={"range": "bytes=6000-"}).status_code == 416


def test_stream_bytes_is_chunked_one_http_chunk_per_chunk(server: ServerThread) -> None:
    raw = wire.exchange(server.port, wire.build_request("GET", b"/stream-bytes/3500?seed=5&chunk_size=1000"))
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    assert b"transfer-encoding: chunked" in head and b"content-length" not in head
    assert chunk_sizes(raw) == [1000, 1000, 1000, 500]
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/stream-bytes/3500?seed=5&chunk_size=1000").content == expected_bytes(5, 0, 3500)


def test_range_endpoint_serves_the_alphabet_with_ranges(client: httpx.Client) -> None:
    whole = client.get("/range/100")
    assert whole.content == alphabet(0, 100)
    part = client.get("/range/100", headers={"range": "bytes=24-29", "if-range": whole.headers["etag"]})
    assert (part.status_code, part.content) == (206, b"yzabcd")


def test_drip_waits_then_spreads_its_bytes(client: httpx.Client) -> None:
    started = time.monotonic()
    with client.stream("GET", "/drip?numbytes=5&duration=1&delay=0.5&code=203") as response:
        headers_at = time.monotonic() - started
        arrivals = []
        for piece in response.iter_raw():
            arrivals.append((time.monotonic() - started, piece))
    assert response.status_code == 203
    assert response.headers["content-length"] == "5"
    assert b"".join(piece for _, piece in arrivals) == b"*****"
    assert headers_at >= 0.5  # nothing, not even the status line, before the delay
    assert len(arrivals) == 5  # one flushed piece per byte
    assert arrivals[0][0] >= 0.5 + 0.2 - 0.02  # the first byte waits its share too
    assert arrivals[-1][0] >= 1.5 - 0.05


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/bytes/100000?rate=200000", id="bytes"),
        pytest.param("/stream-bytes/100000?rate=200000", id="stream-bytes"),
        pytest.param("/range/100000?duration=0.5", id="range-duration"),
        pytest.param("/media/small.bin?rate=2000", id="media"),
    ],
)
def test_rate_paces_without_busy_waiting(client: httpx.Client, target: str) -> None:
    cpu, started = time.process_time(), time.monotonic()
    response = client.get(target)
    elapsed, cpu_used = time.monotonic() - started, time.process_time() - cpu
    assert response.status_code == 200
    assert elapsed >= 0.45  # 100,000 bytes at 200,000 B/s (or 1,000 at 2,000): half a second, never less
    assert cpu_used < elapsed / 2  # the process mostly slept: no spinning while paced


def test_server_rate_limit_is_a_default_and_a_ceiling(server_factory) -> None:
    running = server_factory(rate_limit=200_000)
    with running.client() as client:
        for target in ("/bytes/100000", "/bytes/100000?rate=100000000"):
            started = time.monotonic()
            assert len(client.get(target).content) == 100000
            assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize(
    ("target", "names"),
    [
        pytest.param("/bytes/10737418241", "--max-bytes", id="n-over-max-bytes"),
        pytest.param("/stream-bytes/10737418241", "--max-bytes", id="stream-n-over-max-bytes"),
        pytest.param("/bytes/-1", "n=-1", id="negative-n"),
        pytest.param("/bytes/10?chunk_size=0", "chunk_size=0", id="chunk-size-zero"),
        pytest.param("/bytes/10?chunk_size=16777217", "chunk_size=16777217", id="chunk-size-over-16-mib"),
        pytest.param("/bytes/10?seed=-5", "seed=-5", id="negative-seed"),
        pytest.param("/bytes/10?rate=0", "rate=0", id="rate-zero"),
        pytest.param("/range/10?duration=61", "--max-duration", id="duration-over-max"),
        pytest.param("/drip?duration=61", "--max-duration", id="drip-duration-over-max"),
        pytest.param("/drip?delay=61", "--max-duration", id="drip-delay-over-max"),
        pytest.param("/drip?numbytes=10737418241", "--max-bytes", id="drip-numbytes-over-max"),
        pytest.param("/drip?code=99", "code=99", id="code-below-200"),
        pytest.param("/drip?code=304&numbytes=3", "carries no body", id="bodiless-code-with-bytes"),
    ],
)
def test_out_of_bounds_knobs_get_400_naming_the_limit(client: httpx.Client, target: str, names: str) -> None:
    response = client.get(target)
    assert response.status_code == 400
    assert names in response.json()["detail"]


def test_limits_are_configurable(server_factory) -> None:
    running = server_factory(max_bytes=1000, max_duration=1.0)
    with running.client() as client:
        assert client.get("/bytes/1000").status_code == 200
        assert "0..1000 bytes" in client.get("/bytes/1001").json()["detail"]
        assert client.get("/drip?duration=2").status_code == 400
