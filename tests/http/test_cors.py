"""CORS for script-driven players: exposed range headers, preflight allowing Range and If-Range."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import ServerThread
from tests.http import wire

ORIGIN = "http://example.test"
MUST_EXPOSE = {"content-range", "content-length", "accept-ranges", "etag"}


def listed(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",") if item.strip()}


def preflight(port: int, origin: str, method: str = "GET", headers: str = "range, if-range") -> wire.WireResponse:
    return wire.request(
        port,
        "OPTIONS",
        "/media/small.bin",
        [("Origin", origin), ("Access-Control-Request-Method", method), ("Access-Control-Request-Headers", headers)],
    )


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param([], 200, id="full-response"),
        pytest.param([("Range", "bytes=0-1")], 206, id="partial-response"),
        pytest.param([("Range", "bytes=0-9,500-509")], 206, id="multipart-response"),
        pytest.param([("Range", "bytes=5000-")], 416, id="unsatisfiable-response"),
    ],
)
def test_cross_origin_get_exposes_range_headers(
    server: ServerThread, headers: list[tuple[str, str]], status: int
) -> None:
    response = wire.get(server.port, "/media/small.bin", [("Origin", ORIGIN), *headers])
    assert response.status == status
    assert response.header("access-control-allow-origin") in ("*", ORIGIN)
    assert MUST_EXPOSE <= listed(response.header("access-control-expose-headers"))


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        pytest.param("GET", "range, if-range", id="preflight-get-range-if-range"),
        pytest.param("GET", "Range,If-Range,If-None-Match", id="preflight-mixed-case-no-spaces"),
        pytest.param("HEAD", "range", id="preflight-head-range"),
    ],
)
def test_preflight_allows_range_requests(server: ServerThread, method: str, headers: str) -> None:
    response = preflight(server.port, ORIGIN, method, headers)
    assert response.status == 200
    assert response.header("access-control-allow-origin") in ("*", ORIGIN)
    assert method.lower() in listed(response.header("access-control-allow-methods"))
    assert listed(headers) <= listed(response.header("access-control-allow-headers"))
    assert {"range", "if-range"} <= listed(response.header("access-control-allow-headers"))


def test_preflight_for_a_write_method_is_refused(server: ServerThread) -> None:
    response = preflight(server.port, ORIGIN, method="DELETE")
    assert 400 <= response.status < 500
    assert "delete" not in listed(", ".join(response.values("access-control-allow-methods")))


def test_restricted_origins(server_factory: Callable[..., ServerThread], small: bytes) -> None:
    allowed, other = "http://allowed.test", "http://evil.test"
    server = server_factory(cors_origins=(allowed,))

    refused = preflight(server.port, other)
    assert 400 <= refused.status < 500
    assert not refused.has("access-control-allow-origin")

    accepted = preflight(server.port, allowed)
    assert accepted.status == 200
    assert accepted.header("access-control-allow-origin") == allowed
    assert {"range", "if-range"} <= listed(accepted.header("access-control-allow-headers"))

    # A simple GET is still served, but the browser gets no permission to read it cross-origin.
    foreign = wire.get(server.port, "/media/small.bin", [("Origin", other)])
    assert foreign.status == 200 and foreign.body == small
    assert not foreign.has("access-control-allow-origin")

    own = wire.get(server.port, "/media/small.bin", [("Origin", allowed), ("Range", "bytes=0-1")])
    assert own.status == 206 and own.body == small[:2]
    assert own.header("access-control-allow-origin") == allowed
    assert "origin" in listed(own.header("vary"))
    assert MUST_EXPOSE <= listed(own.header("access-control-expose-headers"))
