"""Matroska (EBML) elements to keyframe times: bytes in, values out, no I/O.

An element is an ID (a variable-length integer that keeps its marker bits) and a
size (one that drops them; all ones means unknown). A video track's keyframes
are the ``CueTime`` of every ``CuePoint`` that names it and its Cluster, in ``TimestampScale``
nanoseconds. Times are exact ``Fraction`` seconds; malformed input gives ``None``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

EBML_HEADER = 0x1A45DFA3
SEGMENT = 0x18538067
SEEK_HEAD, SEEK, SEEK_ID, SEEK_POSITION = 0x114D9B74, 0x4DBB, 0x53AB, 0x53AC
INFO, TIMESTAMP_SCALE, DURATION = 0x1549A966, 0x2AD7B1, 0x4489
TRACKS, TRACK_ENTRY, TRACK_NUMBER, TRACK_TYPE = 0x1654AE6B, 0xAE, 0xD7, 0x83
CUES, CUE_POINT, CUE_TIME, CUE_TRACK_POSITIONS, CUE_TRACK = 0x1C53BB6B, 0xBB, 0xB3, 0xB7, 0xF7
CUE_CLUSTER_POSITION = 0xF1
VIDEO_TRACK = 1
DEFAULT_SCALE_NS = 1_000_000
MAX_ID_BYTES, MAX_SIZE_BYTES = 4, 8
UNKNOWN = -1  # the size of an element that runs to the end of its parent


@dataclass(frozen=True)
class Element:
    id: int
    start: int  # of the header
    payload: int
    end: int  # len(data) or the parent's end for an unknown size


def read_vint(data: bytes, offset: int, max_bytes: int, keep_marker: bool) -> tuple[int, int] | None:
    """(value, length) of the variable-length integer at ``offset``; ``UNKNOWN`` for an all-ones size."""
    if offset >= len(data) or data[offset] == 0:
        return None
    length = 9 - data[offset].bit_length()
    if length > max_bytes or offset + length > len(data):
        return None
    value = int.from_bytes(data[offset : offset + length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    return (UNKNOWN if value == (1 << (7 * length)) - 1 else value), length


def parse_element_header(data: bytes, offset: int = 0, limit: int | None = None) -> Element | None:
    """The element whose header starts at ``offset``, or ``None`` if the header is cut short or malformed."""
    limit = len(data) if limit is None else limit
    ident = read_vint(data, offset, MAX_ID_BYTES, keep_marker=True)
    if ident is None:
        return None
    size = read_vint(data, offset + ident[1], MAX_SIZE_BYTES, keep_marker=False)
    if size is None:
        return None
    payload = offset + ident[1] + size[1]
    end = limit if size[0] == UNKNOWN else payload + size[0]
    return Element(ident[0], offset, payload, end) if payload <= limit else None


def iter_elements(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Element | None]:
    """The elements in ``data[start:end]``; ``None`` last if one is malformed or overruns its parent."""
    end = len(data) if end is None else end
    offset = start
    while offset < end:
        element = parse_element_header(data, offset, end)
        if element is None or element.end > end:
            yield None
            return
        yield element
        offset = element.end


def _children(data: bytes, parent: Element) -> list[Element] | None:
    found = list(iter_elements(data, parent.payload, parent.end))
    return None if None in found else found  # type: ignore[return-value]


def _uint(data: bytes, element: Element) -> int | None:
    size = element.end - element.payload
    return int.from_bytes(data[element.payload : element.end], "big") if 0 <= size <= 8 else None  # empty: 0


def _float(data: bytes, element: Element) -> float | None:
    size = element.end - element.payload
    if size not in (4, 8):
        return None
    return struct.unpack_from(">f" if size == 4 else ">d", data, element.payload)[0]


def _top(data: bytes, wanted: int) -> Element | None:
    top = parse_element_header(data)
    return top if top is not None and top.id == wanted and top.end <= len(data) else None


def parse_segment_start(data: bytes) -> tuple[int, int] | None:
    """(offset of the Segment's payload, of its end or -1 if unknown) in a file starting with ``data``."""
    header = parse_element_header(data)
    if header is None or header.id != EBML_HEADER:
        return None
    segment = parse_element_header(data, header.end, header.end + 12 if header.end + 12 <= len(data) else len(data))
    if segment is None or segment.id != SEGMENT:
        return None
    size = read_vint(data, segment.start + 4, MAX_SIZE_BYTES, keep_marker=False)
    return segment.payload, (-1 if size is None or size[0] == UNKNOWN else segment.end)


def parse_seek_head(data: bytes) -> dict[int, int] | None:
    """Element ID → position relative to the Segment payload, from a ``SeekHead`` element."""
    top = _top(data, SEEK_HEAD)
    seeks = _children(data, top) if top else None
    if seeks is None:
        return None
    positions: dict[int, int] = {}
    for seek in seeks:
        fields = {e.id: e for e in _children(data, seek) or []} if seek.id == SEEK else {}
        if SEEK_ID in fields and SEEK_POSITION in fields:
            ident, position = _uint(data, fields[SEEK_ID]), _uint(data, fields[SEEK_POSITION])
            if ident is not None and position is not None:
                positions.setdefault(ident, position)
    return positions


def parse_info(data: bytes) -> tuple[int, Fraction | None] | None:
    """(TimestampScale in ns, Duration in s or None) from an ``Info`` element."""
    top = _top(data, INFO)
    children = _children(data, top) if top else None
    if children is None:
        return None
    fields = {e.id: e for e in children}
    scale = _uint(data, fields[TIMESTAMP_SCALE]) if TIMESTAMP_SCALE in fields else DEFAULT_SCALE_NS
    duration = _float(data, fields[DURATION]) if DURATION in fields else None
    if not scale or (DURATION in fields and (duration is None or not 0 <= duration < 1e15)):
        return None
    seconds = Fraction(duration) * scale / 1_000_000_000 if duration is not None else None
    return scale, seconds


def parse_video_tracks(data: bytes) -> list[int] | None:
    """Numbers of the video tracks in a ``Tracks`` element."""
    top = _top(data, TRACKS)
    entries = _children(data, top) if top else None
    if entries is None:
        return None
    numbers = []
    for entry in entries:
        fields = {e.id: e for e in _children(data, entry) or []} if entry.id == TRACK_ENTRY else {}
        if TRACK_NUMBER in fields and TRACK_TYPE in fields and _uint(data, fields[TRACK_TYPE]) == VIDEO_TRACK:
            numbers.append(_uint(data, fields[TRACK_NUMBER]))
    return [n for n in numbers if n is not None]


def parse_cue_clusters(data: bytes, track: int) -> tuple[tuple[int, int], ...] | None:
    """(CueTime in ticks, CueClusterPosition from the Segment's payload) of ``track``'s cue points, by time;
    ``None`` if malformed or none."""
    top = _top(data, CUES)
    points = _children(data, top) if top else None
    if points is None:
        return None
    found = set()
    for point in points:
        fields = _children(data, point) if point.id == CUE_POINT else []
        if fields is None:
            return None
        time = next((_uint(data, e) for e in fields if e.id == CUE_TIME), None)
        for positions in (e for e in fields if e.id == CUE_TRACK_POSITIONS):
            entry = {c.id: c for c in _children(data, positions) or []}
            if CUE_TRACK in entry and CUE_CLUSTER_POSITION in entry and _uint(data, entry[CUE_TRACK]) == track:
                position = _uint(data, entry[CUE_CLUSTER_POSITION])
                if time is not None and position is not None:
                    found.add((time, position))
    return tuple(sorted(found)) or None


def parse_cues(data: bytes, track: int, scale_ns: int) -> tuple[Fraction, ...] | None:
    """Sorted cue times in seconds of ``track`` from a ``Cues`` element; ``None`` if malformed or none."""
    cues = parse_cue_clusters(data, track)
    return tuple(sorted({Fraction(time * scale_ns, 1_000_000_000) for time, _ in cues})) if cues else None
