"""streamer.media.bmff: keyframe times from hand-built moov boxes; malformed boxes give None."""

from __future__ import annotations

import struct
from fractions import Fraction

import pytest

from streamer.media.bmff import SampleTiming, TrackKeyframes, parse_box_header, parse_moov, sample_timing

SCALE = 1000  # media timescale: one tick per ms


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full(kind: bytes, payload: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def table(kind: bytes, rows: list[tuple[int, ...]], layout: str, version: int = 0) -> bytes:
    return full(kind, struct.pack(">I", len(rows)) + b"".join(struct.pack(layout, *row) for row in rows), version)


def trak(
    stts: list[tuple[int, int]],
    stss: list[int] | None = None,
    ctts: list[tuple[int, int]] | None = None,
    elst: list[tuple[int, int]] | None = None,
    handler: bytes = b"vide",
    track_id: int = 1,
    samples: int | None = None,
    ctts_version: int = 0,
) -> bytes:
    tables = table(b"stts", stts, ">II")
    tables += full(b"stsz", struct.pack(">II", 0, samples)) if samples is not None else b""
    tables += table(b"stss", [(n,) for n in stss], ">I") if stss is not None else b""
    tables += table(b"ctts", ctts, ">Ii" if ctts_version else ">II", ctts_version) if ctts is not None else b""
    mdia = full(b"mdhd", struct.pack(">IIII", 0, 0, SCALE, 0)) + full(b"hdlr", struct.pack(">I4s", 0, handler) + bytes(12))
    mdia += box(b"minf", box(b"stbl", tables))
    edts = box(b"edts", table(b"elst", [(d, t, 0x10000) for d, t in elst], ">Iii")) if elst is not None else b""
    return box(b"trak", full(b"tkhd", struct.pack(">III", 0, 0, track_id) + bytes(8)) + edts + box(b"mdia", mdia))


def moov(*traks: bytes) -> bytes:
    return box(b"moov", full(b"mvhd", struct.pack(">IIII", 0, 0, SCALE, 0)) + b"".join(traks))


def kf(times_ms: list[int], duration_ms: int, track_id: int = 1) -> list[TrackKeyframes]:
    return [TrackKeyframes(track_id, tuple(Fraction(t, SCALE) for t in times_ms), Fraction(duration_ms, SCALE))]


GOOD = moov(trak([(6, 100)], stss=[1, 4]))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(moov(trak([(3, 100)])), kf([0, 100, 200], 300), id="no-stss-every-sample-is-a-keyframe"),
        pytest.param(GOOD, kf([0, 300], 600), id="stss-names-the-keyframes"),
        pytest.param(moov(trak([(2, 100), (2, 50)], stss=[1, 3, 4])), kf([0, 200, 250], 300), id="stts-runs-add-up"),
        pytest.param(
            moov(trak([(4, 100)], stss=[1, 3], ctts=[(4, 200)], elst=[(400, 200)])), kf([0, 200], 400),
            id="elst-media-time-undoes-the-ctts-delay",
        ),
        pytest.param(moov(trak([(2, 100)], stss=[2], ctts=[(1, 0), (1, 50)])), kf([150], 200), id="ctts-moves-presentation"),
        pytest.param(moov(trak([(2, 100)], elst=[(500, -1), (200, 0)])), kf([500, 600], 700), id="empty-edit-delays-the-track"),
        pytest.param(moov(trak([(2, 100)], handler=b"soun"), trak([(1, 100)], track_id=2)), kf([0], 100, 2), id="sound-track-skipped"),
        pytest.param(moov(trak([], handler=b"vide")), [], id="fragmented-file-has-no-samples-here"),
        pytest.param(moov(), [], id="no-tracks"),
        pytest.param(GOOD[:-3], None, id="moov-cut-short"),
        pytest.param(box(b"moof", GOOD[8:]), None, id="not-a-moov"),
        pytest.param(moov(trak([(3, 100)], stss=[4])), None, id="stss-names-a-sample-past-the-end"),
        pytest.param(moov(trak([(3, 100)], stss=[0])), None, id="stss-sample-zero"),
        pytest.param(moov(box(b"trak", box(b"mdia", struct.pack(">I4s", 99, b"hdlr"))), ), None, id="child-overruns-parent"),
        pytest.param(box(b"moov", b""), None, id="no-mvhd"),
    ],
)
def test_parse_moov(data: bytes, expected: list[TrackKeyframes] | None) -> None:
    assert parse_moov(data) == expected


