"""ADTS headers (streamer.media.adts): read only when consistent; the AudioSpecificConfig MP4 wants; the raw frame."""

from __future__ import annotations

import pytest

from streamer.media.adts import AdtsHeader, audio_specific_config, parse_adts_header, raw_frame


def adts(*, length: int, profile: int = 1, frequency: int = 3, channels: int = 2, crc: bool = False, blocks: int = 1,
         layer: int = 0, sync: int = 0xFFF) -> bytes:
    """An ADTS header (ISO/IEC 13818-7, 6.2) with these fields, for a frame ``length`` bytes long in all."""
    bits = (sync << 44 | 0 << 43 | layer << 41 | (0 if crc else 1) << 40 | profile << 38 | frequency << 34
            | channels << 30 | length << 13 | 0x7FF << 2 | (blocks - 1))
    header = bits.to_bytes(7, "big")
    return header + (b"\x00\x00" if crc else b"")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(adts(length=20) + bytes(13), AdtsHeader(2, 3, 2, 7, 20), id="aac-lc-48k-stereo"),
        pytest.param(adts(length=30, crc=True) + bytes(21), AdtsHeader(2, 3, 2, 9, 30), id="with-a-crc-the-header-is-9-bytes"),
        pytest.param(adts(length=20, frequency=4, channels=6) + bytes(13), AdtsHeader(2, 4, 6, 7, 20), id="44k1-5.1"),
        pytest.param(adts(length=20, profile=0) + bytes(13), AdtsHeader(1, 3, 2, 7, 20), id="aac-main"),
        pytest.param(adts(length=20, sync=0xFFE) + bytes(13), None, id="no-sync-word"),
        pytest.param(adts(length=20, layer=1) + bytes(13), None, id="layer-not-zero"),
        pytest.param(adts(length=20, blocks=2) + bytes(13), None, id="two-raw-blocks-in-a-frame"),
        pytest.param(adts(length=20, channels=0) + bytes(13), None, id="channels-described-in-the-stream"),
        pytest.param(adts(length=20, frequency=13) + bytes(13), None, id="reserved-frequency-index"),
        pytest.param(adts(length=40) + bytes(13), None, id="frame-longer-than-the-data"),
        pytest.param(adts(length=7), None, id="frame-no-longer-than-its-header"),
        pytest.param(b"\xff\xf1", None, id="too-short"),
    ],
)
def test_parse_adts_header(data: bytes, expected: AdtsHeader | None) -> None:
    assert parse_adts_header(data) == expected


@pytest.mark.parametrize(
    ("header", "config"),
    [
        pytest.param(AdtsHeader(2, 3, 2, 7, 20), bytes.fromhex("1190"), id="lc-48k-stereo-as-ffmpeg-writes-it"),
        pytest.param(AdtsHeader(2, 4, 2, 7, 20), bytes.fromhex("1210"), id="lc-44k1-stereo"),
        pytest.param(AdtsHeader(2, 3, 6, 7, 20), bytes.fromhex("11b0"), id="lc-48k-5.1"),
        pytest.param(AdtsHeader(2, 3, 1, 7, 20), bytes.fromhex("1188"), id="lc-48k-mono"),
    ],
)
def test_audio_specific_config(header: AdtsHeader, config: bytes) -> None:
    assert audio_specific_config(header) == config


def test_raw_frame_is_the_payload_of_exactly_one_frame() -> None:
    payload = bytes(range(13))
    assert raw_frame(adts(length=20) + payload) == payload
    assert raw_frame(adts(length=22, crc=True) + payload) == payload
    assert raw_frame(adts(length=20) + payload + b"extra") is None, "more than one frame"
    assert raw_frame(payload) is None
