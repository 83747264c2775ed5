"""ISO BMFF (MP4, MOV) boxes to keyframe times: bytes in, values out, no I/O.

A video track's keyframes are its ``stss`` sample numbers (every sample when
there is no ``stss``); a sample's presentation time is its decode time from
``stts`` plus its ``ctts`` offset, moved by the first edit of ``elst``. Times
are exact ``Fraction`` seconds. Malformed or missing boxes give ``None``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate

HEADER = 8  # size (4) + type (4); a 64-bit size adds 8 more
CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts")


@dataclass(frozen=True)
class Box:
    type: bytes
    start: int  # of the header
    payload: int  # where the payload starts
    end: int


@dataclass(frozen=True)
class TrackKeyframes:
    track_id: int
    times: tuple[Fraction, ...]
    duration: Fraction


def parse_box_header(data: bytes, offset: int = 0, limit: int | None = None) -> Box | None:
    """The box whose header starts at ``offset``; ``None`` if the header is cut short or lies about its size."""
    limit = len(data) if limit is None else limit
    if offset + HEADER > min(limit, len(data)):
        return None
    size, kind = struct.unpack_from(">I4s", data, offset)
    payload = offset + HEADER
    if size == 1:
        if payload + 8 > min(limit, len(data)):
            return None
        (size,) = struct.unpack_from(">Q", data, payload)
        payload += 8
    elif size == 0:  # extends to the end of its parent
        size = limit - offset
    if size < payload - offset:
        return None
    return Box(kind, offset, payload, offset + size)


def iter_boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box | None]:
    """The boxes in ``data[start:end]``; a ``None`` last if one is malformed or overruns its parent."""
    end = len(data) if end is None else end
    offset = start
    while offset < end:
        box = parse_box_header(data, offset, end)
        if box is None or box.end > end:
            yield None
            return
        yield box
        offset = box.end


def child_boxes(data: bytes, parent: Box) -> dict[bytes, list[Box]] | None:
    found: dict[bytes, list[Box]] = {}
    for box in iter_boxes(data, parent.payload, parent.end):
        if box is None:
            return None
        found.setdefault(box.type, []).append(box)
    return found


def _find(data: bytes, parent: Box, *path: bytes) -> Box | None:
    box: Box | None = parent
    for kind in path:
        children = child_boxes(data, box) if box is not None else None
        box = children[kind][0] if children and kind in children else None
    return box


def _full(data: bytes, box: Box, layout: str) -> tuple[int, tuple[int, ...]] | None:
    """The version and the fields after version+flags of a full box, or ``None`` if too short."""
    if box.payload + 4 > box.end:
        return None
    version = data[box.payload]
    size = struct.calcsize(layout)
    if box.payload + 4 + size > box.end:
        return None
    return version, struct.unpack_from(layout, data, box.payload + 4)


def _table(data: bytes, box: Box | None, entry: str) -> list[tuple[int, ...]] | None:
    """The entries of a ``count`` + array full box (stts, ctts, stss); ``None`` if absent or cut short."""
    if box is None or (head := _full(data, box, ">I")) is None:
        return None
    count = head[1][0]
    size = struct.calcsize(entry)
    start = box.payload + 8
    if start + count * size > box.end:
        return None
    return list(struct.iter_unpack(entry, data[start : start + count * size]))


def _timescale(data: bytes, mdhd: Box | None) -> int | None:
    if mdhd is None or (head := _full(data, mdhd, ">II")) is None:
        return None
    version = head[0]
    fields = _full(data, mdhd, ">QQIQ" if version == 1 else ">IIII")
    return fields[1][2] or None if fields else None


def _edit(data: bytes, elst: Box | None, movie_scale: int) -> tuple[int, Fraction, Fraction | None] | None:
    """(media time of the first edit, empty time before it in s, its duration in s or None)."""
    if elst is None:
        return 0, Fraction(0), None
    head = _full(data, elst, ">B")
    if head is None:
        return None
    entries = _table(data, elst, ">Qqi" if head[0] == 1 else ">Iii")
    if entries is None:
        return None
    delay = Fraction(0)
    for duration, media_time, _rate in entries:
        if media_time == -1:
            delay += Fraction(duration, movie_scale)
            continue
        return media_time, delay, Fraction(duration, movie_scale) if duration else None
    return 0, delay, None


def _sample_times(runs: list[tuple[int, ...]], samples: list[int]) -> list[int] | None:
    """The value of a run-length table (``stts`` deltas summed, or ``ctts`` offsets) at 1-based ``samples``."""
    out: list[int] = []
    run, first, base = 0, 1, 0  # run index, its first sample, the sum before it
    for sample in samples:
        while run < len(runs) and sample >= first + runs[run][0]:
            first, base = first + runs[run][0], base + runs[run][0] * runs[run][1]
            run += 1
        if run == len(runs):
            return None
        out.append(base + (sample - first) * runs[run][1])
    return out


def _offsets(runs: list[tuple[int, ...]], samples: list[int]) -> list[int] | None:
    expanded: list[int] = []
    ends = list(accumulate(count for count, _ in runs))
    run = 0
    for sample in samples:
        while run < len(ends) and sample > ends[run]:
            run += 1
        if run == len(ends):
            return None
        expanded.append(runs[run][1])
    return expanded


def _video_track(data: bytes, trak: Box, movie_scale: int) -> list[TrackKeyframes] | None:
    """``[keyframes]`` of a video track; ``[]`` for another track or one without samples here; ``None`` if malformed."""
    hdlr = _find(data, trak, b"mdia", b"hdlr")
    if hdlr is None or (head := _full(data, hdlr, ">I4s")) is None:
        return None
    if head[1][1] != b"vide":
        return []
    tkhd = _find(data, trak, b"tkhd")
    ident = _full(data, tkhd, ">QQI" if data[tkhd.payload] == 1 else ">III") if tkhd else None
    scale = _timescale(data, _find(data, trak, b"mdia", b"mdhd"))
    stbl = _find(data, trak, b"mdia", b"minf", b"stbl")
    if ident is None or scale is None or stbl is None:
        return None
    children = child_boxes(data, stbl) or {}
    stts = _table(data, children.get(b"stts", [None])[0], ">II")
    if not stts or not any(count for count, _ in stts):
        return [] if stts is not None else None  # no samples here (a fragmented file): the caller demuxes
    total = sum(count for count, _ in stts)
    stss = _table(data, children[b"stss"][0], ">I") if b"stss" in children else [(n,) for n in range(1, total + 1)]
    edit = _edit(data, _find(data, trak, b"edts", b"elst"), movie_scale)
    if stss is None or edit is None or any(not 1 <= n <= total for (n,) in stss):
        return None
    numbers = sorted({n for (n,) in stss})
    decode = _sample_times(stts, numbers)
    ctts = _table(data, children[b"ctts"][0], ">Ii" if data[children[b"ctts"][0].payload] == 1 else ">II") if b"ctts" in children else [(total, 0)]
    shifts = _offsets(ctts, numbers) if ctts is not None else None
    if decode is None or shifts is None:
        return None
    media_time, delay, edited = edit
    times = tuple(sorted(Fraction(d + c - media_time, scale) + delay for d, c in zip(decode, shifts)))
    end = sum(count * delta for count, delta in stts)
    duration = edited + delay if edited is not None else Fraction(end - media_time, scale) + delay
    return [TrackKeyframes(ident[1][2], times, duration)]


@dataclass(frozen=True)
class SampleTiming:
    """What ``ctts`` and ``stts`` say of a track's samples beyond FFmpeg's index of them."""

    count: int  # samples, from ``stsz``
    offsets: tuple[tuple[int, int], ...]  # ``ctts`` runs: (samples, composition minus decode time), signed as FFmpeg reads them
    last_duration: int  # the last ``stts`` delta: the last sample's duration


def _version(data: bytes, box: Box) -> int | None:
    return data[box.payload] if box.payload < box.end else None


def sample_timing(data: bytes) -> dict[int, SampleTiming] | None:
    """Track id → its ``SampleTiming``, from a ``moov`` box (``data`` starts at its header); ``None`` if malformed.
    The ``ctts`` runs are kept as runs: their counts are the file's word until checked against the samples."""
    moov = parse_box_header(data)
    if moov is None or moov.type != b"moov" or moov.end > len(data):
        return None
    found: dict[int, SampleTiming] = {}
    for trak in (child_boxes(data, moov) or {}).get(b"trak", []):
        tkhd, stbl = _find(data, trak, b"tkhd"), _find(data, trak, b"mdia", b"minf", b"stbl")
        version = _version(data, tkhd) if tkhd else None
        ident = _full(data, tkhd, ">QQI" if version == 1 else ">III") if tkhd and version is not None else None
        if ident is None or stbl is None:
            return None
        stsz, ctts, stts = (_find(data, stbl, kind) for kind in (b"stsz", b"ctts", b"stts"))
        sizes = _full(data, stsz, ">II") if stsz else None
        runs = _table(data, ctts, ">Ii") if ctts and _version(data, ctts) is not None else ([] if ctts is None else None)
        deltas = _table(data, stts, ">II") if stts else None
        if runs is None or sizes is None or deltas is None:
            return None
        last = next((delta for count, delta in reversed(deltas) if count), 0)
        found[ident[1][2]] = SampleTiming(sizes[1][1], tuple((count, offset) for count, offset in runs), last)
    return found


def parse_moov(data: bytes) -> list[TrackKeyframes] | None:
    """Keyframes of every video track in a ``moov`` box (``data`` starts at its header); ``None`` if malformed."""
    moov = parse_box_header(data)
    if moov is None or moov.type != b"moov" or moov.end > len(data):
        return None
    children = child_boxes(data, moov)
    mvhd = children.get(b"mvhd", [None])[0] if children else None
    if mvhd is None or (head := _full(data, mvhd, ">II")) is None:
        return None
    fields = _full(data, mvhd, ">QQI" if head[0] == 1 else ">III")
    movie_scale = fields[1][2] if fields else 0
    if not movie_scale:
        return None
    tracks = [_video_track(data, trak, movie_scale) for trak in children.get(b"trak", [])]
    return None if None in tracks else [track for found in tracks for track in found]  # type: ignore[union-attr]
