"""The keyframe index of a file's first video stream, from the container's own index.

MP4/MOV: only the ``moov`` box is read (``streamer.media.bmff``); Matroska/WebM:
only the SeekHead, Info, Tracks and Cues elements (``streamer.media.ebml``).
Anything else, or an index that is missing or malformed, falls back to a PyAV
demux of packet headers (never a decode). The index is read from a path or from
any seekable binary reader (an object in a store through ranged GETs reads the
same bytes). Results are cached in SQLite under the cache directory, keyed by an
identity (a file's path, size and mtime; an object's key, size and ETag). All
functions here block.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from streamer.media import bmff, ebml

HEAD_BYTES = 64 * 1024  # where Matroska's SeekHead, Info and Tracks are, in practice
MAX_INDEX_BYTES = 256 << 20  # a moov or Cues larger than this is not read
MAX_TOP_BOXES = 10_000
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
INDEX_VERSION = 2  # bump when the index of a file would change: older entries are ignored


@dataclass(frozen=True)
class KeyframeIndex:
    """Presentation times (s) of the keyframes of the first video stream, where it ends (s), and where the file
    starts (s): 0, but for a stream whose clock starts elsewhere (an MPEG-TS recording's, read by demuxing)."""

    times: tuple[float, ...]
    duration: float  # the end: the start plus the length
    origin: str  # "moov", "cues" or "demux"
    start: float = 0.0


def read_at(file: BinaryIO, offset: int, length: int) -> bytes:
    """Up to ``length`` bytes at ``offset``: fewer only at the end of the file."""
    file.seek(offset)
    parts, left = [], length
    while left > 0:
        part = file.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_moov(file: BinaryIO, size: int) -> bytes | None:
    """The ``moov`` box of an MP4/MOV file ``size`` bytes long, found among its top-level boxes; ``None`` if
    there is none, or it is larger than ``MAX_INDEX_BYTES``."""
    offset = 0
    for _ in range(MAX_TOP_BOXES):
        box = bmff.parse_box_header(read_at(file, offset, 16), 0, size - offset)
        if box is None:
            return None
        if box.type == b"moov":
            return read_at(file, offset, box.end) if box.end <= MAX_INDEX_BYTES else None
        offset += box.end
        if offset >= size:
            return None
    return None


def _from_moov(fd: BinaryIO, size: int) -> KeyframeIndex | None:
    moov = read_moov(fd, size)
    tracks = bmff.parse_moov(moov) if moov is not None else None
    if not tracks or not tracks[0].times:
        return None
    return KeyframeIndex(tuple(map(float, tracks[0].times)), float(tracks[0].duration), "moov")


@dataclass(frozen=True)
class MatroskaHead:
    """What a Matroska file's SeekHead points at, read whole (``b""`` where an element could not be read)."""

    segment: int  # where the Segment's payload starts: positions count from here
    end: int  # where the Segment ends, or the file
    info: bytes
    tracks: bytes
    cues: bytes


def _element(fd: BinaryIO, position: int, limit: int) -> bytes:
    """The whole element at ``position``: its header first, then the rest."""
    head = read_at(fd, position, 16)
    element = ebml.parse_element_header(head, 0, 1 << 62)
    if element is None or element.end > min(MAX_INDEX_BYTES, limit - position):
        return b""
    return read_at(fd, position, element.end)


def read_matroska_head(fd: BinaryIO, size: int) -> MatroskaHead | None:
    """The Info, Tracks and Cues elements of a Matroska file ``size`` bytes long, through its SeekHead."""
    head = read_at(fd, 0, HEAD_BYTES)
    start = ebml.parse_segment_start(head)
    if start is None:
        return None
    segment = start[0]
    first = ebml.parse_element_header(head, segment)
    if first is None or first.id != ebml.SEEK_HEAD or first.end > len(head):
        return None
    seeks = ebml.parse_seek_head(head[first.start : first.end])
    if not seeks or not {ebml.INFO, ebml.TRACKS, ebml.CUES} <= seeks.keys():
        return None
    info, tracks, cues = (_element(fd, segment + seeks[ident], size) for ident in (ebml.INFO, ebml.TRACKS, ebml.CUES))
    return MatroskaHead(segment, min(size, start[1]) if start[1] >= 0 else size, info, tracks, cues)


def _from_cues(fd: BinaryIO, size: int) -> KeyframeIndex | None:
    head = read_matroska_head(fd, size)
    info = ebml.parse_info(head.info) if head else None
    tracks = ebml.parse_video_tracks(head.tracks) if head else None
    if head is None or info is None or not tracks or info[1] is None:
        return None
    times = ebml.parse_cues(head.cues, tracks[0], info[0])
    if times is None:
        return None
    return KeyframeIndex(tuple(map(float, times)), float(info[1]), "cues")


def _from_demux(source: str | BinaryIO) -> KeyframeIndex | None:
    """Keyframe flags of the packets of the first video stream: headers only, nothing decoded."""
    import av  # imported here: the server starts without PyAV

    try:
        if not isinstance(source, str):
            source.seek(0)
        with av.open(source) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            begins = container.start_time / av.time_base if container.start_time is not None else 0.0
            times: list[Fraction] = []
            end = Fraction(0)
            for packet in container.demux(stream):
                if packet.pts is None or packet.time_base is None:
                    continue
                start = packet.pts * packet.time_base
                end = max(end, start + (packet.duration or 0) * packet.time_base)
                if packet.is_keyframe:
                    times.append(start)
    except (av.FFmpegError, OSError, ValueError):
        return None
    if not times:
        return None
    return KeyframeIndex(tuple(float(t) for t in sorted(times)), float(end), "demux", float(begins))


def read_keyframes(source: str | os.PathLike[str] | BinaryIO) -> KeyframeIndex | None:
    """The keyframe index of the file at ``source`` (a path or a seekable binary reader), or ``None``
    if it has no video or cannot be read."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            return _read_index(file) or _from_demux(os.fspath(source))
    return _read_index(source) or _from_demux(source)


def _read_index(file: BinaryIO) -> KeyframeIndex | None:
    size = file.seek(0, os.SEEK_END)
    magic = read_at(file, 0, 12)
    if magic.startswith(EBML_MAGIC):
        return _from_cues(file, size)
    if magic[4:8] in (b"ftyp", b"moov", b"free", b"wide", b"mdat", b"skip"):
        return _from_moov(file, size)
    return None


class KeyframeCache:
    """Keyframe indexes in one SQLite file, keyed by the file's path, size and mtime."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None) -> None:
        self.path = Path(cache_dir) / "keyframes.sqlite" if cache_dir is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.execute("CREATE TABLE IF NOT EXISTS keyframes (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5.0)

    def get(self, path: str, st: os.stat_result, read_from: str | None = None) -> KeyframeIndex | None:
        """The index of ``path`` as it is in ``st``: from the cache, else read (from ``read_from`` if given) and stored."""
        return self.lookup([path, st.st_size, st.st_mtime_ns], lambda: read_keyframes(read_from or path))

    def lookup(self, identity: Sequence[str | int], read: Callable[[], KeyframeIndex | None]) -> KeyframeIndex | None:
        """The index of the version ``identity`` names: from the cache, else ``read()`` and stored."""
        key = json.dumps([INDEX_VERSION, *identity])
        if self.path is not None:
            with closing(self._connect()) as db:
                row = db.execute("SELECT value FROM keyframes WHERE key = ?", (key,)).fetchone()
            if row is not None:
                value = json.loads(row[0])
                return KeyframeIndex(tuple(value["times"]), value["duration"], value["origin"], value["start"]) if value else None
        index = read()
        if self.path is not None:
            value = {"times": index.times, "duration": index.duration, "origin": index.origin, "start": index.start} if index else None
            with closing(self._connect()) as db, db:
                db.execute("INSERT OR REPLACE INTO keyframes VALUES (?, ?)", (key, json.dumps(value)))
        return index
