"""Listing order, cursors and sibling subtitles: tables naming each rule."""

from __future__ import annotations

import random

import pytest

from streamer.sources.listing import Position, decode_cursor, encode_cursor, natural_key, sort_key, subtitle_tracks


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(["Episode 10", "Episode 2", "Episode 1"], ["Episode 1", "Episode 2", "Episode 10"], id="numbers-compare-as-numbers"),
        pytest.param(["b.mp4", "A.mp4", "a.mp4", "B.mp4"], ["A.mp4", "a.mp4", "B.mp4", "b.mp4"], id="case-insensitive-exact-name-breaks-ties"),
        pytest.param(["x10y2", "x10y10", "x9y99"], ["x9y99", "x10y2", "x10y10"], id="several-number-runs"),
        pytest.param(["track 01", "track 1", "track 001"], ["track 001", "track 01", "track 1"], id="leading-zeros-tie-broken-by-name"),
        pytest.param(["10", "9", "a", "1a"], ["1a", "9", "10", "a"], id="digits-first-then-letters"),
        pytest.param(["é2", "e10", "É1"], ["e10", "É1", "é2"], id="non-ascii-letters-casefolded"),
        pytest.param(["a\u0663", "a2"], ["a2", "a\u0663"], id="only-ascii-digits-are-numbers"),
    ],
)
def test_natural_order(names: list[str], expected: list[str]) -> None:
    assert sorted(names, key=natural_key) == expected


def order(positions: list[Position], sort: str, direction: str) -> list[str]:
    return [p.name for p in sorted(positions, key=lambda p: sort_key(p, sort, direction))]


FOLDER_B, FOLDER_A = Position(True, 50, "b-folder"), Position(True, 10, "A-folder")
OLD_BIG, NEW_SMALL, MID = Position(False, 100, "clip 10"), Position(False, 300, "clip 2"), Position(False, 200, "clip 1")


@pytest.mark.parametrize(
    ("sort", "direction", "expected"),
    [
        pytest.param("name", "asc", ["A-folder", "b-folder", "clip 1", "clip 2", "clip 10"], id="name-asc-folders-first"),
        pytest.param("name", "desc", ["b-folder", "A-folder", "clip 10", "clip 2", "clip 1"], id="name-desc-folders-still-first"),
        pytest.param("date", "asc", ["A-folder", "b-folder", "clip 10", "clip 1", "clip 2"], id="by-number-ascending"),
        pytest.param("date", "desc", ["b-folder", "A-folder", "clip 2", "clip 1", "clip 10"], id="by-number-descending"),
    ],
)
def test_sort_orders(sort: str, direction: str, expected: list[str]) -> None:
    positions = [OLD_BIG, FOLDER_B, NEW_SMALL, FOLDER_A, MID]
    random.Random(7).shuffle(positions)
    assert order(positions, sort, direction) == expected


def test_equal_numbers_fall_back_to_the_name() -> None:
    same = [Position(False, 5, n) for n in ("b", "a", "c")]
    assert order(same, "size", "asc") == ["a", "b", "c"]
    assert order(same, "size", "desc") == ["c", "b", "a"]


@pytest.mark.parametrize("sort", ["name", "date", "size"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize(
    "position",
    [
        pytest.param(Position(True, 0, "folder"), id="folder"),
        pytest.param(Position(False, 1_700_000_000_123_456_789, "naïve café.mp4"), id="file-with-mtime-ns"),
    ],
)
def test_cursor_round_trips(position: Position, sort: str, direction: str) -> None:
    assert decode_cursor(encode_cursor(position, sort, direction), sort, direction) == position


@pytest.mark.parametrize(
    ("cursor", "sort", "direction"),
    [
        pytest.param(encode_cursor(Position(False, 1, "a"), "date", "asc"), "name", "asc", id="cursor-of-another-sort"),
        pytest.param(encode_cursor(Position(False, 1, "a"), "date", "asc"), "date", "desc", id="cursor-of-another-order"),
        pytest.param("!!!", "name", "asc", id="not-base64"),
        pytest.param("bnVsbA", "name", "asc", id="json-but-not-a-list"),
        pytest.param(encode_cursor(Position(False, 1, "../x"), "name", "asc"), "name", "asc", id="traversal-name"),
        pytest.param(encode_cursor(Position(False, 1, ""), "name", "asc"), "name", "asc", id="empty-name"),
        pytest.param(encode_cursor(Position(False, -1, "a"), "size", "asc"), "size", "asc", id="negative-number"),
        pytest.param("_w", "name", "asc", id="not-utf8"),
    ],
)
def test_foreign_cursors_are_refused(cursor: str, sort: str, direction: str) -> None:
    assert decode_cursor(cursor, sort, direction) is None


SIBLINGS = ["Movie.mkv", "Movie.srt", "Movie.en.srt", "Movie.fr.vtt", "Movie.pt-BR.srt", "Movie.en.forced.srt",
            "Movie.sdh.srt", "Movie 2.srt", "Moviegoer.srt", "Movie.en.srt.bak", "Other.en.srt"]


@pytest.mark.parametrize(
    ("video", "expected"),
    [
        pytest.param(
            "Movie.mkv",
            [("Movie.en.forced.srt", "en", "English (forced)"), ("Movie.en.srt", "en", "English"), ("Movie.fr.vtt", "fr", "French"),
             ("Movie.pt-BR.srt", "pt-BR", "Portuguese"), ("Movie.sdh.srt", None, "sdh"), ("Movie.srt", None, "Subtitles")],
            id="same-base-name-with-language-codes",
        ),
        pytest.param("Other.mp4", [("Other.en.srt", "en", "English")], id="only-its-own-base-name"),
        pytest.param("Lonely.mp4", [], id="none-beside-it"),
    ],
)
def test_subtitle_tracks(video: str, expected: list[tuple[str, str | None, str]]) -> None:
    assert subtitle_tracks(video, SIBLINGS) == expected
