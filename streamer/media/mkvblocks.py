"""Matroska tracks and the frames of a Cluster: bytes in, values out, no I/O.

Rule: a frame is a ``SimpleBlock``, or the ``Block`` of a ``BlockGroup``, of one track; its
time is the Cluster's ``Timestamp`` plus the block's signed 16-bit offset, in TimestampScale
ticks; a SimpleBlock is a keyframe when its flag says so, a BlockGroup when it has no
``ReferenceBlock``. A frame's bytes are where the block's header ends up to the block's end
(positions into the data given). A laced block (several frames in one: Xiph, fixed-size or EBML
lacing, as mkvmerge writes sound) gives each frame its share of the block's duration (its
BlockDuration, else the track's DefaultDuration times the count), the first at the block's time,
as FFmpeg's demuxer does; a laced block without a duration is refused (``None``), as is anything
malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from streamer.media.ebml import TRACK_ENTRY, TRACK_NUMBER
from streamer.media.ebml import DEFAULT_SCALE_NS, TRACK_TYPE, TRACKS, UNKNOWN, Element, _children, _top, _uint
from streamer.media.ebml import parse_element_header, read_vint

CLUSTER, CLUSTER_TIMESTAMP = 0x1F43B675, 0xE7
SIMPLE_BLOCK, BLOCK_GROUP, BLOCK, BLOCK_DURATION, REFERENCE_BLOCK = 0xA3, 0xA0, 0xA1, 0x9B, 0xFB
CODEC_ID, DEFAULT_DURATION, CONTENT_ENCODINGS, CODEC_DELAY = 0x86, 0x23E383, 0x6D80, 0x56AA
KEYFRAME, LACING = 0x80, 0x06
XIPH, FIXED, EBML = 1, 2, 3  # the lacing bits, shifted


@dataclass(frozen=True)
class Track:
    number: int
    kind: int  # TrackType: 1 video, 2 audio
    codec: str
    default_duration_ns: int | None
    encoded: bool  # has ContentEncodings (compression, header stripping): its blocks are not its frames
    codec_delay_ns: int = 0  # CodecDelay: the decoder's delay (Opus's pre-skip), taken off every time


class Frame(NamedTuple):  # a tuple: made for every block of a segment
    track: int
    time: int  # ticks
    keyframe: bool
    start: int
    end: int
    duration: int | None  # ticks, from BlockDuration


def parse_tracks(data: bytes) -> dict[int, Track] | None:
    """Track number → ``Track`` from a ``Tracks`` element; ``None`` if malformed."""
    top = _top(data, TRACKS)
    entries = _children(data, top) if top else None
    if entries is None:
        return None
    tracks = {}
    for entry in entries:
        fields = {e.id: e for e in _children(data, entry) or []} if entry.id == TRACK_ENTRY else {}
        if TRACK_NUMBER not in fields or TRACK_TYPE not in fields:
            continue
        number, kind = _uint(data, fields[TRACK_NUMBER]), _uint(data, fields[TRACK_TYPE])
        default = _uint(data, fields[DEFAULT_DURATION]) if DEFAULT_DURATION in fields else None
        codec = data[fields[CODEC_ID].payload : fields[CODEC_ID].end].decode("ascii", "replace") if CODEC_ID in fields else ""
        if number is None or kind is None:
            return None
        delay = _uint(data, fields[CODEC_DELAY]) if CODEC_DELAY in fields else 0
        tracks[number] = Track(number, kind, codec, default or None, CONTENT_ENCODINGS in fields, delay or 0)
    return tracks


def parse_cluster_header(data: bytes, start: int = 0) -> Element | None:
    """The Cluster whose header is at ``start``, or ``None``: another element, unknown size, or malformed."""
    element = parse_element_header(data, start, 1 << 62)
    if element is None or element.id != CLUSTER or element.end == UNKNOWN or element.end >= 1 << 62:
        return None
    return element


def _header(data: bytes | bytearray, offset: int) -> tuple[int, int, int] | None:
    """(ID, payload offset, payload size) of the element at ``offset`` with a 1-4 byte ID and a known size;
    ``None`` if cut short or malformed. Inlined ``parse_element_header`` for the hot loop: no objects."""
    if offset >= len(data) or not data[offset] & 0xF0:
        return None
    id_end = offset + 9 - data[offset].bit_length()
    if id_end >= len(data) or not data[id_end]:
        return None
    size_end = id_end + 9 - data[id_end].bit_length()
    if size_end > len(data):
        return None
    size = int.from_bytes(data[id_end:size_end], "big") & ((1 << (7 * (size_end - id_end))) - 1)
    if size == (1 << (7 * (size_end - id_end))) - 1:
        return None  # unknown size: not inside a Cluster
    return int.from_bytes(data[offset:id_end], "big"), size_end, size


def lace_sizes(data: bytes | bytearray | memoryview, at: int, end: int, kind: int) -> tuple[list[int], int] | None:
    """(each frame's size, where the first starts) of the laced frames in ``data[at:end]``, which starts with
    the count less one; ``None`` if the sizes do not fit."""
    if at >= end:
        return None
    count, at, sizes = data[at] + 1, at + 1, []
    if kind == FIXED:
        return ([(end - at) // count] * count, at) if (end - at) % count == 0 else None
    if kind == XIPH:
        for _ in range(count - 1):  # each size a run of 255s and one smaller byte, summed
            size, byte = 0, 255
            while byte == 255:
                if at >= end:
                    return None
                byte, at = data[at], at + 1
                size += byte
            sizes.append(size)
    elif kind == EBML and count > 1:
        first = read_vint(data, at, 8, keep_marker=False)
        if first is None or first[0] == UNKNOWN:
            return None
        sizes.append(first[0])
        at += first[1]
        for _ in range(count - 2):
            raw = read_vint(data, at, 8, keep_marker=True)  # all ones is a value here, not "unknown"
            if raw is None:
                return None
            length = raw[1]
            value = raw[0] & ((1 << (7 * length)) - 1)
            sizes.append(sizes[-1] + value - ((1 << (7 * length - 1)) - 1))  # signed: the bias taken off
            at += length
    else:
        return None
    last = end - at - sum(sizes)
    if last < 0 or min(sizes, default=0) < 0:
        return None
    return [*sizes, last], at


def parse_cluster(
    data: bytes | bytearray | memoryview, wanted: Mapping[int, int], start: int = 0, scale_ns: int = DEFAULT_SCALE_NS
) -> tuple[list[Frame], bool] | None:
    """The frames of the ``wanted`` tracks (number → DefaultDuration in ns, 0 if none) in the Cluster whose
    header is at ``start`` in ``data``, which may end before the Cluster does: (frames in file order,
    whether the whole Cluster was there). ``None`` if it is not a Cluster, is malformed, has no
    Timestamp before its first block, or laces a wanted track's frames without a duration to share."""
    cluster = parse_cluster_header(data, start)
    if cluster is None:
        return None
    end = min(cluster.end, len(data))
    frames: list[Frame] = []
    timestamp = None
    offset = cluster.payload
    while offset < end:
        header = _header(data, offset)
        if header is None:
            return (frames, False) if end < cluster.end else None
        ident, payload, size = header
        if payload + size > cluster.end:
            return None
        if payload + size > end:
            return frames, False  # cut short: the caller reads on
        offset = payload + size
        if ident == CLUSTER_TIMESTAMP:
            timestamp = int.from_bytes(data[payload:offset], "big") if size <= 8 else None
            continue
        if ident not in (SIMPLE_BLOCK, BLOCK_GROUP):
            continue
        if timestamp is None:
            return None
        duration, keyframe, block_start, block_end = None, True, payload, offset
        if ident == BLOCK_GROUP:
            children = _children(data, Element(ident, offset - size, payload, offset))
            block = next((c for c in children or [] if c.id == BLOCK), None)
            if block is None:
                return None
            block_start, block_end = block.payload, block.end
            for child in children or []:
                if child.id == BLOCK_DURATION:
                    duration = _uint(data, child)
                elif child.id == REFERENCE_BLOCK:
                    keyframe = False
        # the block's header: track number (a size-style vint), a signed 16-bit time offset, flags
        first = data[block_start] if block_start < block_end else 0
        number_end = block_start + 9 - first.bit_length()
        if not first or number_end + 3 > block_end:
            return None
        track = int.from_bytes(data[block_start:number_end], "big") & ((1 << (7 * (number_end - block_start))) - 1)
        if track not in wanted:
            continue
        flags = data[number_end + 2]
        if ident == SIMPLE_BLOCK:
            keyframe = bool(flags & KEYFRAME)
        time = timestamp + int.from_bytes(data[number_end : number_end + 2], "big", signed=True)
        if not flags & LACING:
            frames.append(Frame(track, time, keyframe, number_end + 3, block_end, duration))
            continue
        laced = lace_sizes(data, number_end + 3, block_end, (flags & LACING) >> 1)
        if laced is None:
            return None
        sizes, at = laced
        shared = duration or wanted[track] * len(sizes) // scale_ns  # FFmpeg's block duration, in ticks
        if not shared:
            return None
        for n, size in enumerate(sizes):
            lace = shared * (n + 1) // len(sizes) - shared * n // len(sizes)
            frames.append(Frame(track, time, keyframe and n == 0, at, at + size, lace))
            at, time = at + size, time + lace
    return frames, end == cluster.end  # the data may stop between two children
