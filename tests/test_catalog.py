"""Catalog pieces that need no server: cursors, box headers, faststart, paging."""

from __future__ import annotations

import os
import struct
import time
import tracemalloc
from pathlib import Path

import pytest

from streamer.sources.catalog import list_folder, parse_box_header, read_faststart
from streamer.sources.listing import Position, decode_cursor
from tests.conftest import REPO


def box(kind: bytes, payload_size: int = 0, *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + payload_size) + bytes(payload_size)
    return struct.pack(">I4s", 8 + payload_size, kind) + bytes(payload_size)


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
    last = list_folder(str(tmp_path), (), Position(False, 0, "clip-099949.mp4"), 100)
    assert [e.name for e in last.entries] == [f"clip-{i:06d}.mp4" for i in range(99950, 100_000)]
    assert last.next_cursor is None
    assert first.total == last.total == 100_000


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, size, age in [("Episode 10.mkv", 30, 1), ("Episode 2.mkv", 10, 3), ("episode 1.mkv", 20, 2),
                            ("Episode 2.en.srt", 5, 4), ("cover.jpg", 1, 5), ("notes.txt", 2, 6)]:
        (tmp_path / name).write_bytes(b"x" * size)
        os.utime(tmp_path / name, ns=(0, (1_700_000_000 - age * 1000) * 1_000_000_000))
    (tmp_path / "Season 2").mkdir()
    (tmp_path / ".hidden").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize(
    ("sort", "order", "expected"),
    [
        pytest.param("name", "asc", ["Season 2", "cover.jpg", "episode 1.mkv", "Episode 2.en.srt", "Episode 2.mkv", "Episode 10.mkv", "notes.txt"], id="natural-name"),
        pytest.param("size", "desc", ["Season 2", "Episode 10.mkv", "episode 1.mkv", "Episode 2.mkv", "Episode 2.en.srt", "notes.txt", "cover.jpg"], id="largest-first"),
        pytest.param("date", "asc", ["Season 2", "notes.txt", "cover.jpg", "Episode 2.en.srt", "Episode 2.mkv", "episode 1.mkv", "Episode 10.mkv"], id="oldest-first"),
    ],
)
def test_sorted_pages_cover_the_folder_once(folder: Path, sort: str, order: str, expected: list[str]) -> None:
    seen, cursor = [], None
    while True:
        page = list_folder(str(folder), (), cursor, 2, sort, order)
        assert page.total == 7  # the hidden file is not counted
        seen += [e.name for e in page.entries]
        if page.next_cursor is None:
            break
        cursor = decode_cursor(page.next_cursor, sort, order)
    assert seen == expected


def test_entries_carry_relative_urls_thumbs_and_subtitles(folder: Path) -> None:
    (folder / "Season 2" / "x y.mp4").write_bytes(b"")
    entries = {e.name: e for e in list_folder(str(folder), (), None, 100).entries}
    assert entries["Season 2"].url == "api/media?path=Season%202"
    episode = entries["Episode 2.mkv"]
    assert (episode.url, episode.thumb) == ("media/Episode%202.mkv", "thumbs/Episode%202.mkv")
    assert [(s.url, s.language, s.label) for s in episode.subtitles] == [("subtitles/Episode%202.en.srt", "en", "English")]
    assert entries["Episode 10.mkv"].subtitles == []
    assert entries["cover.jpg"].thumb == "thumbs/cover.jpg" and entries["notes.txt"].thumb is None
    nested = list_folder(str(folder), ("Season 2",), None, 100).entries[0]
    assert (nested.url, nested.thumb) == ("media/Season%202/x%20y.mp4", "thumbs/Season%202/x%20y.mp4")


def test_a_sub_folder_reports_its_visible_count_up_to_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamer.sources import catalog

    (tmp_path / "shows").mkdir()
    for name in ("a.mkv", "b.mkv", ".hidden", "c"):
        (tmp_path / "shows" / name).touch()
    (tmp_path / "empty").mkdir()
    page = catalog.list_folder(str(tmp_path), (), None, 10)
    assert {e.name: e.count for e in page.entries} == {"empty": 0, "shows": 3}
    monkeypatch.setattr(catalog, "COUNT_CAP", 2)
    assert catalog.count_visible(str(tmp_path / "shows")) == 2
    assert catalog.count_visible(str(tmp_path / "missing")) is None
