"""RFC 6381 codec strings from configuration records and stream parameters: tables, malformed input included."""

from __future__ import annotations

import pytest

from streamer.media.codecs import StreamParams, codec_string, vp9_level

AVCC_HIGH_31 = bytes.fromhex("0164001fffe1")
HVCC_MAIN_L93 = bytes.fromhex("0101600000009000000000005df000fcfdf8f8")  # the hvcC of a 1080p Main-profile encode, first 15 bytes
HVCC_MAIN10_HIGH_TIER = bytes.fromhex("01222000000090000000000096")
AV1C_MAIN_4_0 = bytes.fromhex("8104080000")
AV1C_HIGH_10BIT_TIER_H = bytes.fromhex("812dcc00")
SPS_ANNEX_B = bytes.fromhex("000000016764001facd9") + bytes.fromhex("0000000168ebe3cb")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(StreamParams("h264", AVCC_HIGH_31), "avc1.64001f", id="avcc-profile-constraints-level"),
        pytest.param(StreamParams("h264", bytes.fromhex("0142c01e")), "avc1.42c01e", id="avcc-constrained-baseline"),
        pytest.param(StreamParams("h264", SPS_ANNEX_B), "avc1.64001f", id="annex-b-sps-as-in-mpeg-ts"),
        pytest.param(StreamParams("h264", b"\x01\x64"), None, id="avcc-too-short"),
        pytest.param(StreamParams("h264", b""), None, id="avc-without-extradata"),
        pytest.param(StreamParams("h264", b"\x00\x00\x01\x68\x01"), None, id="annex-b-without-sps"),
        pytest.param(StreamParams("h264", b"\x00\x00\x01\x67\x64"), None, id="annex-b-sps-cut-short"),
        pytest.param(StreamParams("hevc", HVCC_MAIN_L93), "hvc1.1.6.L93.90", id="hvcc-main-level-3.1"),
        pytest.param(StreamParams("hevc", HVCC_MAIN_L93, tag="hev1"), "hev1.1.6.L93.90", id="hvcc-tagged-hev1-keeps-hev1"),
        pytest.param(
            StreamParams("hevc", bytes.fromhex("0101600000009000000000005d")), "hvc1.1.6.L93.90", id="hvcc-exactly-13-bytes"
        ),
        pytest.param(
            StreamParams("hevc", bytes.fromhex("010160000000b0000000000078")), "hvc1.1.6.L120.B0", id="constraint-b0-level-4"
        ),
        pytest.param(StreamParams("hevc", HVCC_MAIN10_HIGH_TIER), "hvc1.2.4.H150.90", id="hvcc-main10-high-tier"),
        pytest.param(
            StreamParams("hevc", bytes.fromhex("01410000000000000000000000")), "hvc1.A1.0.L0", id="profile-space-letter-no-constraints"
        ),
        pytest.param(
            StreamParams("hevc", bytes.fromhex("0101600000009000000000015d")), "hvc1.1.6.L93.90.0.0.0.0.1", id="inner-zero-bytes-kept"
        ),
        pytest.param(StreamParams("hevc", HVCC_MAIN_L93[:12]), None, id="hvcc-too-short"),
        pytest.param(StreamParams("hevc", b"\x00" + HVCC_MAIN_L93[1:]), None, id="hvcc-wrong-version"),
        pytest.param(StreamParams("av1", AV1C_MAIN_4_0), "av01.0.04M.08", id="av1c-main-level-4.0"),
        pytest.param(StreamParams("av1", AV1C_HIGH_10BIT_TIER_H), "av01.1.13H.10", id="av1c-high-10-bit-high-tier"),
        pytest.param(StreamParams("av1", bytes.fromhex("81406000")), "av01.2.00M.12", id="av1c-professional-12-bit"),
        pytest.param(StreamParams("av1", bytes.fromhex("810408")), None, id="av1c-too-short"),
        pytest.param(StreamParams("av1", bytes.fromhex("01040800")), None, id="av1c-no-marker-bit"),
        pytest.param(StreamParams("vp9", bytes.fromhex("01000000001f8000")), "vp09.00.31.08", id="vpcc-record"),
        pytest.param(StreamParams("vp9", bytes.fromhex("01000000021ea000")), "vp09.02.30.10", id="vpcc-profile-2-10-bit"),
        pytest.param(
            StreamParams("vp9", profile="Profile 0", width=320, height=180, fps=24.0, bit_depth=8), "vp09.00.11.08", id="vp9-level-from-size"
        ),
        pytest.param(
            StreamParams("vp9", profile="Profile 2", width=1920, height=1080, fps=30.0, bit_depth=10),
            "vp09.02.40.10",
            id="vp9-1080p30-level-4",
        ),
        pytest.param(StreamParams("vp9", profile="Profile 9", width=64, height=64), None, id="vp9-unknown-profile"),
        pytest.param(StreamParams("vp9", profile="Profile 0"), None, id="vp9-no-size-no-level"),
        pytest.param(StreamParams("aac", bytes.fromhex("1190")), "mp4a.40.2", id="asc-aac-lc"),
        pytest.param(StreamParams("aac", bytes.fromhex("2b92")), "mp4a.40.5", id="asc-he-aac"),
        pytest.param(StreamParams("aac", bytes.fromhex("eb09")), "mp4a.40.29", id="asc-he-aac-v2"),
        pytest.param(StreamParams("aac", bytes.fromhex("f8e0")), "mp4a.40.39", id="asc-escaped-object-type"),
        pytest.param(StreamParams("aac", profile="HE-AAC"), "mp4a.40.5", id="adts-profile-name-he"),
        pytest.param(StreamParams("aac", profile="HE-AACv2"), "mp4a.40.29", id="adts-profile-name-he-v2"),
        pytest.param(StreamParams("aac"), "mp4a.40.2", id="no-config-assumes-lc"),
        pytest.param(StreamParams("aac", b"\x00", profile="unknown"), None, id="unknown-profile-no-config"),
        pytest.param(StreamParams("mp3", container="mp4"), "mp4a.6B", id="mp3-in-mp4"),
        pytest.param(StreamParams("mp3", container="mp3"), "mp3", id="mp3-elementary"),
        pytest.param(StreamParams("opus"), "opus", id="opus"),
        pytest.param(StreamParams("flac"), "flac", id="flac"),
        pytest.param(StreamParams("vorbis"), "vorbis", id="vorbis"),
        pytest.param(StreamParams("ac3"), "ac-3", id="ac-3"),
        pytest.param(StreamParams("eac3"), "ec-3", id="e-ac-3"),
        pytest.param(StreamParams("pcm_s16le"), "1", id="pcm-wave-format-1"),
        pytest.param(StreamParams("pcm_f32le"), "3", id="float-pcm-wave-format-3"),
        pytest.param(StreamParams("mpeg4", bytes.fromhex("000001b0f5000001b5")), "mp4v.20.245", id="mpeg4-part2-profile-level"),
        pytest.param(StreamParams("mpeg4", b"\x00\x00\x01\xb0"), "mp4v.20", id="mpeg4-part2-header-cut-short"),
        pytest.param(StreamParams("wmv3"), None, id="unregistered-codec"),
        pytest.param(StreamParams("mjpeg"), None, id="cover-art-codec"),
    ],
)
def test_codec_string(params: StreamParams, expected: str | None) -> None:
    assert codec_string(params) == expected


