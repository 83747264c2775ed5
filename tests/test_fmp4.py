"""streamer.media.fmp4: one moof + mdat from samples, read back box by box; the tracks an init segment declares."""

from __future__ import annotations

import struct

import pytest

from streamer.media import fmp4
from streamer.media.bmff import Box, child_boxes, iter_boxes
from streamer.media.fmp4 import InitTrack, Run

VIDEO = Run(1, 160_000, [667, 667, 666], [b"key", b"b-frame", b"p"], [1334, -667, 0], [True, False, False])
SOUND = Run(2, 480_000, [1024, 1024], [b"aa", b"bbb"])


def boxes(data: bytes) -> dict[bytes, list[Box]]:
    found: dict[bytes, list[Box]] = {}
    for box in iter_boxes(data):
        assert box is not None, "a malformed box"
        found.setdefault(box.type, []).append(box)
    return found


def read_traf(data: bytes, traf: Box) -> dict[str, object]:
    """The fields of a traf as written: tfhd's flags, track and default flags, tfdt, trun's entries."""
    children = child_boxes(data, traf)
    assert children is not None
    tfhd, tfdt, trun = children[b"tfhd"][0], children[b"tfdt"][0], children[b"trun"][0]
    (tfhd_word, track) = struct.unpack_from(">II", data, tfhd.payload)
    default = struct.unpack_from(">I", data, tfhd.payload + 8)[0] if tfhd_word & fmp4.DEFAULT_FLAGS_PRESENT else None
    assert data[tfdt.payload] == 1, "tfdt version 1: a 64-bit decode time"
    (decode_time,) = struct.unpack_from(">Q", data, tfdt.payload + 4)
    (trun_word, count, offset) = struct.unpack_from(">IIi", data, trun.payload)
    flags = trun_word & 0xFFFFFF
    fields = bin(flags & 0xF00).count("1")
    layout = ">" + ("IIIi" if fields == 4 else "I" * fields)
    entries = [struct.unpack_from(layout, data, trun.payload + 12 + i * 4 * fields) for i in range(count)]
    return {"tfhd_flags": tfhd_word & 0xFFFFFF, "track": track, "default": default, "decode_time": decode_time,
            "trun_version": trun_word >> 24, "trun_flags": flags, "offset": offset, "entries": entries}


def test_one_moof_then_one_mdat_holding_the_runs_in_order() -> None:
    data = fmp4.fragment(7, [VIDEO, SOUND])
    top = boxes(data)
    assert list(top) == [b"moof", b"mdat"] and top[b"moof"][0].start == 0
    moof, mdat = top[b"moof"][0], top[b"mdat"][0]
    assert data[mdat.payload : mdat.end] == b"keyb-framepaabbb"
    children = child_boxes(data, moof)
    assert children is not None and list(children) == [b"mfhd", b"traf"] and len(children[b"traf"]) == 2
    assert struct.unpack_from(">I", data, children[b"mfhd"][0].payload + 4) == (7,)


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        pytest.param(0, {"tfhd_flags": fmp4.BASE_IS_MOOF, "track": 1, "default": None, "decode_time": 160_000, "trun_version": 1,
                         "trun_flags": 0xF01, "entries": [(667, 3, fmp4.SYNC, 1334), (667, 7, fmp4.NOT_SYNC, -667), (666, 1, fmp4.NOT_SYNC, 0)]},
                     id="video-every-sample-has-duration-size-flags-and-a-signed-composition-offset"),
        pytest.param(1, {"tfhd_flags": fmp4.BASE_IS_MOOF | fmp4.DEFAULT_FLAGS_PRESENT, "track": 2, "default": fmp4.SYNC,
                         "decode_time": 480_000, "trun_version": 0, "trun_flags": 0x301, "entries": [(1024, 2), (1024, 3)]},
                     id="sound-all-sync-said-once-in-tfhd"),
    ],
)
def test_each_traf_says_its_samples(index: int, expected: dict[str, object]) -> None:
    data = fmp4.fragment(1, [VIDEO, SOUND])
    moof = boxes(data)[b"moof"][0]
    traf = child_boxes(data, moof)[b"traf"][index]  # type: ignore[index]
    fields = read_traf(data, traf)
    offset = fields.pop("offset")
    assert fields == expected
    run = (VIDEO, SOUND)[index]
    first = bytes(run.data[0])
    assert data[offset : offset + len(first)] == first, "the data offset, from the moof's start, points at the first sample"


def test_a_decode_time_past_32_bits_is_kept() -> None:
    data = fmp4.fragment(1, [Run(1, 1 << 40, [1], [b"x"], None, [True])])
    traf = child_boxes(data, boxes(data)[b"moof"][0])[b"traf"][0]  # type: ignore[index]
    assert read_traf(data, traf)["decode_time"] == 1 << 40


def test_the_same_samples_give_the_same_bytes_whatever_holds_them() -> None:
    views = Run(1, 160_000, [667, 667, 666], [memoryview(b"key"), bytearray(b"b-frame"), b"p"], [1334, -667, 0], [True, False, False])
    assert fmp4.fragment(3, [VIDEO, SOUND]) == fmp4.fragment(3, [views, SOUND])


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(Run(1, 0, [1, 2], [b"x"]), id="a-duration-per-sample"),
        pytest.param(Run(1, 0, [], []), id="no-samples"),
    ],
)
def test_a_run_that_does_not_add_up_is_refused(run: Run) -> None:
    with pytest.raises(ValueError):
        fmp4.fragment(1, [run])


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def trak(track_id: int, timescale: int, handler: bytes, version: int = 0) -> bytes:
    if version == 0:
        tkhd = box(b"tkhd", struct.pack(">IIII", 0, 0, 0, track_id) + b"\x00" * 68)
        mdhd = box(b"mdhd", struct.pack(">IIII", 0, 0, 0, timescale) + b"\x00" * 8)
    else:
        tkhd = box(b"tkhd", struct.pack(">IQQI", 1 << 24, 0, 0, track_id) + b"\x00" * 72)
        mdhd = box(b"mdhd", struct.pack(">IQQI", 1 << 24, 0, 0, timescale) + b"\x00" * 12)
    hdlr = box(b"hdlr", struct.pack(">II4s", 0, 0, handler) + b"\x00" * 13)
    return box(b"trak", tkhd + box(b"mdia", mdhd + hdlr))


FTYP = box(b"ftyp", b"iso5\x00\x00\x02\x00")


@pytest.mark.parametrize(
    ("init", "expected"),
    [
        pytest.param(FTYP + box(b"moov", box(b"mvhd", b"\x00" * 100) + trak(1, 16000, b"vide") + trak(2, 48000, b"soun")),
                     [InitTrack(1, 16000, b"vide"), InitTrack(2, 48000, b"soun")], id="id-timescale-and-handler-of-each-trak-in-order"),
        pytest.param(FTYP + box(b"moov", trak(3, 90000, b"vide", version=1)), [InitTrack(3, 90000, b"vide")], id="version-1-boxes"),
        pytest.param(FTYP, None, id="no-moov"),
        pytest.param(FTYP + box(b"moov", box(b"trak", box(b"mdia", b""))), None, id="trak-without-its-boxes"),
        pytest.param((FTYP + box(b"moov", trak(1, 16000, b"vide")))[:-10], None, id="cut-short"),
    ],
)
def test_init_tracks(init: bytes, expected: list[InitTrack] | None) -> None:
    assert fmp4.init_tracks(init) == expected
