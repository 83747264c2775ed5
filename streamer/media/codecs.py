"""RFC 6381 codec strings ("avc1.64001f", "hvc1.1.6.L93.B0", "mp4a.40.2") from a stream's parameters.

A client asks its own browser about these strings (``MediaSource.isTypeSupported``). They
come from the codec's configuration record (avcC, hvcC, av1C, vpcC, AudioSpecificConfig)
where there is one, else from the stream's parameters. No I/O in this module; malformed or
short input gives ``None``, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

# Codecs named by a fixed string (WebM/Ogg/ISO BMFF registrations); "1" and "3" are WAVE format tags.
FIXED = {
    "opus": "opus",
    "flac": "flac",
    "vorbis": "vorbis",
    "ac3": "ac-3",
    "eac3": "ec-3",
    "alac": "alac",
    "vp8": "vp8",
    "theora": "theora",
    "dts": "dtsc",
    "truehd": "mlpa",
    "pcm_u8": "1",
    "pcm_s16le": "1",
    "pcm_s24le": "1",
    "pcm_s32le": "1",
    "pcm_f32le": "3",
}
MP4_FAMILY = ("mp4", "mov", "m4a")
AAC_PROFILES = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29, "Main": 1, "LTP": 4, "SSR": 3}
# VP9 levels (Annex A): (level, max luma samples per second, max luma picture size).
VP9_LEVELS = (
    (10, 829_440, 36_864),
    (11, 2_764_800, 73_728),
    (20, 4_608_000, 122_880),
    (21, 9_216_000, 245_760),
    (30, 20_736_000, 552_960),
    (31, 36_864_000, 983_040),
    (40, 83_558_400, 2_228_224),
    (41, 160_432_128, 2_228_224),
    (50, 311_951_360, 8_912_896),
    (51, 588_251_136, 8_912_896),
    (52, 1_176_502_272, 8_912_896),
    (60, 1_176_502_272, 35_651_584),
    (61, 2_353_004_544, 35_651_584),
    (62, 4_706_009_088, 35_651_584),
)
NAL_START = b"\x00\x00\x01"
H264_SPS = 7


@dataclass(frozen=True)
class StreamParams:
    """What the codec string is made from: the codec's name as FFmpeg gives it, and the rest if known."""

    codec: str
    extradata: bytes = b""
    profile: str | None = None  # FFmpeg's profile name ("High", "Profile 0", "HE-AAC")
    level: int | None = None
    bit_depth: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    tag: str | None = None  # the sample entry of an ISO BMFF track ("hvc1", "hev1")
    container: str | None = None  # short name: mp4, mov, matroska, webm, ...


def avc_string(extradata: bytes) -> str | None:
    """``avc1.PPCCLL`` from an avcC record, or from the SPS of Annex B extradata (MPEG-TS)."""
    if len(extradata) >= 4 and extradata[0] == 1:
        return "avc1." + extradata[1:4].hex()
    at = extradata.find(NAL_START)
    while at >= 0:
        sps = extradata[at + 3 : at + 7]
        if len(sps) == 4 and sps[0] & 0x1F == H264_SPS:
            return "avc1." + sps[1:4].hex()
        at = extradata.find(NAL_START, at + 3)
    return None


def _reverse_bits32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def hevc_string(extradata: bytes, tag: str | None = None) -> str | None:
    """``hvc1.<space><profile>.<compat, bits reversed>.<L|H><level>.<constraint bytes>`` from an hvcC record."""
    if len(extradata) < 13 or extradata[0] != 1:
        return None
    space, tier, profile = extradata[1] >> 6, (extradata[1] >> 5) & 1, extradata[1] & 0x1F
    compat = _reverse_bits32(int.from_bytes(extradata[2:6], "big"))
    constraints = extradata[6:12].rstrip(b"\x00")
    parts = [
        "hev1" if tag == "hev1" else "hvc1",
        ("", "A", "B", "C")[space] + str(profile),
        f"{compat:X}",
        ("L", "H")[tier] + str(extradata[12]),
        *(f"{byte:X}" for byte in constraints),
    ]
    return ".".join(parts)


