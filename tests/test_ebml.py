"""streamer.media.ebml: variable-length integers and the Matroska elements that hold keyframe times."""

from __future__ import annotations

import struct
from fractions import Fraction

import pytest

from streamer.media import ebml


def el(ident: int, payload: bytes) -> bytes:
    """An element with a size of the shortest length."""
    length = 1
    while len(payload) >= (1 << (7 * length)) - 1:
        length += 1
    size = (1 << (7 * length)) | len(payload)
    return ident.to_bytes((ident.bit_length() + 7) // 8, "big") + size.to_bytes(length, "big") + payload


def uint(ident: int, value: int, width: int = 4) -> bytes:
    return el(ident, value.to_bytes(width, "big"))


def cue(time: int, *tracks: int) -> bytes:
    positions = b"".join(el(ebml.CUE_TRACK_POSITIONS, uint(ebml.CUE_TRACK, t, 1) + uint(0xF1, 0)) for t in tracks)
    return el(ebml.CUE_POINT, uint(ebml.CUE_TIME, time) + positions)


@pytest.mark.parametrize(
    ("data", "keep_marker", "expected"),
    [
        pytest.param(b"\x81", False, (1, 1), id="one-byte"),
        pytest.param(b"\x40\x02", False, (2, 2), id="two-bytes"),
        pytest.param(b"\x1a\x45\xdf\xa3", True, (0x1A45DFA3, 4), id="id-keeps-its-marker"),
        pytest.param(b"\xff", False, (ebml.UNKNOWN, 1), id="all-ones-is-unknown-size"),
        pytest.param(b"\x01\xff\xff\xff\xff\xff\xff\xff", False, (ebml.UNKNOWN, 8), id="eight-byte-unknown"),
        pytest.param(b"\x00\x81", False, None, id="no-marker-in-first-byte"),
        pytest.param(b"\x40", False, None, id="cut-short"),
        pytest.param(b"", False, None, id="empty"),
        pytest.param(b"\x08\x00\x00\x00\x01", True, None, id="id-longer-than-four-bytes"),
    ],
)
def test_read_vint(data: bytes, keep_marker: bool, expected: tuple[int, int] | None) -> None:
    assert ebml.read_vint(data, 0, 8 if not keep_marker else 4, keep_marker) == expected


CUES = el(ebml.CUES, cue(0, 1) + cue(2000, 1, 2) + cue(1000, 2) + cue(4000, 1))


@pytest.mark.parametrize(
    ("data", "track", "scale", "expected"),
    [
        pytest.param(CUES, 1, 1_000_000, (Fraction(0), Fraction(2), Fraction(4)), id="cues-of-one-track-in-seconds"),
        pytest.param(CUES, 2, 1_000_000, (Fraction(1), Fraction(2)), id="cue-naming-two-tracks-counts-for-each"),
        pytest.param(CUES, 1, 500_000, (Fraction(0), Fraction(1), Fraction(2)), id="timestamp-scale-applies"),
        pytest.param(el(ebml.CUES, cue(3000, 1) + cue(1000, 1)), 1, 1_000_000, (Fraction(1), Fraction(3)), id="sorted"),
        pytest.param(CUES, 3, 1_000_000, None, id="no-cue-for-the-track"),
        pytest.param(el(ebml.CUES, el(ebml.CUE_POINT, uint(ebml.CUE_TIME, 0) + el(ebml.CUE_TRACK_POSITIONS, uint(ebml.CUE_TRACK, 1, 1)))),
                     1, 1_000_000, None, id="a-cue-without-its-clusters-position-is-none-as-for-ffmpeg"),
        pytest.param(CUES[:-2], 1, 1_000_000, None, id="cut-short"),
        pytest.param(el(ebml.INFO, b""), 1, 1_000_000, None, id="not-cues"),
        pytest.param(el(ebml.CUES, el(ebml.CUE_POINT, b"\x00")), 1, 1_000_000, None, id="malformed-cue-point"),
    ],
)
def test_parse_cues(data: bytes, track: int, scale: int, expected: tuple[Fraction, ...] | None) -> None:
    assert ebml.parse_cues(data, track, scale) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(el(ebml.INFO, el(ebml.DURATION, struct.pack(">d", 1500.0))), (1_000_000, Fraction(3, 2)), id="default-scale-ms"),
        pytest.param(
            el(ebml.INFO, uint(ebml.TIMESTAMP_SCALE, 100_000, 3) + el(ebml.DURATION, struct.pack(">f", 20.0))),
            (100_000, Fraction(1, 500)), id="scale-and-float32-duration",
        ),
        pytest.param(el(ebml.INFO, b""), (1_000_000, None), id="no-duration"),
        pytest.param(el(ebml.INFO, uint(ebml.TIMESTAMP_SCALE, 0)), None, id="zero-scale"),
        pytest.param(el(ebml.INFO, el(ebml.DURATION, b"\x00\x00")), None, id="duration-of-two-bytes"),
        pytest.param(el(ebml.INFO, el(ebml.DURATION, struct.pack(">d", float("nan")))), None, id="nan-duration"),
    ],
)
def test_parse_info(data: bytes, expected: tuple[int, Fraction | None] | None) -> None:
    assert ebml.parse_info(data) == expected


