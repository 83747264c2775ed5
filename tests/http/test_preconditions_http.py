"""Conditional requests on the wire (RFC 9110 §13): 200, 206, 304 and 412, in the RFC's order.

Header values are templates filled from the live validators of small.bin:
``{etag}``, ``{lm}`` (its Last-Modified), ``{now}``, ``{past}``, ``{future}``
and ``{lm_next}`` (one second after Last-Modified).
"""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path

import pytest

from tests.conftest import SMALL_SIZE, ServerThread
from tests.http import wire

TARGET = "/media/small.bin"
RANGE = ("Range", "bytes=10-19")


def validators(server: ServerThread, media_root: Path) -> dict[str, str]:
    current = wire.request(server.port, "HEAD", TARGET)
    mtime = (media_root / "small.bin").stat().st_mtime_ns // 1_000_000_000
    values = {
        "etag": current.header("etag"),
        "lm": current.header("last-modified"),
        "lm_next": formatdate(mtime + 1, usegmt=True),
        "now": formatdate(time.time(), usegmt=True),
        "past": "Sun, 06 Nov 1994 08:49:37 GMT",
        "future": formatdate(time.time() + 365 * 86400, usegmt=True),
    }
    assert values["lm"] == formatdate(mtime, usegmt=True)
    return values


def fill(headers: list[tuple[str, str]], values: dict[str, str]) -> list[tuple[str, str]]:
    return [(name, value.format(**values)) for name, value in headers]


