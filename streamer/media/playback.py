"""Will this file play in a browser as it is? The verdict from a probe, with reasons in plain words.

Verdicts, best first: ``direct`` (plays as it is), ``hls`` (the video plays but the container
does not, or the sound needs converting to AAC: it will be repackaged), ``transcode`` (a video
codec browsers cannot decode, or such sound without a picture), ``unsupported``.
Where the answer depends on the device (HEVC, AV1), ``ask_browser`` is set and ``mime`` carries
the exact type for ``MediaSource.isTypeSupported``. Images are not played: no verdict. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class Verdict(IntEnum):
    DIRECT = 0
    HLS = 1
    TRANSCODE = 2
    UNSUPPORTED = 3


PLAYABLE_VIDEO = {"h264": "H.264", "vp8": "VP8", "vp9": "VP9", "av1": "AV1", "hevc": "HEVC (H.265)"}
DEVICE_DEPENDENT = {
    "hevc": "HEVC (H.265) video plays only where the device can decode it; the page asks your browser",
    "av1": "AV1 video needs a recent browser or device; the page asks your browser",
}
PLAYABLE_AUDIO = {"aac": "AAC", "mp3": "MP3", "opus": "Opus", "vorbis": "Vorbis", "flac": "FLAC"}
WAVE_PCM = ("pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le")
CODEC_NAMES = {
    "mpeg4": "MPEG-4 Part 2 (DivX, Xvid)",
    "msmpeg4v2": "Microsoft MPEG-4",
    "msmpeg4v3": "Microsoft MPEG-4",
    "wmv1": "Windows Media Video",
    "wmv2": "Windows Media Video",
    "wmv3": "Windows Media Video",
    "vc1": "VC-1",
    "mpeg1video": "MPEG-1",
    "mpeg2video": "MPEG-2",
    "h263": "H.263",
    "theora": "Theora",
    "prores": "ProRes",
    "mjpeg": "Motion JPEG",
    "ac3": "Dolby Digital (AC-3)",
    "eac3": "Dolby Digital Plus (E-AC-3)",
    "dts": "DTS",
    "truehd": "Dolby TrueHD",
    "wmav2": "Windows Media Audio",
    "alac": "Apple Lossless",
    "mp2": "MPEG Layer II",
}
# Containers a browser opens itself, and the media type it knows them by (video form, audio-only form).
BROWSER_CONTAINERS = {
    "mp4": ("video/mp4", "audio/mp4"),
    "webm": ("video/webm", "audio/webm"),
    "ogg": (None, "audio/ogg"),
    "mp3": (None, "audio/mpeg"),
    "flac": (None, "audio/flac"),
    "wav": (None, "audio/wav"),
    "aac": (None, "audio/aac"),
}
CONTAINER_NAMES = {"matroska": "MKV", "avi": "AVI", "mov": "QuickTime (MOV)", "mpegts": "MPEG-TS", "asf": "Windows Media"}
TARGET = ("video/mp4", "audio/mp4")  # what the repackaging of the next issue produces
CONVERTED_AUDIO = "mp4a.40.2"  # HLS converts the sound of a video to AAC-LC when browsers cannot decode it


@dataclass(frozen=True)
class Playback:
    verdict: str
    reasons: list[str] = field(default_factory=list)
    mime: str | None = None
    ask_browser: bool = False


def codec_label(codec: str) -> str:
    """The codec's name as people know it: ``mpeg4`` is MPEG-4 Part 2 (DivX, Xvid)."""
    return PLAYABLE_VIDEO.get(codec) or PLAYABLE_AUDIO.get(codec) or CODEC_NAMES.get(codec) or codec.upper()


def _plays(audio_codec: str, container: str) -> bool:
    return audio_codec in PLAYABLE_AUDIO or (audio_codec in WAVE_PCM and container == "wav")