def track(number: int, kind: int) -> bytes:
    return el(ebml.TRACK_ENTRY, uint(ebml.TRACK_NUMBER, number, 1) + uint(ebml.TRACK_TYPE, kind, 1))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(el(ebml.TRACKS, track(1, 2) + track(2, 1) + track(3, 1)), [2, 3], id="video-tracks-in-order"),
        pytest.param(el(ebml.TRACKS, track(1, 2)), [], id="audio-only"),
        pytest.param(el(ebml.TRACKS, track(1, 1))[:-1], None, id="cut-short"),
    ],
)
def test_parse_video_tracks(data: bytes, expected: list[int] | None) -> None:
    assert ebml.parse_video_tracks(data) == expected


def seek(ident: int, position: int) -> bytes:
    return el(ebml.SEEK, el(ebml.SEEK_ID, ident.to_bytes(4, "big")) + uint(ebml.SEEK_POSITION, position))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(el(ebml.SEEK_HEAD, seek(ebml.INFO, 10) + seek(ebml.CUES, 900)), {ebml.INFO: 10, ebml.CUES: 900}, id="positions"),
        pytest.param(el(ebml.SEEK_HEAD, seek(ebml.CUES, 5) + seek(ebml.CUES, 9)), {ebml.CUES: 5}, id="first-of-a-repeated-id"),
        pytest.param(el(ebml.SEEK_HEAD, el(ebml.SEEK, b"")), {}, id="seek-without-fields-ignored"),
        pytest.param(el(ebml.CUES, b""), None, id="not-a-seek-head"),
    ],
)
def test_parse_seek_head(data: bytes, expected: dict[int, int] | None) -> None:
    assert ebml.parse_seek_head(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(el(ebml.EBML_HEADER, b"\x42\x82\x84webm") + el(ebml.SEGMENT, b"x" * 10), (12 + 5, 27), id="sized"),
        pytest.param(el(ebml.EBML_HEADER, b"") + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff", (17, -1), id="unknown-size"),
        pytest.param(el(ebml.SEGMENT, b""), None, id="no-ebml-header"),
        pytest.param(el(ebml.EBML_HEADER, b"") + el(ebml.CUES, b""), None, id="no-segment"),
    ],
)
def test_parse_segment_start(data: bytes, expected: tuple[int, int] | None) -> None:
    assert ebml.parse_segment_start(data) == expected


def cue_at(time: int, *positions: tuple[int, int]) -> bytes:
    fields = b"".join(el(ebml.CUE_TRACK_POSITIONS, uint(ebml.CUE_TRACK, t, 1) + uint(ebml.CUE_CLUSTER_POSITION, at)) for t, at in positions)
    return el(ebml.CUE_POINT, uint(ebml.CUE_TIME, time) + fields)


@pytest.mark.parametrize(
    ("data", "track", "expected"),
    [
        pytest.param(el(ebml.CUES, cue_at(2000, (1, 900)) + cue_at(0, (1, 50))), 1, ((0, 50), (2000, 900)), id="by-time-with-cluster-position"),
        pytest.param(el(ebml.CUES, cue_at(0, (1, 50), (2, 60))), 2, ((0, 60),), id="the-tracks-own-position"),
        pytest.param(el(ebml.CUES, cue_at(0, (2, 60))), 1, None, id="no-cue-for-the-track"),
        pytest.param(el(ebml.CUES, cue_at(0, (1, 50)))[:-1], 1, None, id="cut-short"),
    ],
)
def test_parse_cue_clusters(data: bytes, track: int, expected: tuple[tuple[int, int], ...] | None) -> None:
    assert ebml.parse_cue_clusters(data, track) == expected
