"""Make the bundled sample media: ``python -m streamer.media.samples [DIR]`` (needs PyAV: ``pip install -e '.[media]'``).

Everything is generated (moving colour bars with a noise patch, sine tones), so
there is no licensing question. Output is deterministic where the formats
allow: fixed seeds, single-threaded encoders, no creation times. The noise
patch sets the bitrate, so the long clip is about 1 MB: big enough that a
throttled browser must ask for a mid-file range to seek in it.
"""

from __future__ import annotations

import math
import random
import struct
import sys
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, FPS = 320, 180, 24
AUDIO_RATE = 48_000
BITEXACT = {"fflags": "+bitexact"}  # no random container ids (Matroska UIDs, Ogg serials), no version strings
CLIPS = (
    # name, container, video codec, audio codec, seconds, faststart, noise patch side (sets the bitrate)
    ("bars-faststart.mp4", "mp4", "libx264", "aac", 4, True, 32),
    ("bars-moov-at-end.mp4", "mp4", "libx264", "aac", 4, False, 32),
    ("long/seek-test.mp4", "mp4", "libx264", "aac", 10, True, 80),
    ("bars.webm", "webm", "libvpx-vp9", "libopus", 4, False, 32),
)
SERIES = tuple(f"series/Episode {n}.mkv" for n in (1, 2, 10))  # H.264/AAC in Matroska: plays once converted
LEGACY = "legacy/old-camera.avi"  # MPEG-4 Part 2 and MP3 in AVI: no browser decodes the video
ALBUM = (
    # name, title, track, seconds, frequency
    ("album/01 Morning.mp3", "Morning", 1, 3, 392.0),
    ("album/02 Evening.mp3", "Evening", 2, 3, 329.63),
)
ALBUM_TAGS = {"artist": "The Sine Waves", "album": "Test Tones", "date": "2026", "genre": "Ambient"}
PHOTOS = (("photos/dawn.jpg", 0), ("photos/noon.jpg", 1), ("photos/dusk.jpg", 2))  # (name, palette)
PHOTO_SIZE = (1600, 1200)
HEIC_PHOTO = "images/phone.heic"  # what iPhones store: only Safari shows it, so the page needs its thumbnail
HEIC_SIZE = (640, 480)
SUBTITLES = "bars-faststart.en.srt"
SUBTITLE_TEXT = "1\n00:00:00,500 --> 00:00:02,000\nColour bars\n\n2\n00:00:02,000 --> 00:00:03,800\nand a tone\n"
TONES = (
    # name, container, codec, seconds, frequency
    ("tones/a440.mp3", "mp3", "libmp3lame", 6, 440.0),
    ("tones/e659.opus", "ogg", "libopus", 6, 659.25),
    ("tones/c523.wav", "wav", "pcm_s16le", 2, 523.25),
)


