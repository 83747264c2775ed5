"""Tiny real media files for the probe tests, made with PyAV: a few 64x64 frames, a fraction of a second of sound.

Each maker writes one file and returns its path. Encoders are quiet and single-threaded so the
whole set takes well under a second or two.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

SIDE = 64
FPS = 24
RATE = 48_000
QUIET = {"x265-params": "log-level=none", "threads": "1"}
TAGS = {"title": "Song Title", "artist": "The Artist", "album": "The Album", "album_artist": "Various",
        "track": "3/12", "disc": "1/2", "date": "2024", "genre": "Ambient"}


def _video_frames(count: int) -> Any:
    for index in range(count):
        frame = av.VideoFrame(SIDE, SIDE, "yuv420p")
        for plane, value in zip(frame.planes, (16 + index * 20, 128, 128)):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts = index
        frame.pict_type = av.video.frame.PictureType.NONE
        yield frame


def _add_audio(container: Any, codec: str, language: str | None = None) -> Any:
    stream = container.add_stream(codec, rate=RATE if codec != "libmp3lame" else 44_100)
    stream.layout = "stereo"
    if language:
        stream.metadata["language"] = language
    return stream


def _encode_audio(container: Any, stream: Any, frames: int = 3) -> None:
    size = stream.codec_context.frame_size or 1024
    rate = stream.codec_context.sample_rate
    for index in range(frames):
        frame = av.AudioFrame(format=stream.format.name, layout="stereo", samples=size)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts, frame.time_base = rate, index * size, Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def make_av(path: Path, fmt: str, vcodec: str | None, acodec: str | None, *, options: dict[str, str] | None = None,
            tag: str | None = None, rotation: int | None = None, language: str | None = None, frames: int = 4) -> Path:
    """A clip with one video stream and/or one audio stream."""
    with av.open(str(path), "w", format=fmt, options={"fflags": "+bitexact", **(options or {})}) as container:
        video = audio = None
        if vcodec:
            video = container.add_stream(vcodec, rate=FPS, options=QUIET if vcodec == "libx265" else {"threads": "1"})
            video.width, video.height, video.pix_fmt = SIDE, SIDE, "yuv420p"
            if tag:
                video.codec_tag = tag
            if rotation is not None:
                video.set_display_rotation(rotation)
        if acodec:
            audio = _add_audio(container, acodec, language)
        if video is not None:
            for frame in _video_frames(frames):
                container.mux(video.encode(frame))
            container.mux(video.encode(None))
        if audio is not None:
            _encode_audio(container, audio)
    return path


def _cover_png() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="image2pipe") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
        frame = av.VideoFrame(16, 16, "rgb24")
        frame.planes[0].update(bytes([200, 40, 40]) * (frame.planes[0].buffer_size // 3))
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


def make_tagged_audio(path: Path, fmt: str, codec: str, *, cover: bool = False) -> Path:
    """An audio file with every tag of TAGS, and an attached cover picture if asked."""
    with av.open(str(path), "w", format=fmt, options={"fflags": "+bitexact"}) as container:
        container.metadata.update(TAGS)
        audio = _add_audio(container, codec)
        picture = None
        if cover:
            picture = container.add_stream("png")
            picture.width, picture.height, picture.pix_fmt = 16, 16, "rgb24"
            picture.disposition = av.stream.Disposition.attached_pic
        if picture is not None:
            packet = av.Packet(_cover_png())
            packet.stream, packet.pts, packet.dts = picture, 0, 0
            packet.is_keyframe = True
            container.mux(packet)
        _encode_audio(container, audio)
    return path


def make_truncated(source: Path, path: Path) -> Path:
    """An MP4 whose index (at its end) was cut short, as by an interrupted download."""
    data = source.read_bytes()
    moov = data.rindex(b"moov") - 4
    path.write_bytes(data[: moov + 24])
    return path


def make_corpus(root: Path) -> dict[str, Path]:
    """Every case of the probe tests, by name."""
    root.mkdir(parents=True, exist_ok=True)
    made = {
        "faststart": make_av(root / "faststart.mp4", "mp4", "libx264", "aac", options={"movflags": "+faststart"}),
        "moov-at-end": make_av(root / "moov-at-end.mp4", "mp4", "libx264", "aac"),
        "rotated": make_av(root / "rotated.mp4", "mp4", "libx264", None, rotation=90),
        "mkv": make_av(root / "h264.mkv", "matroska", "libx264", "aac", language="fra"),
        "hevc": make_av(root / "hevc.mp4", "mp4", "libx265", "aac", tag="hvc1", options={"movflags": "+faststart"}),
        "webm": make_av(root / "vp9.webm", "webm", "libvpx-vp9", "libopus"),
        "av1": make_av(root / "av1.mp4", "mp4", "libsvtav1", None, options={"movflags": "+faststart"}, frames=2),
        "avi": make_av(root / "divx.avi", "avi", "mpeg4", "libmp3lame"),
        "ac3": make_av(root / "dolby.mkv", "matroska", "libx264", "ac3"),
        "mp3": make_tagged_audio(root / "song.mp3", "mp3", "libmp3lame", cover=True),
        "flac": make_tagged_audio(root / "song.flac", "flac", "flac"),
        "text": root / "notes.mp4",
    }
    made["text"].write_text("not a video at all\n" * 10)
    made["truncated"] = make_truncated(made["moov-at-end"], root / "truncated.mp4")
    return made
