"""HEAD answers like GET without a body; other methods get 405; unknown routes get 404."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.conftest import ServerThread
from tests.http import wire

UNSTABLE = {"date"}


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        pytest.param("/media/small.bin", [], id="head-small"),
        pytest.param("/media/big.bin", [], id="head-big"),
        pytest.param("/media/empty.bin", [], id="head-empty"),
        pytest.param("/media/clip.mp4?download=1", [], id="head-attachment"),
        pytest.param("/media/" + quote("naïve café.mp4"), [], id="head-non-ascii"),
        pytest.param("/media/sub/nested.webm", [("Origin", "http://example.test")], id="head-cors"),
        pytest.param("/media/missing.bin", [], id="head-missing-404"),
        pytest.param("/media/.hidden", [], id="head-dotfile-404"),
    ],
)
def test_head_has_get_headers_and_no_body(server: ServerThread, target: str, headers: list[tuple[str, str]]) -> None:
    got = wire.request(server.port, "GET", target, headers)
    head = wire.request(server.port, "HEAD", target, headers)  # framing check: nothing after the header block
    assert head.status == got.status
    assert [h for h in head.headers if h[0] not in UNSTABLE] == [h for h in got.headers if h[0] not in UNSTABLE]
    assert head.body == b""
    if got.status == 200:
        assert len(got.body) == int(head.header("content-length"))


def test_head_missing_file_is_404(server: ServerThread) -> None:
    response = wire.request(server.port, "HEAD", "/media/no-such-file.mp4")
    assert response.status == 404
    assert response.body == b""


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="head-then-get"),
        pytest.param([("Range", "bytes=0-99")], id="head-with-range-then-get"),
    ],
)
def test_head_body_does_not_leak_into_next_response(server: ServerThread, headers: list[tuple[str, str]]) -> None:
    # Keep-alive: if HEAD sent any body bytes, they would appear before the second status line.
    head = b"HEAD /media/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += b"".join(f"{name}: {value}\r\n".encode() for name, value in headers) + b"\r\n"
    data = wire.exchange(server.port, head + wire.build_request("GET", b"/healthz"))
    first, sep, rest = data.partition(wire.HEADER_END)
    assert sep
    status, first_headers = wire.parse_head(first)
    assert status == 200
    assert ("content-length", str(8 * 1024 * 1024 + 12345)) in first_headers
    second = wire.parse_response(rest)  # starts exactly at the next status line
    assert second.status == 200
    assert second.body == b"ok"


@pytest.mark.parametrize(
    ("method", "target"),
    [
        pytest.param("POST", "/media/small.bin", id="post-media"),
        pytest.param("PUT", "/media/small.bin", id="put-media"),
        pytest.param("DELETE", "/media/small.bin", id="delete-media"),
        pytest.param("PATCH", "/media/small.bin", id="patch-media"),
        pytest.param("POST", "/media/missing.bin", id="post-missing-media"),
        pytest.param("POST", "/healthz", id="post-healthz"),
    ],
)
def test_other_methods_are_405(server: ServerThread, small: bytes, method: str, target: str) -> None:
    response = wire.request(server.port, method, target, [("Content-Length", "0")])
    assert response.status == 405
    assert response.header("allow") == "GET, HEAD"
    assert small[:32] not in response.body


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/nope", id="unknown-path"),
        pytest.param("/media", id="media-without-slash-no-redirect"),
        pytest.param("/media/", id="media-directory"),
        pytest.param("/healthz/", id="healthz-trailing-slash-no-redirect"),
        pytest.param("/media/small.bin/", id="file-with-trailing-slash"),
        pytest.param("/MEDIA/small.bin", id="prefix-is-case-sensitive"),
        pytest.param("/media/missing.bin", id="missing-file"),
    ],
)
def test_unknown_targets_are_404(server: ServerThread, target: str) -> None:
    response = wire.get(server.port, target)
    assert response.status == 404
    assert not response.has("location")