def test_stts_count_that_lies_is_malformed() -> None:
    liar = GOOD.replace(struct.pack(">II", 1, 6), struct.pack(">II", 9, 6), 1)  # stts claims 9 entries
    assert parse_moov(liar) is None


@pytest.mark.parametrize(
    ("data", "limit", "expected"),
    [
        pytest.param(struct.pack(">I4s", 16, b"free"), 100, (b"free", 8, 16), id="32-bit-size"),
        pytest.param(struct.pack(">I4sQ", 1, b"mdat", 1 << 33), 1 << 34, (b"mdat", 16, 1 << 33), id="64-bit-size"),
        pytest.param(struct.pack(">I4s", 0, b"mdat"), 100, (b"mdat", 8, 100), id="size-zero-runs-to-the-end"),
        pytest.param(struct.pack(">I4s", 4, b"free"), 100, None, id="size-smaller-than-header"),
        pytest.param(struct.pack(">I4s", 1, b"mdat"), 100, None, id="64-bit-size-cut-short"),
        pytest.param(b"\x00\x00\x00", 100, None, id="header-cut-short"),
    ],
)
def test_parse_box_header(data: bytes, limit: int, expected: tuple[bytes, int, int] | None) -> None:
    found = parse_box_header(data, 0, limit)
    assert (found.type, found.payload, found.end) == expected if found else expected is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(moov(trak([(4, 100)], ctts=[(2, 100), (2, 0)], samples=4)), {1: SampleTiming(4, ((2, 100), (2, 0)), 100)},
                     id="ctts-runs-kept-as-runs"),
        pytest.param(moov(trak([(3, 100)], samples=3)), {1: SampleTiming(3, (), 100)}, id="no-ctts-no-offsets"),
        pytest.param(moov(trak([(2, 100)], ctts=[(1, 200), (1, -100)], samples=2, ctts_version=1)),
                     {1: SampleTiming(2, ((1, 200), (1, -100)), 100)}, id="version-1-offsets-are-signed"),
        pytest.param(moov(trak([(2, 100)], ctts=[(2, 0xFFFFFF9C)], samples=2)), {1: SampleTiming(2, ((2, -100),), 100)},
                     id="version-0-offsets-are-read-signed-as-ffmpeg-does"),
        pytest.param(moov(trak([(3, 1024), (1, 336)], samples=4)), {1: SampleTiming(4, (), 336)}, id="the-last-stts-delta-is-the-last-duration"),
        pytest.param(moov(trak([(1, 100)], samples=1), trak([(2, 1024)], handler=b"soun", track_id=2, samples=2)),
                     {1: SampleTiming(1, (), 100), 2: SampleTiming(2, (), 1024)}, id="every-track-by-its-id"),
        pytest.param(moov(trak([(2, 100)], ctts=[(0x7FFFFFFF, 5)], samples=2)), {1: SampleTiming(2, ((0x7FFFFFFF, 5),), 100)},
                     id="a-huge-ctts-count-is-not-expanded-here"),
        pytest.param(moov(trak([(1, 100)])), None, id="no-stsz-is-malformed"),
        pytest.param(moov(box(b"trak", box(b"tkhd", b""))), None, id="empty-tkhd-is-malformed-not-an-error"),
        pytest.param(moov(trak([(2, 100)], ctts=[(5, 100)], samples=2))[:-4], None, id="cut-short"),
    ],
)
def test_sample_timing(data: bytes, expected: dict[int, SampleTiming] | None) -> None:
    assert sample_timing(data) == expected
