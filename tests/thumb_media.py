"""Small real media for the thumbnail tests, made with Pillow, pillow-heif, PyAV and ffmpeg."""

from __future__ import annotations

import io
import random
import struct
import subprocess
import zlib
from fractions import Fraction
from pathlib import Path

from PIL import Image

PHOTO_SIZE = (1200, 800)
EXIF_ORIENTATION = 0x0112
ROTATE_90_CW = 6  # EXIF orientation: the stored image must be turned 90 degrees clockwise
RED, BLUE = (220, 20, 20), (20, 20, 220)


def two_tone(size: tuple[int, int] = PHOTO_SIZE, mode: str = "RGB") -> Image.Image:
    """Top half red, bottom half blue: where they end up shows the orientation."""
    image = Image.new(mode, size, RED)
    image.paste(BLUE, (0, size[1] // 2, size[0], size[1]))
    return image


def jpeg_bytes(image: Image.Image, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[EXIF_ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid-looking PNG header that declares ``width`` x ``height`` pixels, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def write_video(path: Path, *, dark_seconds: float = 1.5, seconds: float = 3.0, fps: int = 10) -> None:
    """H.264 at 320x240, black for ``dark_seconds`` then light grey; a keyframe every 5 frames."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.gop_size = 5
        stream.codec_context.options = {"keyint_min": "5", "sc_threshold": "0"}
        for index in range(int(seconds * fps)):
            shade = 0 if index < dark_seconds * fps else 200
            frame = av.VideoFrame.from_image(Image.new("RGB", (320, 240), (shade, shade, shade)))
            frame.pts, frame.time_base = index, Fraction(1, fps)
            frame.pict_type = av.video.frame.PictureType.NONE
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_tone(path: Path, cover: Path | None = None) -> None:
    """Half a second of MP3, with ``cover`` embedded as its attached picture if given."""
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5"]
    if cover is not None:
        command += ["-i", str(cover), "-map", "0:a", "-map", "1:v", "-c:v", "mjpeg", "-disposition:v", "attached_pic"]
    command += ["-c:a", "libmp3lame", "-b:a", "64k", str(path)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def make_thumb_media(root: Path) -> Path:
    """Every kind of input the thumbnail route takes, good and bad, under ``root``."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    root.mkdir(parents=True, exist_ok=True)
    (root / "rotated.jpg").write_bytes(jpeg_bytes(two_tone(), ROTATE_90_CW))
    (root / "photo.jpg").write_bytes(jpeg_bytes(two_tone()))
    two_tone(mode="RGBA").save(root / "alpha.png")
    two_tone().save(root / "photo.webp", quality=80)
    two_tone().save(root / "photo.tiff")
    two_tone((640, 480)).save(root / "photo.heic", quality=60)
    frames = [Image.new("P", (300, 200), color) for color in (1, 2)]
    frames[0].putpalette([0, 0, 0, 220, 20, 20, 20, 20, 220] + [0] * 759)
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    (root / "bomb.png").write_bytes(png_declaring(30_000, 30_000))
    (root / "truncated.jpg").write_bytes((root / "photo.jpg").read_bytes()[:6000])
    (root / "noise.jpg").write_bytes(random.Random(1).randbytes(5000))
    (root / "noise.mp4").write_bytes(random.Random(2).randbytes(20000))
    (root / "notes.txt").write_bytes(b"not media\n")
    write_video(root / "clip.mp4")
    cover = root / "cover-art.png"
    two_tone((500, 500)).save(cover)
    write_tone(root / "embedded.mp3", cover)
    (root / "album").mkdir(exist_ok=True)
    write_tone(root / "album" / "track.mp3")
    two_tone((400, 300)).save(root / "album" / "Cover.JPG", "JPEG")
    (root / "lonely").mkdir(exist_ok=True)
    write_tone(root / "lonely" / "track.mp3")
    return root