@pytest.mark.parametrize(
    ("width", "height", "fps", "expected"),
    [
        pytest.param(64, 64, 24.0, 10, id="tiny-is-level-1"),
        pytest.param(1280, 720, 30.0, 31, id="720p30-is-3.1"),
        pytest.param(1920, 1080, 60.0, 41, id="1080p60-is-4.1"),
        pytest.param(3840, 2160, 30.0, 50, id="2160p30-is-5"),
        pytest.param(640, 360, None, 21, id="unknown-rate-taken-as-30"),
        pytest.param(16384, 16384, 30.0, None, id="beyond-every-level"),
        pytest.param(0, 64, 30.0, None, id="zero-width"),
    ],
)
def test_vp9_level(width: int, height: int, fps: float | None, expected: int | None) -> None:
    assert vp9_level(width, height, fps) == expected


@pytest.mark.parametrize("codec", ["h264", "hevc", "av1", "vp9", "aac", "mpeg4", "opus"])
@pytest.mark.parametrize("data", [b"", b"\xff", b"\x01", b"\x81", b"\x00\x00\x01", bytes(range(256))])
def test_malformed_extradata_never_raises(codec: str, data: bytes) -> None:
    result = codec_string(StreamParams(codec, data))
    assert result is None or isinstance(result, str)
