"""Range requests on the wire (RFC 9110 §14): 206, multipart/byteranges, 416, ignored ranges, chunk edges.

Every body is compared with the real bytes of the file. The session servers
stream in 64 KiB chunks, so ranges around multiples of 65536 cross chunk edges.
"""

from __future__ import annotations

import pytest

from tests.conftest import BIG_SIZE, SMALL_SIZE, ServerThread
from tests.http import wire

KIB64 = 64 * 1024
MULTIPART = wire.MULTIPART


def file_bytes(name: str, small: bytes, big: bytes) -> bytes:
    return {"small.bin": small, "big.bin": big}[name]


def assert_single_part(response: wire.WireResponse, data: bytes, first: int, last: int) -> None:
    assert response.status == 206
    assert response.header("content-range") == f"bytes {first}-{last}/{len(data)}"
    assert response.header("content-length") == str(last - first + 1)
    assert response.header("content-type") == "application/octet-stream"
    assert response.header("accept-ranges") == "bytes"
    response.header("etag")
    assert response.body == data[first : last + 1]


@pytest.mark.parametrize(
    ("name", "header", "first", "last"),
    [
        pytest.param("small.bin", "bytes=0-1", 0, 1, id="safari-probe-exactly-two-bytes"),
        pytest.param("small.bin", "bytes=0-", 0, SMALL_SIZE - 1, id="open-from-zero-is-206-whole-file"),
        pytest.param("big.bin", "bytes=0-", 0, BIG_SIZE - 1, id="open-from-zero-big-file"),
        pytest.param("small.bin", "bytes=0-0", 0, 0, id="first-byte"),
        pytest.param("small.bin", "bytes=999-999", 999, 999, id="last-byte"),
        pytest.param("small.bin", "bytes=100-199", 100, 199, id="closed-middle"),
        pytest.param("small.bin", "bytes=990-", 990, 999, id="open-ended"),
        pytest.param("small.bin", "bytes=-100", 900, 999, id="suffix"),
        pytest.param("small.bin", "bytes=-5000", 0, 999, id="suffix-longer-than-file"),
        pytest.param("small.bin", "bytes=500-5000", 500, 999, id="end-clamped-to-file"),
        pytest.param("small.bin", "Bytes=10-19", 10, 19, id="unit-case-insensitive"),
        pytest.param("small.bin", "bytes=10-19,", 10, 19, id="empty-list-element-ignored"),
        pytest.param("small.bin", "bytes=0-99,50-149", 0, 149, id="overlapping-ranges-coalesced"),
        pytest.param("small.bin", "bytes=50-149,0-99", 0, 149, id="overlapping-out-of-order-coalesced"),
        pytest.param("small.bin", "bytes=0-9,0-9,0-9", 0, 9, id="duplicate-ranges-coalesced"),
        pytest.param("small.bin", "bytes=0-1,2000-3000", 0, 1, id="unsatisfiable-member-dropped"),
        pytest.param("big.bin", "bytes=4194304-4194403", 4194304, 4194403, id="big-middle"),
        pytest.param("big.bin", "bytes=-12345", BIG_SIZE - 12345, BIG_SIZE - 1, id="big-suffix"),
    ],
)
def test_single_range(
    server: ServerThread, small: bytes, big: bytes, name: str, header: str, first: int, last: int
) -> None:
    response = wire.get(server.port, f"/media/{name}", [("Range", header)])
    assert_single_part(response, file_bytes(name, small, big), first, last)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        pytest.param("bytes=65535-131073", 65535, 131073, id="straddles-two-chunk-edges"),
        pytest.param("bytes=65536-131071", 65536, 131071, id="exactly-one-chunk"),
        pytest.param("bytes=65535-65536", 65535, 65536, id="two-bytes-across-an-edge"),
        pytest.param("bytes=0-65536", 0, 65536, id="one-chunk-plus-one-byte"),
        pytest.param("bytes=1-655360", 1, 655360, id="ten-chunks-shifted-by-one"),
        pytest.param(f"bytes=-{KIB64 + 1}", BIG_SIZE - KIB64 - 1, BIG_SIZE - 1, id="suffix-one-chunk-plus-one"),
        pytest.param(f"bytes={BIG_SIZE - KIB64 * 3 - 7}-", BIG_SIZE - KIB64 * 3 - 7, BIG_SIZE - 1, id="tail-unaligned"),
    ],
)
def test_range_across_chunk_edges(server: ServerThread, big: bytes, header: str, first: int, last: int) -> None:
    assert server.settings.chunk_size == KIB64
    response = wire.get(server.port, "/media/big.bin", [("Range", header)])
    assert_single_part(response, big, first, last)


