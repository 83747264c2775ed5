"""200 responses on the wire: length, validators, media type, disposition, and ETags stable across restarts."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.conftest import ServerThread
from tests.http import wire
from tests.http.conftest import checked_client

NAIVE = "naïve café.mp4"
NAIVE_TARGET = "/media/" + quote(NAIVE)
STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e\x80-\xff]*"')
SINGLE_HEADERS = (
    "content-type",
    "content-length",
    "accept-ranges",
    "etag",
    "last-modified",
    "content-disposition",
    "x-content-type-options",
)


def last_modified(path: Path) -> str:
    return formatdate(path.stat().st_mtime_ns // 1_000_000_000, usegmt=True)


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        pytest.param("small.bin", "application/octet-stream", id="bin-is-octet-stream"),
        pytest.param("clip.mp4", "video/mp4", id="mp4-is-video-mp4"),
        pytest.param("sub/nested.webm", "video/webm", id="webm-in-subdirectory-is-video-webm"),
        pytest.param(NAIVE, "video/mp4", id="non-ascii-name-mp4"),
        pytest.param("empty.bin", "application/octet-stream", id="empty-file"),
        pytest.param("alias.bin", "application/octet-stream", id="symlink-inside-root"),
    ],
)
def test_full_response_headers(server: ServerThread, media_root: Path, name: str, media_type: str) -> None:
    response = wire.get(server.port, "/media/" + quote(name))
    data = (media_root / name).read_bytes()
    assert response.status == 200
    for header in SINGLE_HEADERS:
        response.header(header)  # each sent exactly once
    assert response.header("content-type") == media_type
    assert response.header("content-length") == str(len(data))
    assert response.body == data
    assert response.header("accept-ranges") == "bytes"
    assert STRONG_ETAG.fullmatch(response.header("etag")), response.header("etag")
    assert response.header("last-modified") == last_modified(media_root / name)
    assert response.header("content-disposition").startswith("inline;")
    assert response.header("x-content-type-options") == "nosniff"


@pytest.mark.parametrize(
    ("method", "target", "headers", "status"),
    [
        pytest.param("GET", "/media/clip.mp4", [], 200, id="full"),
        pytest.param("HEAD", "/media/clip.mp4", [], 200, id="head"),
        pytest.param("GET", "/media/clip.mp4", [("Range", "bytes=0-1")], 206, id="single-range"),
        pytest.param("GET", "/media/clip.mp4", [("Range", "bytes=0-1,1000-1001")], 206, id="multipart"),
        pytest.param("GET", "/media/clip.mp4", [("Range", "bytes=99999-")], 416, id="unsatisfiable"),
        pytest.param("GET", "/media/clip.mp4", [("If-Match", '"nope"')], 412, id="precondition-failed"),
        pytest.param("GET", "/media/clip.mp4", [("If-None-Match", "*")], 304, id="not-modified-has-none"),
        pytest.param("GET", "/media/missing.mp4", [], 404, id="not-found"),
        pytest.param("DELETE", "/media/clip.mp4", [], 405, id="method-not-allowed"),
    ],
)
def test_exactly_one_content_type(
    server: ServerThread, method: str, target: str, headers: list[tuple[str, str]], status: int
) -> None:
    response = wire.request(server.port, method, target, headers)
    assert response.status == status
    assert len(response.values("content-type")) == (0 if status == 304 else 1), response.headers


def test_html_is_never_served_as_html(server: ServerThread, media_root: Path) -> None:
    response = wire.get(server.port, "/media/page.html")
    assert response.status == 200
    media_type = response.header("content-type").lower()
    assert "html" not in media_type and "xml" not in media_type and "javascript" not in media_type
    assert response.header("x-content-type-options") == "nosniff"
    assert response.body == (media_root / "page.html").read_bytes()


@pytest.mark.parametrize(
    ("query", "disposition"),
    [
        pytest.param("", 'inline; filename="small.bin"', id="default-inline"),
        pytest.param("?download=0", 'inline; filename="small.bin"', id="download-0-inline"),
        pytest.param("?download=1", 'attachment; filename="small.bin"', id="download-1-attachment"),
        pytest.param("?download=true", 'attachment; filename="small.bin"', id="download-true-attachment"),
    ],
)
def test_content_disposition(server: ServerThread, small: bytes, query: str, disposition: str) -> None:
    response = wire.get(server.port, "/media/small.bin" + query)
    assert response.status == 200
    assert response.header("content-disposition") == disposition
    assert response.body == small


def disposition_params(value: str) -> tuple[str, dict[str, str]]:
    kind, *params = (part.strip() for part in value.split(";"))
    return kind, dict(param.split("=", 1) for param in params)


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        pytest.param("", "inline", id="non-ascii-inline"),
        pytest.param("?download=1", "attachment", id="non-ascii-attachment"),
    ],
)
def test_non_ascii_filename_uses_rfc8187(server: ServerThread, media_root: Path, query: str, kind: str) -> None:
    response = wire.get(server.port, NAIVE_TARGET + query)
    assert response.status == 200
    assert response.body == (media_root / NAIVE).read_bytes()
    value = response.header("content-disposition")
    assert value.isascii(), value
    got_kind, params = disposition_params(value)
    assert got_kind == kind
    assert params["filename*"] == "UTF-8''na%C3%AFve%20caf%C3%A9.mp4"
    assert unquote(params["filename*"].removeprefix("UTF-8''"), errors="strict") == NAIVE
    fallback = params["filename"]
    assert fallback.startswith('"') and fallback.endswith('"') and fallback.isascii()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("banana", id="download-word-rejected"),
        pytest.param("2", id="download-number-rejected"),
    ],
)
def test_invalid_download_flag_is_a_client_error(client: httpx.Client, small: bytes, value: str) -> None:
    response = client.get("/media/small.bin", params={"download": value})
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]
    assert small[:32] not in response.content


def test_etag_stable_across_server_instances(client: httpx.Client, server_factory: Callable[..., ServerThread]) -> None:
    names = ["small.bin", "clip.mp4", "sub/nested.webm", NAIVE]

    def validators(c: httpx.Client) -> list[tuple[str, str]]:
        heads = [c.head("/media/" + quote(name)) for name in names]
        assert all(r.status_code == 200 for r in heads)
        return [(r.headers["etag"], r.headers["last-modified"]) for r in heads]

    original = validators(client)
    assert len({etag for etag, _ in original}) == len(names), "different files share an ETag"
    first = server_factory()
    with checked_client(first) as c:
        assert validators(c) == original
    first.stop()
    restarted = server_factory()
    with checked_client(restarted) as c:
        assert validators(c) == original
        # A validator a client got from one instance is honoured by another.
        etag = original[0][0]
        assert c.get("/media/small.bin", headers={"If-None-Match": etag}).status_code == 304
        assert c.get("/media/small.bin", headers={"If-Match": etag}).status_code == 200