def assert_outcome(response: wire.WireResponse, status: int, small: bytes, etag: str) -> None:
    assert response.status == status
    if status == 200:
        assert response.body == small
        assert response.header("content-length") == str(SMALL_SIZE)
    elif status == 206:
        assert response.header("content-range") == f"bytes 10-19/{SMALL_SIZE}"
        assert response.body == small[10:20]
    elif status == 304:
        assert response.header("etag") == etag
        assert response.body == b""
    else:
        assert status == 412
        assert b"detail" in response.body and small[:16] not in response.body


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        # If-Match (RFC 9110 §13.1.1): strong comparison.
        pytest.param([("If-Match", "{etag}")], 200, id="if-match-current-etag"),
        pytest.param([("If-Match", '"other"')], 412, id="if-match-other-etag"),
        pytest.param([("If-Match", "*")], 200, id="if-match-star"),
        pytest.param([("If-Match", "W/{etag}")], 412, id="if-match-weak-tag-never-matches"),
        pytest.param([("If-Match", '"other", {etag}')], 200, id="if-match-list-containing-current"),
        pytest.param([("If-Match", "garbage")], 412, id="if-match-malformed-fails"),
        # If-Unmodified-Since (§13.1.4), only without If-Match.
        pytest.param([("If-Unmodified-Since", "{past}")], 412, id="if-unmodified-since-past"),
        pytest.param([("If-Unmodified-Since", "{future}")], 200, id="if-unmodified-since-future"),
        pytest.param([("If-Unmodified-Since", "{lm}")], 200, id="if-unmodified-since-exact-last-modified"),
        pytest.param([("If-Unmodified-Since", "not a date")], 200, id="if-unmodified-since-invalid-ignored"),
        pytest.param(
            [("If-Match", "{etag}"), ("If-Unmodified-Since", "{past}")],
            200,
            id="if-match-overrides-if-unmodified-since",
        ),
        # If-None-Match (§13.1.2): weak comparison.
        pytest.param([("If-None-Match", "{etag}")], 304, id="if-none-match-current-etag"),
        pytest.param([("If-None-Match", "W/{etag}")], 304, id="if-none-match-weak-form-matches"),
        pytest.param([("If-None-Match", '"other"')], 200, id="if-none-match-other-etag"),
        pytest.param([("If-None-Match", "*")], 304, id="if-none-match-star"),
        pytest.param([("If-None-Match", '"a", {etag}, "b"')], 304, id="if-none-match-list-containing-current"),
        # If-Modified-Since (§13.1.3).
        pytest.param([("If-Modified-Since", "{now}")], 304, id="if-modified-since-now"),
        pytest.param([("If-Modified-Since", "{lm}")], 304, id="if-modified-since-exact-last-modified"),
        pytest.param([("If-Modified-Since", "{future}")], 304, id="if-modified-since-future"),
        pytest.param([("If-Modified-Since", "{past}")], 200, id="if-modified-since-long-past"),
        pytest.param([("If-Modified-Since", "yesterday")], 200, id="if-modified-since-invalid-ignored"),
        # Precedence (§13.2.2).
        pytest.param(
            [("If-None-Match", '"other"'), ("If-Modified-Since", "{future}")],
            200,
            id="if-none-match-beats-if-modified-since",
        ),
        pytest.param(
            [("If-None-Match", "{etag}"), ("If-Modified-Since", "{past}")],
            304,
            id="if-none-match-match-beats-old-if-modified-since",
        ),
        pytest.param([("If-Match", '"other"'), ("If-None-Match", "{etag}")], 412, id="if-match-evaluated-first"),
        pytest.param(
            [("If-Unmodified-Since", "{past}"), ("If-None-Match", "{etag}")], 412, id="if-unmodified-since-before-304"
        ),
        pytest.param([("If-None-Match", "{etag}"), RANGE], 304, id="not-modified-beats-range"),
        pytest.param([("If-Match", '"other"'), RANGE], 412, id="precondition-failed-beats-range"),
        pytest.param([("If-Match", "{etag}"), RANGE], 206, id="if-match-passes-then-range"),
        # If-Range (§13.1.5): only qualifies a Range.
        pytest.param([("If-Range", "{etag}"), RANGE], 206, id="if-range-same-strong-etag"),
        pytest.param([("If-Range", "W/{etag}"), RANGE], 200, id="if-range-weak-etag-full"),
        pytest.param([("If-Range", '"other"'), RANGE], 200, id="if-range-other-etag-full"),
        pytest.param([("If-Range", "{lm}"), RANGE], 206, id="if-range-exact-last-modified"),
        pytest.param([("If-Range", "{past}"), RANGE], 200, id="if-range-older-date-full"),
        pytest.param([("If-Range", "{lm_next}"), RANGE], 200, id="if-range-later-date-full"),
        pytest.param([("If-Range", "garbage"), RANGE], 200, id="if-range-invalid-full"),
        pytest.param([("If-Range", "{etag}")], 200, id="if-range-without-range-ignored"),
        # Field lines repeated are one comma-separated list (RFC 9110 §5.3).
        pytest.param([("If-Match", '"other"'), ("If-Match", "{etag}")], 200, id="if-match-split-over-two-lines"),
        pytest.param(
            [("If-None-Match", '"other"'), ("If-None-Match", "{etag}")], 304, id="if-none-match-split-over-two-lines"
        ),
        pytest.param([("If-Range", '"other"'), ("If-Range", "{etag}"), RANGE], 200, id="if-range-repeated-is-invalid"),
    ],
)
def test_preconditions(
    server: ServerThread, media_root: Path, small: bytes, headers: list[tuple[str, str]], status: int
) -> None:
    values = validators(server, media_root)
    assert_outcome(wire.get(server.port, TARGET, fill(headers, values)), status, small, values["etag"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param([("If-None-Match", "{etag}")], 304, id="head-not-modified"),
        pytest.param([("If-Match", '"other"')], 412, id="head-precondition-failed"),
        pytest.param([("If-Modified-Since", "{past}")], 200, id="head-modified"),
    ],
)
def test_preconditions_on_head(
    server: ServerThread, media_root: Path, headers: list[tuple[str, str]], status: int
) -> None:
    values = validators(server, media_root)
    response = wire.request(server.port, "HEAD", TARGET, fill(headers, values))
    assert response.status == status
    assert response.body == b""
    assert response.header("etag") == values["etag"]
