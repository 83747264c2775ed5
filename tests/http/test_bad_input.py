"""Hostile or broken requests get a quick 4xx with a message, never a 500 or a hang."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BIG_SIZE, ServerThread
from tests.http import wire

LIMIT = 8 * 1024


def assert_refused_with_message(response: wire.WireResponse, status: int) -> None:
    assert response.status == status
    assert response.header("content-type") == "application/json"
    assert json.loads(response.body)["detail"]


@pytest.mark.parametrize("target", ["/media/small.bin", "/healthz", "/nope"])
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param([("X-Long", "a" * (9 * 1024))], 431, id="one-9-kib-value"),
        pytest.param([("Range", "bytes=0-1," + "0-1," * 2400)], 431, id="9-kib-range-header"),
        pytest.param([(f"X-H{i}", "v") for i in range(101)], 431, id="101-header-fields"),
        pytest.param([(f"X-H{i}", "v" * 7000) for i in range(5)], 431, id="35-kib-of-headers"),
    ],
)
def test_oversized_headers_are_431(
    server: ServerThread, target: str, headers: list[tuple[str, str]], status: int
) -> None:
    assert_refused_with_message(wire.get(server.port, target, headers), status)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/media/" + "a" * (LIMIT + 1), id="long-path"),
        pytest.param("/media/small.bin?x=" + "a" * LIMIT, id="long-query"),
        pytest.param("/media/" + "%2e" * 3000, id="long-encoded-path"),
        pytest.param("/" + "a/" * 5000, id="long-path-elsewhere"),
    ],
)
def test_overlong_target_is_414(server: ServerThread, target: str) -> None:
    assert_refused_with_message(wire.get(server.port, target), 414)


def test_target_just_under_the_limit_is_routed(server: ServerThread) -> None:
    target = "/media/" + "a/" * ((LIMIT - len("/media/")) // 2)
    assert len(target) <= LIMIT
    assert wire.get(server.port, target).status == 404


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="one-word"),
        pytest.param(b"GET\r\n\r\n", id="method-only"),
        pytest.param(b"\x00\x01\x02\r\n\r\n", id="binary"),
        pytest.param(b"GET /media/small.bin HTTP/9.9\r\nHost: x\r\n\r\n", id="unknown-version"),
        pytest.param(b"GET /media/small.bin HTTP/1.1 extra\r\nHost: x\r\n\r\n", id="extra-token"),
        pytest.param(b"GET media/small.bin HTTP/1.1\r\nHost: x\r\n\r\n", id="target-without-slash"),
        pytest.param(b"G\xffT /media/small.bin HTTP/1.1\r\nHost: x\r\n\r\n", id="non-token-method"),
        pytest.param(b"GET /media/sm all.bin HTTP/1.1\r\nHost: x\r\n\r\n", id="space-in-target"),
        pytest.param(b"GET /media/sm\x00all.bin HTTP/1.1\r\nHost: x\r\n\r\n", id="raw-nul-in-target"),
        pytest.param(b"GET /media/sm\x7fall.bin HTTP/1.1\r\nHost: x\r\n\r\n", id="raw-del-in-target"),
        pytest.param(b"GET /media/sm\xc3\xa9all.bin HTTP/1.1\r\nHost: x\r\n\r\n", id="raw-non-ascii-in-target"),
        pytest.param(b"GET /media/small.bin\r HTTP/1.1\r\nHost: x\r\n\r\n", id="bare-cr-in-request-line"),
        pytest.param(b"GET /media/small.bin HTTP/1.1\r\nNoColon\r\n\r\n", id="header-without-colon"),
        pytest.param(b"GET /media/small.bin HTTP/1.1\r\nHost: x\r\nRange : bytes=0-1\r\n\r\n", id="space-before-colon"),
        pytest.param(b"GET /media/small.bin HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", id="nul-in-header-value"),
        pytest.param(
            b"GET /media/small.bin HTTP/1.1\r\nHost: x\r\nX: 1\r\n folded\r\n\r\n", id="obsolete-line-folding"
        ),
        pytest.param(
            b"GET /media/small.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            id="conflicting-content-length",
        ),
        pytest.param(
            b"GET /media/small.bin HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            id="chunked-and-content-length",
        ),
    ],
)
def test_malformed_request_is_4xx(server: ServerThread, small: bytes, data: bytes) -> None:
    response = wire.parse_response(wire.exchange(server.port, data))
    assert 400 <= response.status < 500
    assert small[:32] not in response.body


@pytest.mark.parametrize(
    ("ranges", "status", "content_range"),
    [
        pytest.param("0-0," * 1000, 206, "bytes 0-0/", id="1000-identical-coalesced-to-one"),
        pytest.param(",".join(f"{i * 200}-" for i in range(1000)), 206, f"bytes 0-{BIG_SIZE - 1}/", id="1000-open-ended-coalesced"),
        pytest.param(",".join(f"-{i + 1}" for i in range(1000)), 206, f"bytes {BIG_SIZE - 1000}-{BIG_SIZE - 1}/", id="1000-suffixes-coalesced"),
        pytest.param(",".join(f"{i * 7}-{i * 7 + 1}" for i in range(1000)), 431, None, id="1000-close-together-over-8-kib"),
        pytest.param(",".join(f"{i * 200}-{i * 200}" for i in range(1000)), 431, None, id="1000-far-apart-over-8-kib"),
        pytest.param(",".join(f"{i * 7}-{i * 7 + 1}" for i in range(700)), 206, "bytes 0-4894/", id="700-close-together-coalesced"),
        pytest.param(",".join(f"{i * 300}-{i * 300}" for i in range(600)), 200, None, id="600-far-apart-over-the-cap-whole-file"),
    ],
)
def test_thousand_ranges_answered_quickly(
    server: ServerThread, big: bytes, ranges: str, status: int, content_range: str | None
) -> None:
    response = wire.get(server.port, "/media/big.bin", [("Range", "bytes=" + ranges)], timeout=5)
    assert response.status == status
    assert len(response.body) <= 2 * BIG_SIZE
    if content_range is not None:
        assert response.header("content-range").startswith(content_range)
    if status in (200, 206):
        wire.assert_body_matches(response, big)


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"GET /media/small.bin HTTP/1.1\r\nConnection: close\r\n\r\n", id="http11-without-host"),
        pytest.param(b"GET /media/small.bin HTTP/1.1\r\nHost: a\r\nHost: a\r\nConnection: close\r\n\r\n", id="two-hosts"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n", id="two-hosts-any-route"),
    ],
)
def test_host_framing_is_refused_with_400(server: ServerThread, head: bytes) -> None:
    response = wire.parse_response(wire.exchange(server.port, head))
    assert response.status == 400
    assert "Host" in response.body.decode()


def test_http10_without_host_is_served(server: ServerThread, small: bytes) -> None:
    raw = wire.exchange(server.port, b"GET /media/small.bin HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.endswith(small)