@pytest.mark.parametrize(
    ("name", "header", "expected"),
    [
        pytest.param("small.bin", "bytes=0-99,500-599", [(0, 99), (500, 599)], id="two-ranges"),
        pytest.param("small.bin", "bytes=0-9,300-399,900-", [(0, 9), (300, 399), (900, 999)], id="three-with-open-end"),
        pytest.param("small.bin", "bytes=0-9,-10", [(0, 9), (990, 999)], id="with-suffix"),
        pytest.param(
            "small.bin",
            "bytes=0-99,50-149,500-599",
            [(0, 149), (500, 599)],
            id="overlapping-pair-coalesced-in-multipart",
        ),
        pytest.param(
            "big.bin",
            "bytes=65530-65545,131000-262200,8400000-",
            [(65530, 65545), (131000, 262200), (8400000, BIG_SIZE - 1)],
            id="parts-across-chunk-edges",
        ),
    ],
)
def test_multipart_byteranges(
    server: ServerThread, small: bytes, big: bytes, name: str, header: str, expected: list[tuple[int, int]]
) -> None:
    data = file_bytes(name, small, big)
    response = wire.get(server.port, f"/media/{name}", [("Range", header)])
    assert response.status == 206
    content_type = response.header("content-type")
    assert content_type.startswith(MULTIPART)
    assert not response.has("content-range")
    assert int(response.header("content-length")) == len(response.body)
    parts = wire.parse_byteranges(response.body, content_type.removeprefix(MULTIPART))
    assert [wire.content_range(headers["content-range"]) for headers, _ in parts] == [
        (first, last, len(data)) for first, last in expected
    ]
    for (headers, body), (first, last) in zip(parts, expected, strict=True):
        assert headers["content-type"] == "application/octet-stream"
        assert body == data[first : last + 1]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(",".join(f"{i * 40000}-{i * 40000 + 1}" for i in range(200)), id="200-distinct-ranges"),
        pytest.param(",".join("0-" for _ in range(200)), id="200-whole-file-ranges"),
        pytest.param(",".join(f"{i * 200}-" for i in range(200)), id="200-overlapping-open-ranges"),
        pytest.param(",".join(f"-{BIG_SIZE - i * 200}" for i in range(200)), id="200-overlapping-suffixes"),
        pytest.param(",".join(f"{i * 130}-{i * 130 + 1}" for i in range(200)), id="200-ranges-within-merge-gap"),
    ],
)
def test_many_ranges_are_capped(server: ServerThread, big: bytes, header: str) -> None:
    response = wire.get(server.port, "/media/big.bin", [("Range", "bytes=" + header)])
    assert response.status in (200, 206)
    assert len(response.body) <= 2 * BIG_SIZE
    wire.assert_body_matches(response, big)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=1000-", id="start-at-size"),
        pytest.param("bytes=5000-6000", id="start-past-end"),
        pytest.param("bytes=-0", id="zero-length-suffix"),
        pytest.param("bytes=1000-1000,2000-", id="all-members-past-end"),
    ],
)
def test_unsatisfiable_range_is_416(server: ServerThread, small: bytes, header: str) -> None:
    response = wire.get(server.port, "/media/small.bin", [("Range", header)])
    assert response.status == 416
    assert response.header("content-range") == f"bytes */{SMALL_SIZE}"
    assert response.header("content-type") == "application/json"
    assert b"detail" in response.body and small[:16] not in response.body


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("items=0-1", id="other-unit"),
        pytest.param("none=0-1", id="unit-none"),
        pytest.param("bytes", id="no-equals"),
        pytest.param("bytes=", id="no-ranges"),
        pytest.param("bytes=abc", id="not-a-range"),
        pytest.param("bytes=5-1", id="last-before-first"),
        pytest.param("bytes=+1-2", id="plus-sign"),
        pytest.param("bytes=1_0-20", id="underscore-digits"),
        pytest.param("bytes=０-1", id="non-ascii-digit"),
        pytest.param("bytes=0-1,x", id="one-invalid-member-voids-all"),
        pytest.param("bytes=--1", id="double-dash"),
        pytest.param("bytes=" + "9" * 65 + "-", id="integer-too-long"),
    ],
)
def test_invalid_range_is_ignored(server: ServerThread, small: bytes, header: str) -> None:
    response = wire.get(server.port, "/media/small.bin", [("Range", header.encode("utf-8"))])
    assert response.status == 200
    assert not response.has("content-range")
    assert response.header("content-length") == str(SMALL_SIZE)
    assert response.body == small


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=0-", id="open-from-zero"),
        pytest.param("bytes=0-0", id="first-byte"),
        pytest.param("bytes=-1", id="suffix"),
        pytest.param("bytes=5-10", id="past-end"),
    ],
)
def test_range_on_empty_file_is_200(server: ServerThread, header: str) -> None:
    response = wire.get(server.port, "/media/empty.bin", [("Range", header)])
    assert response.status == 200
    assert response.header("content-length") == "0"
    assert not response.has("content-range")
    assert response.body == b""
