"""check_request_size and check_host: the request-target, header-field and Host bounds, as tables."""

from __future__ import annotations

import pytest

from streamer.web.limits import (
    MAX_FIELD_BYTES,
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    MAX_TARGET_BYTES,
    check_host,
    check_request_size,
)

Headers = list[tuple[bytes, bytes]]
NORMAL: Headers = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Safari/605.1.15"),
    (b"range", b"bytes=0-1"),
    (b"accept", b"*/*"),
]
TARGET_TOO_LONG = (414, f"Request target longer than {MAX_TARGET_BYTES} bytes.")
TOO_MANY_FIELDS = (431, f"More than {MAX_HEADER_FIELDS} header fields.")
FIELD_TOO_LONG = (431, f"A header field is longer than {MAX_FIELD_BYTES} bytes.")
HEADERS_TOO_LARGE = (431, f"Header fields total more than {MAX_HEADER_BYTES} bytes.")


def field(total: int, name: bytes = b"x-pad") -> tuple[bytes, bytes]:
    """One header field whose name and value together are ``total`` bytes."""
    return name, b"v" * (total - len(name))


@pytest.mark.parametrize(
    ("raw_path", "query", "headers", "expected"),
    [
        pytest.param(b"/media/clip.mp4", b"", NORMAL, None, id="normal-request"),
        pytest.param(b"/", b"", [], None, id="no-headers"),
        pytest.param(b"/media/clip.mp4", b"download=1", NORMAL, None, id="with-query"),
        # Request target: path and query together.
        pytest.param(b"/" * MAX_TARGET_BYTES, b"", [], None, id="target-at-limit"),
        pytest.param(b"/" * (MAX_TARGET_BYTES + 1), b"", [], TARGET_TOO_LONG, id="path-too-long-414"),
        pytest.param(b"/m", b"q" * (MAX_TARGET_BYTES - 1), [], TARGET_TOO_LONG, id="path-plus-query-too-long-414"),
        pytest.param(b"/m", b"q" * (MAX_TARGET_BYTES - 2), [], None, id="path-plus-query-at-limit"),
        # Number of fields.
        pytest.param(b"/", b"", [(b"x", b"1")] * MAX_HEADER_FIELDS, None, id="fields-at-limit"),
        pytest.param(b"/", b"", [(b"x", b"1")] * (MAX_HEADER_FIELDS + 1), TOO_MANY_FIELDS, id="too-many-fields-431"),
        # One field.
        pytest.param(b"/", b"", [field(MAX_FIELD_BYTES)], None, id="field-at-limit"),
        pytest.param(b"/", b"", [field(MAX_FIELD_BYTES + 1)], FIELD_TOO_LONG, id="one-field-too-long-431"),
        pytest.param(b"/", b"", [field(MAX_FIELD_BYTES + 1, b"x" * 8000)], FIELD_TOO_LONG, id="long-name-counts"),
        pytest.param(b"/", b"", [*NORMAL, field(MAX_FIELD_BYTES + 1)], FIELD_TOO_LONG, id="long-field-after-normal"),
        # All fields together.
        pytest.param(
            b"/", b"", [field(MAX_FIELD_BYTES)] * (MAX_HEADER_BYTES // MAX_FIELD_BYTES), None, id="total-at-limit"
        ),
        pytest.param(
            b"/",
            b"",
            [field(MAX_FIELD_BYTES)] * (MAX_HEADER_BYTES // MAX_FIELD_BYTES) + [(b"x", b"")],
            HEADERS_TOO_LARGE,
            id="total-too-large-431",
        ),
        # Order of the checks.
        pytest.param(
            b"/" * (MAX_TARGET_BYTES + 1),
            b"",
            [(b"x", b"1")] * (MAX_HEADER_FIELDS + 1),
            TARGET_TOO_LONG,
            id="target-checked-before-headers",
        ),
    ],
)
def test_check_request_size(raw_path: bytes, query: bytes, headers: Headers, expected: tuple[int, str] | None) -> None:
    assert check_request_size(raw_path, query, headers) == expected


@pytest.mark.parametrize(
    ("version", "headers", "expected"),
    [
        pytest.param("1.1", [(b"host", b"a")], None, id="one-host"),
        pytest.param("1.1", [(b"Host", b"a")], None, id="name-case-insensitive"),
        pytest.param("1.1", [(b"host", b"")], None, id="empty-host-is-a-host"),
        pytest.param("1.1", [], (400, "An HTTP/1.1 request must have a Host header field."), id="http11-without-host"),
        pytest.param("1.0", [], None, id="http10-may-omit-host"),
        pytest.param("1.1", [(b"host", b"a"), (b"host", b"a")], (400, "More than one Host header field."), id="two-hosts-even-equal"),
        pytest.param("1.0", [(b"host", b"a"), (b"HOST", b"b")], (400, "More than one Host header field."), id="two-hosts-http10"),
    ],
)
def test_check_host(version: str, headers: Headers, expected: tuple[int, str] | None) -> None:
    assert check_host(version, headers) == expected
