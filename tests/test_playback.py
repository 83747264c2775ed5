"""Playback verdicts from probes: a table of containers and codecs, each row naming the rule."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.media.playback import Playback, decide

AVC = {"codec": "h264", "codec_string": "avc1.64001f"}
HVC1 = {"codec": "hevc", "codec_string": "hvc1.1.6.L93.B0"}
HEV1 = {"codec": "hevc", "codec_string": "hev1.1.6.L93.B0"}
VP9 = {"codec": "vp9", "codec_string": "vp09.00.10.08"}
AV1 = {"codec": "av1", "codec_string": "av01.0.04M.08"}
MPEG4 = {"codec": "mpeg4", "codec_string": "mp4v.20.1"}
WMV = {"codec": "wmv3", "codec_string": None}
AAC = {"codec": "aac", "codec_string": "mp4a.40.2"}
OPUS = {"codec": "opus", "codec_string": "opus"}
MP3 = {"codec": "mp3", "codec_string": "mp3"}
FLAC = {"codec": "flac", "codec_string": "flac"}
AC3 = {"codec": "ac3", "codec_string": "ac-3"}
EAC3 = {"codec": "eac3", "codec_string": "ec-3"}
DTS = {"codec": "dts", "codec_string": "dtsc"}
PCM = {"codec": "pcm_s16le", "codec_string": "1"}


def probe(container: str, video: list[dict[str, Any]], audio: list[dict[str, Any]]) -> dict[str, Any]:
    return {"ok": True, "error": None, "container": container, "video": video, "audio": audio}


MP4_AVC_AAC = 'video/mp4; codecs="avc1.64001f, mp4a.40.2"'


@pytest.mark.parametrize(
    ("kind", "found", "faststart", "verdict", "mime", "ask"),
    [
        pytest.param("video", probe("mp4", [AVC], [AAC]), True, "direct", MP4_AVC_AAC, False, id="h264-aac-mp4-faststart-direct"),
        pytest.param("video", probe("mp4", [AVC], [AAC]), False, "direct", MP4_AVC_AAC, False, id="h264-aac-mp4-index-at-end-direct"),
        pytest.param("video", probe("matroska", [AVC], [AAC]), None, "hls", MP4_AVC_AAC, False, id="h264-in-mkv-hls"),
        pytest.param("video", probe("avi", [AVC], [MP3]), None, "hls", 'video/mp4; codecs="avc1.64001f, mp3"', False, id="h264-in-avi-hls"),
        pytest.param("video", probe("mov", [AVC], [AAC]), True, "hls", MP4_AVC_AAC, False, id="h264-in-mov-hls"),
        pytest.param("video", probe("mpegts", [AVC], [AAC]), None, "hls", MP4_AVC_AAC, False, id="h264-in-ts-hls"),
        pytest.param("video", probe("webm", [AVC], [AAC]), None, "hls", MP4_AVC_AAC, False, id="h264-in-a-webm-named-file-hls"),
        pytest.param("video", probe("webm", [VP9], [OPUS]), None, "direct", 'video/webm; codecs="vp09.00.10.08, opus"', False, id="vp9-opus-webm-direct"),
        pytest.param("video", probe("mp4", [AV1], []), True, "direct", 'video/mp4; codecs="av01.0.04M.08"', True, id="av1-mp4-direct-ask-browser"),
        pytest.param("video", probe("mp4", [HVC1], [AAC]), True, "direct", 'video/mp4; codecs="hvc1.1.6.L93.B0, mp4a.40.2"', True, id="hevc-hvc1-mp4-direct-if-browser-says"),
        pytest.param("video", probe("mp4", [HEV1], [AAC]), True, "hls", 'video/mp4; codecs="hev1.1.6.L93.B0, mp4a.40.2"', True, id="hevc-hev1-repackaged"),
        pytest.param("video", probe("matroska", [HVC1], [AAC]), None, "hls", 'video/mp4; codecs="hvc1.1.6.L93.B0, mp4a.40.2"', True, id="hevc-in-mkv-hls-ask-browser"),
        pytest.param("video", probe("avi", [MPEG4], [MP3]), None, "transcode", None, False, id="mpeg4-part2-avi-transcode"),
        pytest.param("video", probe("asf", [WMV], []), None, "transcode", None, False, id="wmv-transcode"),
        pytest.param("video", probe("mp4", [AVC], [AC3]), True, "hls", MP4_AVC_AAC, False, id="ac3-sound-of-mp4-converted-hls"),
        pytest.param("video", probe("matroska", [AVC], [EAC3]), None, "hls", MP4_AVC_AAC, False, id="eac3-sound-converted-hls"),
        pytest.param("video", probe("mov", [AVC], [PCM]), True, "hls", MP4_AVC_AAC, False, id="pcm-sound-of-mov-converted-hls"),
        pytest.param("video", probe("matroska", [HVC1], [DTS]), None, "hls", 'video/mp4; codecs="hvc1.1.6.L93.B0, mp4a.40.2"', True, id="dts-sound-converted-hevc-asks-browser"),
        pytest.param("video", probe("avi", [MPEG4], [AC3]), None, "transcode", None, False, id="ac3-with-mpeg4-video-still-transcode"),
        pytest.param("video", probe("matroska", [AVC], [{"codec": None, "codec_string": None}]), None, "transcode", None, False, id="unknown-sound-transcode"),
        pytest.param("audio", probe("mp3", [], [MP3]), None, "direct", 'audio/mpeg; codecs="mp3"', False, id="mp3-direct"),
        pytest.param("audio", probe("flac", [], [FLAC]), None, "direct", 'audio/flac; codecs="flac"', False, id="flac-direct"),
        pytest.param("audio", probe("mp4", [], [AAC]), True, "direct", 'audio/mp4; codecs="mp4a.40.2"', False, id="aac-m4a-direct"),
        pytest.param("audio", probe("aac", [], [AAC]), None, "direct", 'audio/aac; codecs="mp4a.40.2"', False, id="adts-aac-direct"),
        pytest.param("audio", probe("ogg", [], [OPUS]), None, "direct", 'audio/ogg; codecs="opus"', False, id="opus-ogg-direct"),
        pytest.param("audio", probe("wav", [], [PCM]), None, "direct", 'audio/wav; codecs="1"', False, id="wav-pcm-direct"),
        pytest.param("audio", probe("matroska", [], [FLAC]), None, "hls", 'audio/mp4; codecs="flac"', False, id="flac-in-mka-hls"),
        pytest.param("audio", probe("matroska", [], [PCM]), None, "transcode", None, False, id="pcm-outside-wav-transcode"),
        pytest.param("audio", probe("ac3", [], [AC3]), None, "transcode", None, False, id="ac3-file-transcode"),
        pytest.param("video", probe("ogg", [{"codec": "theora", "codec_string": "theora"}], []), None, "transcode", None, False, id="theora-transcode"),
        pytest.param("video", probe("mp4", [{"codec": "h264", "codec_string": None}], [AAC]), True, "direct", "video/mp4", False, id="unknown-codec-string-bare-mime"),
        pytest.param("video", probe("mp4", [], []), True, "unsupported", None, False, id="no-streams-unsupported"),
        pytest.param("video", {"ok": False, "error": "not a media file"}, None, "unsupported", None, False, id="unreadable-unsupported"),
        pytest.param("other", None, None, "unsupported", None, False, id="non-media-unsupported"),
    ],
)
def test_verdict(kind: str, found: dict[str, Any] | None, faststart: bool | None, verdict: str, mime: str | None, ask: bool) -> None:
    playback = decide(kind, found, faststart)
    assert playback is not None
    assert (playback.verdict, playback.mime, playback.ask_browser) == (verdict, mime, ask)
    assert (playback.reasons == []) == (verdict == "direct" and not ask and faststart is not False)


@pytest.mark.parametrize(
    ("kind", "found"),
    [
        pytest.param("image", None, id="images-are-not-played"),
        pytest.param("image", probe("png_pipe", [AVC], []), id="images-are-not-played-even-probed"),
        pytest.param("video", None, id="pending-probe-no-verdict"),
    ],
)
def test_no_verdict(kind: str, found: dict[str, Any] | None) -> None:
    assert decide(kind, found) is None


@pytest.mark.parametrize(
    ("found", "words"),
    [
        pytest.param(probe("matroska", [AVC], [AAC]), "Browsers do not open MKV files; it will be converted", id="container-named"),
        pytest.param(probe("avi", [MPEG4], [AAC]), "Browsers cannot play MPEG-4 Part 2 (DivX, Xvid) video", id="codec-named"),
        pytest.param(probe("mp4", [AVC], [AC3]), "Browsers cannot play Dolby Digital (AC-3) sound", id="audio-codec-named"),
        pytest.param(probe("matroska", [AVC], [DTS]), "its sound will be converted", id="video-sound-converted"),
        pytest.param(probe("mp4", [HVC1], [AAC]), "HEVC (H.265) video plays only where the device can decode it", id="hevc-explained"),
    ],
)
def test_reasons_in_plain_words(found: dict[str, Any], words: str) -> None:
    playback = decide("video", found, True)
    assert isinstance(playback, Playback)
    assert any(words in reason for reason in playback.reasons), playback.reasons
    assert not any(jargon in " ".join(playback.reasons).lower() for jargon in ("moov", "atom", "codec", "demux", "remux"))


def test_index_at_end_explained_without_jargon() -> None:
    playback = decide("video", probe("mp4", [AVC], [AAC]), False)
    assert playback is not None and playback.reasons == ["The file's index is at its end, so playback starts after a second request"]