def _bars_frame(av: Any, index: int, noise: random.Random, block: int) -> Any:
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    shift = index * 4
    luma_row = bytes(40 + ((x + shift) // 40 % 8) * 25 for x in range(WIDTH))
    luma = bytearray(luma_row * HEIGHT)
    for y in range(block):  # a patch of noise that no encoder can squeeze
        start = (y + 16) * WIDTH + 16
        luma[start : start + block] = noise.randbytes(block)
    chroma_u = bytes(64 + ((x + shift) // 20 % 8) * 16 for x in range(WIDTH // 2)) * (HEIGHT // 2)
    chroma_v = bytes(192 - ((x + shift) // 20 % 8) * 16 for x in range(WIDTH // 2)) * (HEIGHT // 2)
    for plane, data in zip(frame.planes, (bytes(luma), chroma_u, chroma_v)):
        plane.update(data)
    frame.pts = index
    frame.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose keyframes
    return frame


def _tone_frames(av: Any, seconds: float, frequency: float, samples_per_frame: int) -> Any:
    total = int(seconds * AUDIO_RATE)
    for start in range(0, total, samples_per_frame):
        count = min(samples_per_frame, total - start)
        values = [0.4 * math.sin(2 * math.pi * frequency * (start + i) / AUDIO_RATE) for i in range(count)]
        frame = av.AudioFrame(format="flt", layout="mono", samples=count)
        frame.planes[0].update(struct.pack(f"<{count}f", *values))
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        yield frame


def _audio_stream(container: Any, codec: str) -> Any:
    stream = container.add_stream(codec, rate=AUDIO_RATE)
    stream.layout = "mono"
    stream.time_base = Fraction(1, AUDIO_RATE)
    if codec == "pcm_s16le":
        stream.format = "s16"
    return stream


def _encode_audio(av: Any, container: Any, stream: Any, seconds: float, frequency: float) -> None:
    resampler = av.AudioResampler(format=stream.format, layout="mono", rate=AUDIO_RATE)
    samples = stream.codec_context.frame_size or 1024
    for frame in _tone_frames(av, seconds, frequency, samples):
        for converted in resampler.resample(frame):
            container.mux(stream.encode(converted))
    for converted in resampler.resample(None):
        container.mux(stream.encode(converted))
    container.mux(stream.encode(None))


def make_clip(av: Any, path: Path, fmt: str, vcodec: str, acodec: str, seconds: int, faststart: bool, block: int) -> None:
    options = {**BITEXACT, "movflags": "+faststart"} if faststart else BITEXACT
    with av.open(str(path), "w", format=fmt, options=options) as container:
        video = container.add_stream(vcodec, rate=FPS, options={"threads": "1", "g": str(FPS * 2)})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = _audio_stream(container, acodec)
        noise = random.Random(seconds)
        audio_frames = _tone_frames(av, seconds, 440.0, audio.codec_context.frame_size or 960)
        resampler = av.AudioResampler(format=audio.format, layout="mono", rate=AUDIO_RATE)
        pending_audio: list[Any] = []
        for index in range(seconds * FPS):
            container.mux(video.encode(_bars_frame(av, index, noise, block)))
            while (index + 1) / FPS * AUDIO_RATE > sum(f.samples for f in pending_audio):  # interleave by time
                frame = next(audio_frames, None)
                if frame is None:
                    break
                pending_audio.append(frame)
                for converted in resampler.resample(frame):
                    container.mux(audio.encode(converted))
        container.mux(video.encode(None))
        for converted in resampler.resample(None):
            container.mux(audio.encode(converted))
        container.mux(audio.encode(None))


def make_tone(av: Any, path: Path, fmt: str, codec: str, seconds: int, frequency: float) -> None:
    with av.open(str(path), "w", format=fmt, options=BITEXACT) as container:
        stream = _audio_stream(container, codec)
        _encode_audio(av, container, stream, seconds, frequency)


def make_small_clip(av: Any, path: Path, fmt: str, vcodec: str, acodec: str, seconds: int) -> None:
    """A 160x90 clip for the containers and codecs browsers do not play as they are."""
    with av.open(str(path), "w", format=fmt, options=BITEXACT) as container:
        video = container.add_stream(vcodec, rate=FPS, options={"threads": "1", "g": str(FPS)})
        video.width, video.height, video.pix_fmt = WIDTH // 2, HEIGHT // 2, "yuv420p"
        audio = _audio_stream(container, acodec)
        noise = random.Random(seconds)
        for index in range(seconds * FPS):
            frame = _bars_frame(av, index, noise, 8).reformat(width=WIDTH // 2, height=HEIGHT // 2)
            frame.pts, frame.pict_type = index, av.video.frame.PictureType.NONE
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        _encode_audio(av, container, audio, seconds, 440.0)


def make_song(av: Any, path: Path, title: str, track: int, seconds: int, frequency: float) -> None:
    with av.open(str(path), "w", format="mp3", options=BITEXACT) as container:
        container.metadata.update({**ALBUM_TAGS, "title": title, "track": f"{track}/{len(ALBUM)}"})
        stream = _audio_stream(container, "libmp3lame")
        _encode_audio(av, container, stream, seconds, frequency)


def _fill_plane(plane: Any, data: bytes) -> None:
    """Copy tightly packed rows into a plane whose rows may be padded to its line size."""
    width = len(data) // plane.height
    pad = bytes(plane.line_size - width)
    plane.update(b"".join(data[y * width : (y + 1) * width] + pad for y in range(plane.height)))


def make_jpeg(av: Any, path: Path, width: int, height: int, palette: int) -> None:
    """A smooth sky-and-ground picture (JPEG compresses it well), encoded by FFmpeg's own MJPEG encoder."""
    frame = av.VideoFrame(width, height, "yuvj420p")
    luma = bytearray(width * height)
    horizon = height * (5 + palette) // 10
    for y in range(height):
        value = 60 + 150 * y // horizon if y < horizon else 40 + 60 * (height - y) // (height - horizon)
        luma[y * width : (y + 1) * width] = bytes([min(value + x * 30 // width, 255) for x in range(width)])
    tint = ((150, 110), (90, 170), (170, 140))[palette % 3]
    chroma = [bytes([tint[0]]) * (width * height // 4), bytes([tint[1]]) * (width * height // 4)]
    for plane, data in zip(frame.planes, (bytes(luma), *chroma)):
        _fill_plane(plane, data)
    with av.open(str(path), "w", format="image2", options={**BITEXACT, "update": "1"}) as container:
        stream = container.add_stream("mjpeg", rate=1, options={"q:v": "4"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def make_png(path: Path, width: int = 64, height: int = 64) -> None:
    """A colour-wheel-ish gradient, written with zlib alone (PNG is simple enough)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in (x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def make_heic(path: Path, width: int = HEIC_SIZE[0], height: int = HEIC_SIZE[1]) -> None:
    """A small sky-and-ground photo in HEIC, through pillow-heif (libheif and x265): under 1 KB."""
    from PIL import Image
    from pillow_heif import register_heif_opener

    register_heif_opener()
    sky = Image.linear_gradient("L").resize((width, height))
    ground = Image.new("L", (width, height), 70)
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (0, height * 3 // 5, width, height))
    luma = Image.composite(ground, sky, mask)
    photo = Image.merge("RGB", (luma.point(lambda v: v // 2), luma.point(lambda v: 60 + v // 2), luma.point(lambda v: 120 + v // 2)))
    photo.save(path, quality=50)


def make_all(root: Path) -> list[Path]:
    import av  # a development extra: only this script needs it

    made = []
    for name, fmt, vcodec, acodec, seconds, faststart, block in CLIPS:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        make_clip(av, path, fmt, vcodec, acodec, seconds, faststart, block)
        made.append(path)
    for name, fmt, codec, seconds, frequency in TONES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        make_tone(av, path, fmt, codec, seconds, frequency)
        made.append(path)
    made += make_library(av, root)
    (root / "images").mkdir(exist_ok=True)
    make_png(root / "images" / "gradient.png")
    make_heic(root / HEIC_PHOTO)
    made += [root / "images" / "gradient.png", root / HEIC_PHOTO]
    return made


def make_library(av: Any, root: Path) -> list[Path]:
    """What a real library has beyond clips: a series, a legacy file, an album with its cover, photos, subtitles."""
    jobs = [(make_small_clip, name, ("matroska", "libx264", "aac", 1)) for name in SERIES]
    jobs.append((make_small_clip, LEGACY, ("avi", "mpeg4", "libmp3lame", 2)))
    jobs += [(make_song, name, (title, track, seconds, frequency)) for name, title, track, seconds, frequency in ALBUM]
    jobs += [(make_jpeg, name, (*PHOTO_SIZE, palette)) for name, palette in PHOTOS]
    jobs.append((make_jpeg, "album/cover.jpg", (300, 300, 1)))
    made = []
    for make, name, args in jobs:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        make(av, path, *args)
        made.append(path)
    (root / SUBTITLES).write_text(SUBTITLE_TEXT, encoding="utf-8")
    return [*made, root / SUBTITLES]


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "media")
    root.mkdir(parents=True, exist_ok=True)
    for path in make_all(root):
        print(f"{path.stat().st_size:>9}  {path}")


if __name__ == "__main__":
    main()
