"""Fragmented MP4 media segments from samples, and the tracks of an init segment: bytes in, bytes out, no I/O.

Rule: a fragment is one ``moof`` (an ``mfhd``, then a ``traf`` per track with a ``tfhd`` whose
base is the ``moof``, a ``tfdt`` with the first sample's decode time, and one ``trun`` giving every
sample's duration, size, flags and composition offset) and one ``mdat`` holding the tracks' samples
in the order of the ``traf`` boxes. Times are in each track's timescale, as the init segment's
``mdhd`` says; nothing depends on the clock: the same samples give the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from streamer.media.bmff import Box, child_boxes, parse_box_header

Buffer = bytes | bytearray | memoryview  # a sample's bytes, copied once into the fragment

SYNC = 0x02000000  # sample_depends_on 2: decodable alone
NOT_SYNC = 0x01010000  # sample_depends_on 1 and sample_is_non_sync_sample
BASE_IS_MOOF = 0x020000
DEFAULT_FLAGS_PRESENT = 0x000020
TRUN_DATA_OFFSET, TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_OFFSET = 0x1, 0x100, 0x200, 0x400, 0x800


@dataclass(frozen=True)
class Run:
    """One track's samples in a fragment, in decode order, times in the track's timescale.

    ``offsets`` (composition minus decode time) and ``sync`` flags are per sample; ``None`` for
    ``offsets`` means all zero, for ``sync`` that every sample is a sync sample (sound).
    """

    track_id: int
    decode_time: int  # of the first sample
    durations: Sequence[int]
    data: Sequence[Buffer]
    offsets: Sequence[int] | None = None
    sync: Sequence[bool] | None = None


def _box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags), *parts)


def _traf(run: Run, data_offset: int) -> bytes:
    count = len(run.durations)
    if not count or len(run.data) != count:
        raise ValueError(f"track {run.track_id}: {count} durations for {len(run.data)} samples")
    sizes = [memoryview(sample).nbytes for sample in run.data]
    if run.sync is None:  # sound: every sample a sync sample, said once in the tfhd
        tfhd = _full_box(b"tfhd", 0, BASE_IS_MOOF | DEFAULT_FLAGS_PRESENT, struct.pack(">II", run.track_id, SYNC))
        flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE
        fields = [value for pair in zip(run.durations, sizes) for value in pair]
        entries = struct.pack(f">{2 * count}I", *fields)
        version = 0
    else:
        tfhd = _full_box(b"tfhd", 0, BASE_IS_MOOF, struct.pack(">I", run.track_id))
        flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | TRUN_OFFSET
        offsets = run.offsets if run.offsets is not None else [0] * count
        sample_flags = [SYNC if sync else NOT_SYNC for sync in run.sync]
        fields = [value for entry in zip(run.durations, sizes, sample_flags, offsets) for value in entry]
        entries = struct.pack(">" + "IIIi" * count, *fields)  # version 1: signed composition offsets
        version = 1
    tfdt = _full_box(b"tfdt", 1, 0, struct.pack(">Q", run.decode_time))
    trun = _full_box(b"trun", version, flags, struct.pack(">Ii", count, data_offset), entries)
    return _box(b"traf", tfhd, tfdt, trun)


def fragment(sequence: int, runs: Sequence[Run]) -> bytes:
    """``moof`` + ``mdat`` of ``runs``, numbered ``sequence`` in ``mfhd``."""
    mfhd = _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence))
    # a traf's size does not depend on its data offset: made once with 0 to learn the moof's size
    moof_size = 8 + len(mfhd) + sum(len(_traf(run, 0)) for run in runs)
    trafs, offset = [], moof_size + 8
    for run in runs:
        trafs.append(_traf(run, offset))
        offset += sum(memoryview(sample).nbytes for sample in run.data)
    mdat_size = offset - moof_size
    return b"".join([_box(b"moof", mfhd, *trafs), struct.pack(">I4s", mdat_size, b"mdat"), *(s for r in runs for s in r.data)])


@dataclass(frozen=True)
class InitTrack:
    track_id: int
    timescale: int
    handler: bytes  # b"vide", b"soun"


def _child(data: bytes, parent: Box, kind: bytes) -> Box | None:
    children = child_boxes(data, parent)
    return children[kind][0] if children and kind in children else None


def init_tracks(init: bytes) -> list[InitTrack] | None:
    """The tracks an init segment's ``moov`` declares, in order; ``None`` if it cannot be read."""
    offset, moov = 0, None
    while moov is None and (box := parse_box_header(init, offset)) is not None and box.end <= len(init):
        moov, offset = (box if box.type == b"moov" else None), box.end
    children = child_boxes(init, moov) if moov is not None else None
    if children is None:
        return None
    tracks = []
    for trak in children.get(b"trak", []):
        tkhd, mdia = _child(init, trak, b"tkhd"), _child(init, trak, b"mdia")
        mdhd = _child(init, mdia, b"mdhd") if mdia else None
        hdlr = _child(init, mdia, b"hdlr") if mdia else None
        if tkhd is None or mdhd is None or hdlr is None or hdlr.end < hdlr.payload + 12:
            return None
        id_at = tkhd.payload + (20 if init[tkhd.payload] == 1 else 12)
        scale_at = mdhd.payload + (20 if init[mdhd.payload] == 1 else 12)
        if id_at + 4 > tkhd.end or scale_at + 4 > mdhd.end:
            return None
        (track_id,) = struct.unpack_from(">I", init, id_at)
        (timescale,) = struct.unpack_from(">I", init, scale_at)
        tracks.append(InitTrack(track_id, timescale, init[hdlr.payload + 8 : hdlr.payload + 12]))
    return tracks
