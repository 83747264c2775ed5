"""The JSON catalog: one folder of the media root, a page at a time.

``list_folder`` blocks (it scans a directory and stats a page of entries), so
the route runs it in a worker thread. A page costs O(limit) memory and one pass
over the folder whatever its size: the next ``limit`` entries after the cursor
are picked with a bounded heap in the order of ``streamer.sources.listing``
(folders first, then by natural name, date or size). The same pass counts the
folder's visible entries and notes its subtitle files. MP4 and MOV files are
checked for "faststart" by walking their top-level box headers (a few 16-byte
reads), never by loading them. URLs are relative, so a mounted app works.
"""

from __future__ import annotations

import heapq
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from streamer.http.paths import is_served_name
from streamer.http.representation import Kind, Representation, kind_of
from streamer.sources.file import open_real_path, resolve_in_root
from streamer.sources.listing import SUBTITLE_EXTENSIONS, Position, encode_cursor, sort_key, subtitle_tracks

PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000
MAX_BOXES = 64  # top-level boxes walked before giving up on a faststart answer
COUNT_CAP = 10_000  # a sub-folder's entries are counted up to this (one scandir, no stat), then "10000+"
MAX_SUBTITLE_NAMES = 10_000  # subtitle names remembered per scan: memory stays bounded in a folder of them
FASTSTART_EXTENSIONS = (".mp4", ".m4v", ".m4a", ".mov")
THUMB_KINDS = (Kind.IMAGE.value, Kind.VIDEO.value, Kind.AUDIO.value)


@dataclass(frozen=True)
class Subtitle:
    url: str
    language: str | None
    label: str


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    kind: str
    size: int | None
    media_type: str | None
    mtime: str
    etag: str | None
    url: str
    faststart: bool | None
    thumb: str | None = None
    subtitles: list[Subtitle] = field(default_factory=list)
    count: int | None = None  # a folder's visible entries, up to COUNT_CAP
    real_path: str = field(default="", repr=False)  # for the prober; not part of the JSON
    mtime_ns: int = field(default=0, repr=False)


@dataclass(frozen=True)
class Page:
    path: str
    total: int
    entries: list[Entry]
    next_cursor: str | None


def parse_box_header(header: bytes, remaining: int) -> tuple[str, int] | None:
    """ISO BMFF box header → (type, total size); ``None`` if malformed. Size 0 means "to the end"."""
    if len(header) < 8:
        return None
    size, kind = struct.unpack(">I4s", header[:8])
    if size == 1:
        if len(header) < 16:
            return None
        size = struct.unpack(">Q", header[8:16])[0]
    elif size == 0:
        size = remaining
    if size < 8 or size > remaining:
        return None
    return kind.decode("latin-1"), size


def read_faststart(fd: int, size: int) -> bool | None:
    """True if ``moov`` comes before ``mdat`` at the top level, False if after, None if unknown."""
    offset = 0
    for _ in range(MAX_BOXES):
        box = parse_box_header(os.pread(fd, 16, offset), size - offset)
        if box is None:
            return None
        kind, length = box
        if kind in ("moov", "mdat"):
            return kind == "moov"
        offset += length
    return None


@dataclass
class _Scan:
    """What one pass over a folder learns besides the page: its visible count and subtitle names."""

    total: int = 0
    subtitles: list[str] = field(default_factory=list)


def _position(entry: os.DirEntry[str], sort: str) -> Position:
    folder = entry.is_dir()
    if sort == "name":
        return Position(folder, 0, entry.name)
    st = entry.stat()
    return Position(folder, st.st_mtime_ns if sort == "date" else (0 if folder else st.st_size), entry.name)


def _candidates(folder: str, after: Position | None, sort: str, order: str, scan: _Scan) -> Iterator[tuple[Any, Position, os.DirEntry[str]]]:
    bound = sort_key(after, sort, order) if after is not None else None
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_served_name(entry.name):
                continue
            scan.total += 1
            if entry.name.rpartition(".")[2].lower() in SUBTITLE_EXTENSIONS and len(scan.subtitles) < MAX_SUBTITLE_NAMES:
                scan.subtitles.append(entry.name)
            try:
                position = _position(entry, sort)
            except OSError:
                continue
            key = sort_key(position, sort, order)
            if bound is None or key > bound:
                yield key, position, entry


def _subtitles(rel: tuple[str, ...], name: str, names: list[str]) -> list[Subtitle]:
    return [Subtitle("subtitles/" + quote("/".join((*rel, n))), language, label) for n, language, label in subtitle_tracks(name, names)]


def count_visible(folder: str) -> int | None:
    """How many entries of ``folder`` a listing would show, up to ``COUNT_CAP``; ``None`` if unreadable."""
    count = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                count += is_served_name(entry.name)
                if count >= COUNT_CAP:
                    break
    except OSError:
        return None
    return count


def _entry(root: str, rel: tuple[str, ...], entry: os.DirEntry[str], subtitle_names: list[str]) -> Entry | None:
    try:
        real = resolve_in_root(root, (*rel, entry.name))  # a symlink out of the root is never listed
        st = os.stat(real)
    except OSError:
        return None
    path = "/".join((*rel, entry.name))
    mtime = datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds")
    if stat.S_ISDIR(st.st_mode):
        url = f"api/media?path={quote(path)}"
        return Entry(entry.name, path, "folder", None, None, mtime, None, url, None, count=count_visible(real))
    if not stat.S_ISREG(st.st_mode):
        return None
    rep = Representation.from_stat(st, entry.name)
    faststart = None
    if entry.name.lower().endswith(FASTSTART_EXTENSIONS):
        try:
            fd = open_real_path(real)  # along the checked path, following no symlink
        except OSError:  # it changed since it was listed: no answer rather than a wrong one
            fd = -1
        if fd >= 0:
            try:
                faststart = read_faststart(fd, st.st_size)
            finally:
                os.close(fd)
    kind = kind_of(rep.media_type).value
    return Entry(
        entry.name, path, kind, st.st_size, rep.media_type, mtime, str(rep.etag), f"media/{quote(path)}", faststart,
        thumb=f"thumbs/{quote(path)}" if kind in THUMB_KINDS else None,
        subtitles=_subtitles(rel, entry.name, subtitle_names) if kind == Kind.VIDEO.value else [],
        real_path=real, mtime_ns=st.st_mtime_ns,
    )


def list_folder(
    root: str, rel: tuple[str, ...], cursor: Position | None, limit: int, sort: str = "name", order: str = "asc"
) -> Page:
    """One page of the folder ``root/rel``; raises ``FileNotFoundError`` if it is not a visible folder."""
    folder = resolve_in_root(root, rel)
    if not os.path.isdir(folder):
        raise FileNotFoundError(folder)
    scan = _Scan()
    chosen = heapq.nsmallest(limit + 1, _candidates(folder, cursor, sort, order, scan), key=lambda found: found[0])
    more = len(chosen) > limit
    chosen = chosen[:limit]
    entries = [entry for _, _, dir_entry in chosen if (entry := _entry(root, rel, dir_entry, scan.subtitles)) is not None]
    next_cursor = encode_cursor(chosen[-1][1], sort, order) if more else None
    return Page("/".join(rel), scan.total, entries, next_cursor)
