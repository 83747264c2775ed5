"""The JSON catalog: one folder of the media root, a page at a time.

``list_folder`` blocks (it scans a directory and stats a page of entries), so
the route runs it in a worker thread. A page costs O(limit) memory and one pass
over the folder whatever its size: the next ``limit`` entries after the cursor
are picked with a bounded heap, folders first, then by name. The cursor is the
last key of the previous page, so a page is stable while files come and go.
MP4 and MOV files are checked for "faststart" by walking their top-level box
headers (a few 16-byte reads), never by loading them.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from streamer.http.paths import is_served_name
from streamer.http.representation import Representation, kind_of
from streamer.sources.file import resolve_in_root

PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000
MAX_BOXES = 64  # top-level boxes walked before giving up on a faststart answer
FASTSTART_EXTENSIONS = (".mp4", ".m4v", ".m4a", ".mov")
SortKey = tuple[int, str]  # (0 for a folder, 1 for a file; name)


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


@dataclass(frozen=True)
class Page:
    path: str
    entries: list[Entry]
    next_cursor: str | None


def encode_cursor(key: SortKey) -> str:
    raw = ("d" if key[0] == 0 else "f") + key[1]
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> SortKey | None:
    """The key a cursor stands for, or ``None`` if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if raw[:1] not in ("d", "f") or not is_served_name(raw[1:]):
        return None
    return (0 if raw[0] == "d" else 1, raw[1:])


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


def _candidates(folder: str, after: SortKey | None) -> Iterator[tuple[SortKey, os.DirEntry[str]]]:
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_served_name(entry.name):
                continue
            try:
                key = (0 if entry.is_dir() else 1, entry.name)
            except OSError:
                continue
            if after is None or key > after:
                yield key, entry


def _entry(root: str, rel: tuple[str, ...], entry: os.DirEntry[str]) -> Entry | None:
    try:
        real = resolve_in_root(root, (*rel, entry.name))  # a symlink out of the root is never listed
        st = os.stat(real)
    except OSError:
        return None
    path = "/".join((*rel, entry.name))
    mtime = datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds")
    if stat.S_ISDIR(st.st_mode):
        return Entry(entry.name, path, "folder", None, None, mtime, None, f"api/media?path={quote(path)}", None)
    if not stat.S_ISREG(st.st_mode):
        return None
    rep = Representation.from_stat(st, entry.name)
    faststart = None
    if entry.name.lower().endswith(FASTSTART_EXTENSIONS):
        fd = os.open(real, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            faststart = read_faststart(fd, st.st_size)
        finally:
            os.close(fd)
    kind = kind_of(rep.media_type).value
    return Entry(entry.name, path, kind, st.st_size, rep.media_type, mtime, str(rep.etag), f"media/{quote(path)}", faststart)


def list_folder(root: str, rel: tuple[str, ...], cursor: SortKey | None, limit: int) -> Page:
    """One page of the folder ``root/rel``; raises ``FileNotFoundError`` if it is not a visible folder."""
    folder = resolve_in_root(root, rel)
    if not os.path.isdir(folder):
        raise FileNotFoundError(folder)
    chosen = heapq.nsmallest(limit + 1, _candidates(folder, cursor), key=lambda pair: pair[0])
    more = len(chosen) > limit
    chosen = chosen[:limit]
    entries = [entry for _, dir_entry in chosen if (entry := _entry(root, rel, dir_entry)) is not None]
    next_cursor = encode_cursor(chosen[-1][0]) if more else None
    return Page("/".join(rel), entries, next_cursor)