def av1_string(extradata: bytes) -> str | None:
    """``av01.P.LLT.DD`` from an av1C record (profile, level index, tier, bit depth)."""
    if len(extradata) < 4 or extradata[0] != 0x81:
        return None
    profile, level = extradata[1] >> 5, extradata[1] & 0x1F
    tier, high, twelve = extradata[2] >> 7, (extradata[2] >> 6) & 1, (extradata[2] >> 5) & 1
    depth = 12 if high and twelve else 10 if high else 8
    return f"av01.{profile}.{level:02d}{'MH'[tier]}.{depth:02d}"  # the optional fields go all or none: none


def vp9_level(width: int | None, height: int | None, fps: float | None) -> int | None:
    """The lowest VP9 level whose picture size and sample rate fit the stream."""
    if not width or not height or width <= 0 or height <= 0:
        return None
    size = width * height
    rate = size * (fps if fps and fps > 0 else 30.0)
    return next((level for level, max_rate, max_size in VP9_LEVELS if size <= max_size and rate <= max_rate), None)


def vp9_string(params: StreamParams) -> str | None:
    """``vp09.PP.LL.DD`` from a vpcC record, else from profile name, picture size and bit depth."""
    data = params.extradata
    if len(data) >= 7 and data[0] == 1:  # vpcC version 1: version, flags(3), profile, level, depth<<4 | ...
        profile, level, depth = data[4], data[5], data[6] >> 4
    else:
        profile = _vp9_profile(params.profile)
        level = vp9_level(params.width, params.height, params.fps)
        depth = params.bit_depth or 8
    if profile is None or not level or depth not in (8, 10, 12):
        return None
    return f"vp09.{profile:02d}.{level:02d}.{depth:02d}"


def _vp9_profile(name: str | None) -> int | None:
    if name is None:
        return 0
    digits = name.removeprefix("Profile ").strip()
    return int(digits) if digits in ("0", "1", "2", "3") else None


def aac_string(extradata: bytes, profile: str | None) -> str | None:
    """``mp4a.40.<audio object type>`` from the AudioSpecificConfig, else from FFmpeg's profile name."""
    if len(extradata) >= 2:
        aot = extradata[0] >> 3
        if aot == 31:  # escape: six more bits, plus 32
            aot = 32 + (((extradata[0] & 0x07) << 3) | (extradata[1] >> 5))
        if aot:
            return f"mp4a.40.{aot}"
    aot = AAC_PROFILES.get(profile or "LC")
    return f"mp4a.40.{aot}" if aot is not None else None


def mpeg4_visual_string(extradata: bytes) -> str:
    """``mp4v.20.<profile_and_level_indication>`` from the visual object sequence header, or ``mp4v.20``."""
    at = extradata.find(b"\x00\x00\x01\xb0")
    if at >= 0 and len(extradata) > at + 4:
        return f"mp4v.20.{extradata[at + 4]}"
    return "mp4v.20"


def codec_string(params: StreamParams) -> str | None:
    """The RFC 6381 string for one stream; ``None`` where there is none or the record is malformed."""
    codec = params.codec
    if codec == "h264":
        return avc_string(params.extradata)
    if codec == "hevc":
        return hevc_string(params.extradata, params.tag)
    if codec == "av1":
        return av1_string(params.extradata)
    if codec == "vp9":
        return vp9_string(params)
    if codec == "aac":
        return aac_string(params.extradata, params.profile)
    if codec == "mp3":
        return "mp4a.6B" if params.container in MP4_FAMILY else "mp3"
    if codec == "mpeg4":
        return mpeg4_visual_string(params.extradata)
    return FIXED.get(codec)
