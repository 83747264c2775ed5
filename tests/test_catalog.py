"""Catalog pieces that need no server: cursors, box headers, faststart, paging."""

from __future__ import annotations

import os
import struct
import time
import tracemalloc
from pathlib import Path

import pytest

from streamer.sources.catalog import decode_cursor, encode_cursor, list_folder, parse_box_header, read_faststart
from tests.conftest import REPO


def box(kind: bytes, payload_size: int = 0, *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + payload_size) + bytes(payload_size)
    return struct.pack(">I4s", 8 + payload_size, kind) + bytes(payload_size)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param((0, "folder"), id="folder"),
        pytest.param((1, "clip.mp4"), id="file"),
        pytest.param((1, "naïve café.mp4"), id="non-ascii-name"),
    ],
)
def test_cursor_round_trips(key: tuple[int, str]) -> None:
    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!", id="not-base64"),
        pytest.param("eGZvbw", id="unknown-kind-prefix"),
        pytest.param("Zi4uLw", id="hidden-or-traversal-name"),
        pytest.param("Zg", id="empty-name"),
        pytest.param("_w", id="not-utf8"),
    ],
)
def test_foreign_cursors_are_refused(cursor: str) -> None:
    assert decode_cursor(cursor) is None


@pytest.mark.parametrize(
    ("header", "remaining", "expected"),
    [
        pytest.param(box(b"ftyp", 16)[:16], 100, ("ftyp", 24), id="compact-size"),
        pytest.param(box(b"mdat", 100, large=True)[:16], 200, ("mdat", 116), id="64-bit-size"),
        pytest.param(struct.pack(">I4s", 0, b"mdat"), 500, ("mdat", 500), id="size-zero-runs-to-the-end"),
        pytest.param(struct.pack(">I4s", 4, b"free"), 500, None, id="size-smaller-than-header"),
        pytest.param(struct.pack(">I4s", 900, b"free"), 500, None, id="size-past-the-end"),
        pytest.param(b"\x00\x00", 500, None, id="truncated-header"),
        pytest.param(struct.pack(">I4s", 1, b"mdat"), 500, None, id="truncated-64-bit-size"),
    ],
)
def test_parse_box_header(header: bytes, remaining: int, expected: tuple[str, int] | None) -> None:
    assert parse_box_header(header, remaining) == expected


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        pytest.param([box(b"ftyp", 16), box(b"moov", 40), box(b"mdat", 100)], True, id="moov-first-is-faststart"),
        pytest.param([box(b"ftyp", 16), box(b"free", 8), box(b"mdat", 100), box(b"moov", 40)], False, id="moov-last"),
        pytest.param([box(b"ftyp", 16), box(b"mdat", 100, large=True), box(b"moov", 40)], False, id="after-64-bit-mdat"),
        pytest.param([box(b"ftyp", 16)], None, id="neither-box"),
        pytest.param([b"not an mp4 at all"], None, id="garbage"),
        pytest.param([box(b"free", 0)] * 100 + [box(b"moov")], None, id="too-many-boxes-gives-up"),
    ],
)
def test_read_faststart(tmp_path: Path, boxes: list[bytes], expected: bool | None) -> None:
    path = tmp_path / "x.mp4"
    path.write_bytes(b"".join(boxes))
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_faststart(fd, path.stat().st_size) is expected
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("bars-faststart.mp4", True, id="bundled-faststart-clip"),
        pytest.param("bars-moov-at-end.mp4", False, id="bundled-moov-at-end-clip"),
    ],
)
def test_bundled_clips_are_what_their_names_say(name: str, expected: bool) -> None:
    page = list_folder(str((REPO / "media").resolve()), (), None, 100)
    assert {entry.name: entry.faststart for entry in page.entries}[name] is expected


def test_a_folder_of_100000_files_pages_in_bounded_memory(tmp_path: Path) -> None:
    for index in range(100_000):
        os.close(os.open(tmp_path / f"clip-{index:06d}.mp4", os.O_CREAT | os.O_WRONLY, 0o644))
    tracemalloc.start()
    try:
        started = time.perf_counter()
        first = list_folder(str(tmp_path), (), None, 100)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [e.name for e in first.entries] == [f"clip-{i:06d}.mp4" for i in range(100)]
    assert peak < 2 * 1024 * 1024, peak  # a listing of 100,000 names would not fit in this
    assert elapsed < 30  # one pass over the folder; generous for slow machines
    last = list_folder(str(tmp_path), (), decode_cursor(encode_cursor((1, "clip-099949.mp4"))), 100)
    assert [e.name for e in last.entries] == [f"clip-{i:06d}.mp4" for i in range(99950, 100_000)]
    assert last.next_cursor is None
