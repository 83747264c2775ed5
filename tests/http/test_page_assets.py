"""The page's own files: the page, its icon and scripts, planned like any body (ETag, 304, Range, HEAD)."""

from __future__ import annotations

import pytest

from streamer.web.page import ASSET_CACHE_CONTROL, PAGE_HEADERS, assets
from tests.conftest import ServerThread
from tests.http import wire

ICON = assets()["favicon.ico"].data


def test_favicon_is_an_icon_with_a_strong_etag(server: ServerThread) -> None:
    got = wire.request(server.port, "GET", "/favicon.ico")
    assert got.status == 200 and got.body == ICON
    assert got.header("content-type") == "image/vnd.microsoft.icon"
    assert got.header("content-length") == str(len(ICON))
    assert got.header("cache-control") == ASSET_CACHE_CONTROL
    etag = got.header("etag")
    assert etag.startswith('"') and not etag.startswith("W/")
    again = wire.request(server.port, "GET", "/favicon.ico", [("If-None-Match", etag)])
    assert again.status == 304 and again.body == b""
    head = wire.request(server.port, "HEAD", "/favicon.ico")
    assert head.status == 200 and head.body == b"" and head.header("content-length") == str(len(ICON))
    part = wire.request(server.port, "GET", "/favicon.ico", [("Range", "bytes=0-5")])
    assert part.status == 206 and part.body == ICON[:6]
    assert part.header("content-range") == f"bytes 0-5/{len(ICON)}"


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/static/index.html", id="the-page-is-not-a-static-asset"),
        pytest.param("/static/nope.js", id="unknown-name"),
        pytest.param("/static/..%2Fweb%2Fpage.py", id="no-path-outside-the-set"),
        pytest.param("/static/", id="no-listing"),
    ],
)
def test_only_named_assets_are_served(server: ServerThread, target: str) -> None:
    assert wire.request(server.port, "GET", target).status == 404


def test_page_is_html_with_its_security_headers(server: ServerThread) -> None:
    got = wire.request(server.port, "GET", "/")
    assert got.status == 200 and got.header("content-type").startswith("text/html")
    for name, value in PAGE_HEADERS.items():
        assert got.header(name) == value
    assert b'href="favicon.ico"' in got.body  # relative: the page works under a mount