def _codec_findings(video: Sequence[Mapping[str, Any]], audio: Sequence[Mapping[str, Any]], container: str) -> list[tuple[Verdict, str]]:
    found: list[tuple[Verdict, str]] = []
    for stream in video:
        codec = stream.get("codec") or "unknown"
        if codec not in PLAYABLE_VIDEO:
            found.append((Verdict.TRANSCODE, f"Browsers cannot play {codec_label(codec)} video; it would have to be converted"))
        elif codec == "hevc" and container in ("mp4", "mov") and (stream.get("codec_string") or "").startswith("hev1"):
            found.append((Verdict.HLS, "This HEVC video is labelled in a way some browsers refuse; it will be repackaged"))
    for stream in audio:
        codec = stream.get("codec") or "unknown"
        if _plays(codec, container):
            continue
        if video and codec != "unknown":  # HLS converts a video's sound (streamer.media.hlsaudio)
            found.append((Verdict.HLS, f"Browsers cannot play {codec_label(codec)} sound; its sound will be converted"))
        else:
            found.append((Verdict.TRANSCODE, f"Browsers cannot play {codec_label(codec)} sound; it would have to be converted"))
    return found


def _container_finding(container: str, video: Sequence[Mapping[str, Any]], audio: Sequence[Mapping[str, Any]]) -> tuple[Verdict, str] | None:
    webm_codecs = {"vp8", "vp9", "av1", "opus", "vorbis"}
    codecs = {s.get("codec") for s in (*video, *audio)}
    plays = container in BROWSER_CONTAINERS and (video == [] or BROWSER_CONTAINERS[container][0] is not None)
    if container == "webm" and not codecs <= webm_codecs:
        plays = False
    if plays:
        return None
    label = CONTAINER_NAMES.get(container, container.upper() if container else "this")
    return Verdict.HLS, f"Browsers do not open {label} files; it will be converted"


def _mime(verdict: Verdict, container: str, video: Sequence[Mapping[str, Any]], audio: Sequence[Mapping[str, Any]]) -> str | None:
    if verdict is Verdict.DIRECT:
        base = BROWSER_CONTAINERS[container][0 if video else 1]
    elif verdict is Verdict.HLS:
        base = TARGET[0 if video else 1]
    else:
        return None
    converted = verdict is Verdict.HLS and bool(video)
    strings = [s.get("codec_string") for s in video] + [
        CONVERTED_AUDIO if converted and not _plays(str(s.get("codec")), container) else s.get("codec_string") for s in audio
    ]
    if not strings or None in strings:
        return base
    return f'{base}; codecs="{", ".join(str(s) for s in strings)}"'


def decide(kind: str, probe: Mapping[str, Any] | None, faststart: bool | None = None) -> Playback | None:
    """The verdict for one file of ``kind`` (video, audio, image, other); ``None`` while the probe is pending or for images."""
    if kind == "image":
        return None
    if kind not in ("video", "audio"):
        return Playback(Verdict.UNSUPPORTED.name.lower(), ["This is not an audio or video file"])
    if probe is None:
        return None
    if not probe.get("ok"):
        return Playback(Verdict.UNSUPPORTED.name.lower(), [f"This file could not be read as {kind}: {probe.get('error') or 'unknown error'}"])
    video, audio = list(probe.get("video") or []), list(probe.get("audio") or [])
    if not video and not audio:
        return Playback(Verdict.UNSUPPORTED.name.lower(), ["This file holds no sound or picture"])
    container = str(probe.get("container") or "")
    findings = _codec_findings(video, audio, container)
    if (found := _container_finding(container, video, audio)) is not None:
        findings.append(found)
    verdict = max((v for v, _ in findings), default=Verdict.DIRECT)
    reasons = [reason for _, reason in findings]
    ask = sorted({str(s.get("codec")) for s in video} & DEVICE_DEPENDENT.keys())
    if verdict <= Verdict.HLS:
        reasons += [DEVICE_DEPENDENT[codec] for codec in ask]
    if verdict is Verdict.DIRECT and faststart is False:
        reasons.append("The file's index is at its end, so playback starts after a second request")
    mime = _mime(verdict, container, video, audio)
    return Playback(verdict.name.lower(), reasons, mime, bool(ask) and verdict <= Verdict.HLS)
