"""multipart/byteranges segments, read back by a small independent parser."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from streamer.http.multipart import Segment, multipart_content_type, multipart_segments, segment_length
from streamer.http.ranges import ByteRange

R = ByteRange
DATA = bytes(range(256)) * 4  # 1024 bytes; every offset has a distinct (offset % 256) value
_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+)")


def materialise(segments: Sequence[Segment], data: bytes) -> bytes:
    """The body the segments describe: literal bytes as they are, ranges as slices of ``data``."""
    return b"".join(s if isinstance(s, bytes) else data[s.start : s.stop] for s in segments)


def parse_multipart(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart body on its boundary (RFC 2046 §5.1.1) into (headers, payload) parts.

    Strict about framing: the body must open with the first dash-boundary and end
    with the close-delimiter and CRLF, so stray bytes anywhere fail the test.
    """
    delimiter = b"\r\n--" + boundary.encode("ascii")
    close = delimiter + b"--\r\n"
    assert body.startswith(delimiter[2:] + b"\r\n"), body[:80]
    assert body.endswith(close), body[-80:]
    inner = (b"\r\n" + body)[: -len(close)]
    chunks = inner.split(delimiter + b"\r\n")
    assert chunks[0] == b"", "preamble before the first part"
    parts = []
    for chunk in chunks[1:]:
        head, sep, payload = chunk.partition(b"\r\n\r\n")
        assert sep, f"part without a blank line: {chunk[:80]!r}"
        headers = dict(line.decode("latin-1").split(": ", 1) for line in head.split(b"\r\n"))
        parts.append((headers, payload))
    return parts


def content_range(value: str) -> tuple[ByteRange, int]:
    """A Content-Range value as (half-open range, complete length)."""
    match = _CONTENT_RANGE.fullmatch(value)
    assert match is not None, value
    first, last, size = map(int, match.groups())
    return ByteRange(first, last + 1), size


@pytest.mark.parametrize(
    ("ranges", "media_type", "boundary"),
    [
        pytest.param([R(0, 10), R(500, 510)], "video/mp4", "streamer-boundary", id="two-ranges"),
        pytest.param([R(0, 100), R(300, 301), R(1000, 1024)], "video/mp4", "b0undary", id="three-ranges"),
        pytest.param([R(0, 1), R(1023, 1024)], "audio/mpeg", "x", id="first-and-last-byte"),
        pytest.param([R(600, 700), R(0, 50)], "image/png", "abc", id="parts-in-given-order"),
        pytest.param([R(0, 5), R(5, 10)], "text/vtt; charset=utf-8", "q" * 70, id="media-type-parameter-long-boundary"),
    ],
)
def test_multipart_body(ranges: list[ByteRange], media_type: str, boundary: str) -> None:
    segments = multipart_segments(ranges, len(DATA), media_type, boundary)
    body = materialise(segments, DATA)
    assert segment_length(segments) == len(body)
    parts = parse_multipart(body, boundary)
    assert len(parts) == len(ranges)
    for (headers, payload), expected in zip(parts, ranges, strict=True):
        assert headers == {
            "Content-Type": media_type,
            "Content-Range": f"bytes {expected.start}-{expected.stop - 1}/{len(DATA)}",
        }
        assert content_range(headers["Content-Range"]) == (expected, len(DATA))
        assert payload == DATA[expected.start : expected.stop]


@pytest.mark.parametrize(
    "ranges",
    [
        pytest.param([R(0, 10), R(500, 510)], id="two-ranges"),
        pytest.param([R(0, 100), R(300, 301), R(1000, 1024)], id="three-ranges"),
    ],
)
def test_multipart_segments_shape(ranges: list[ByteRange]) -> None:
    """One literal before each range and one after the last: file ranges are never copied into literals."""
    segments = multipart_segments(ranges, len(DATA), "video/mp4", "b")
    assert [s for s in segments if isinstance(s, ByteRange)] == ranges
    kinds = [isinstance(s, ByteRange) for s in segments]
    assert kinds == [False, True] * len(ranges) + [False]


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        pytest.param((), 0, id="empty"),
        pytest.param((b"abc",), 3, id="literal"),
        pytest.param((R(10, 20),), 10, id="range"),
        pytest.param((b"ab", R(0, 5), b"", R(7, 8)), 8, id="mixed"),
        pytest.param([b"ab", R(0, 5)], 7, id="list"),
    ],
)
def test_segment_length(segments: Sequence[Segment], expected: int) -> None:
    assert segment_length(segments) == expected  # type: ignore[arg-type]


def test_multipart_content_type() -> None:
    assert multipart_content_type("abc123") == "multipart/byteranges; boundary=abc123"
