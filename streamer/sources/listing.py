"""How a folder listing is ordered and resumed: natural sort keys, cursors, and sibling subtitles.

Folders always come first. Names sort naturally ("Episode 2" before "Episode 10"), without
regard to case, ties broken by the exact name so the order is total and stable. A cursor is
the sort key of the last entry of a page, tagged with its sort and order: a cursor made for
one sort is refused by another. No I/O in this module.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Any

from streamer.http.paths import is_served_name

SORTS = ("name", "date", "size")
ORDERS = ("asc", "desc")
SUBTITLE_EXTENSIONS = ("srt", "vtt")
MAX_CURSOR_NUMBER = 1 << 63
_DIGITS = re.compile(r"([0-9]+)")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})?", re.IGNORECASE)
LANGUAGE_NAMES = {
    "en": "English", "eng": "English", "fr": "French", "fre": "French", "fra": "French", "de": "German",
    "ger": "German", "deu": "German", "es": "Spanish", "spa": "Spanish", "it": "Italian", "ita": "Italian",
    "pt": "Portuguese", "por": "Portuguese", "nl": "Dutch", "nld": "Dutch", "ja": "Japanese", "jpn": "Japanese",
    "zh": "Chinese", "chi": "Chinese", "zho": "Chinese", "ko": "Korean", "kor": "Korean", "ru": "Russian",
    "rus": "Russian", "sv": "Swedish", "pl": "Polish", "ar": "Arabic", "tr": "Turkish", "el": "Greek",
}


def natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Runs of ASCII digits compare as numbers, the rest case-insensitively; the exact name breaks ties."""
    parts = _DIGITS.split(name.casefold())
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts)), name


@total_ordering
class Descending:
    """Wraps a key so that it sorts in reverse (``heapq.nsmallest`` then yields the largest first)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: Descending) -> bool:
        return bool(other.key < self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Descending) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


@dataclass(frozen=True)
class Position:
    """Where an entry sits: folder or file, the sorted quantity (mtime_ns or size; 0 for name), its name."""

    folder: bool
    number: int
    name: str


def sort_key(position: Position, sort: str, order: str) -> tuple[int, Any]:
    """The key pages are cut by: folders first, then by ``sort`` in ``order``, then by name."""
    inner = (position.number if sort != "name" else 0, natural_key(position.name))
    return (0 if position.folder else 1, Descending(inner) if order == "desc" else inner)


def encode_cursor(position: Position, sort: str, order: str) -> str:
    raw = json.dumps([sort, order, int(position.folder), position.number, position.name], ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, sort: str, order: str) -> Position | None:
    """The position a cursor stands for, or ``None`` if it is not one of ours for this sort and order."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(raw, list) or len(raw) != 5 or raw[:2] != [sort, order]:
        return None
    _, _, folder, number, name = raw
    if folder not in (0, 1) or type(number) is not int or not 0 <= number < MAX_CURSOR_NUMBER:
        return None
    if not isinstance(name, str) or not is_served_name(name):
        return None
    return Position(bool(folder), number, name)


def subtitle_tracks(video_name: str, names: list[str]) -> list[tuple[str, str | None, str]]:
    """``(file name, language, label)`` of each .srt/.vtt beside ``video_name`` with its base name.

    ``movie.srt`` has no language; ``movie.en.srt`` is English; ``movie.en.forced.srt`` is
    "English (forced)"; a middle part that is no language code becomes the label as written.
    """
    stem = video_name.rpartition(".")[0] or video_name
    tracks = []
    for name in sorted(names, key=natural_key):
        base, _, extension = name.rpartition(".")
        if extension.lower() not in SUBTITLE_EXTENSIONS:
            continue
        if base == stem:
            tracks.append((name, None, "Subtitles"))
        elif base.startswith(stem + ".") and len(base) > len(stem) + 1:
            first, _, rest = base[len(stem) + 1 :].partition(".")
            primary = first.lower().partition("-")[0]
            if _LANGUAGE.fullmatch(first) and (len(primary) == 2 or primary in LANGUAGE_NAMES):  # "sdh" is no language
                language = first
                label = LANGUAGE_NAMES.get(primary, first) + (f" ({rest})" if rest else "")
            else:
                language, label = None, base[len(stem) + 1 :]
            tracks.append((name, language, label))
    return tracks
