"""Thumbnail jobs, run in worker processes: a small image from a photo, a video's poster or an audio file's cover.

Every job checks the declared pixel count before it decodes anything (``MAX_PIXELS``),
decodes no more than the format allows (JPEG at 1/2, 1/4 or 1/8 scale through
``draft()``; other formats reduced by whole factors before resampling), applies the EXIF
orientation, never upscales, keeps no metadata, and writes the result to the path it is
given. Expected failures raise ``JobError`` with a status and a reason for the client.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, Any

from streamer.media.jobs import JobError
from streamer.sources.s3reader import S3Object, readable

SIZES = (160, 320, 640, 1280, 2560)  # longest side, pixels
MAX_PIXELS = 50_000_000  # declared width x height above this is refused before decoding (imgproxy's cap)
FORMATS = {"webp": "image/webp", "jpeg": "image/jpeg"}
QUALITY = 80
POSTER_AT = (0.1, 0.2, 0.3, 0.05, 0.5)  # fractions of the duration tried in turn for a poster
DARK_LUMA = 24  # mean luma (0-255) below which a frame counts as black
MAX_PACKETS = 600  # read at most this many packets looking for one keyframe
THUMB_VERSION = 1  # part of every cache key and ETag: bump when the output changes


@dataclass(frozen=True)
class ThumbJob:
    """One thumbnail to make: ``kind`` is ``image``, ``video`` or ``audio``; written to ``output``."""

    source: str | S3Object  # a path, or an object in a store (read with ranged GETs in the worker)
    kind: str
    size: int
    fmt: str
    output: str
    cover: str | S3Object | None = None  # for audio: a cover image in the same folder (file or object), if any


def make_thumbnail(job: ThumbJob) -> tuple[int, int]:
    """Make and write the thumbnail; its width and height. Runs in a worker process."""
    try:
        with readable(job.source) as source:
            if job.kind == "video":
                image = _poster(source, job.size)
            elif job.kind == "audio":
                image = _cover(source, job.cover, job.size)
            else:
                image = _photo(source, job.size)
        with image:
            _save(image, job.fmt, job.output)
            return image.size
    except JobError:
        raise
    except MemoryError as exc:
        raise JobError(422, "The file needs more memory than a media job may use.") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise anything on hostile input: it is the input's fault
        detail = _describe(exc).replace(str(job.source), "the file").replace(str(job.cover or job.source), "the cover")
        raise JobError(422, f"The file could not be decoded: {detail}") from None


def check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        megapixels = width * height / 1e6
        raise JobError(422, f"The image declares {width}x{height} pixels ({megapixels:.0f} MP), over the limit of "
                            f"{MAX_PIXELS / 1e6:.0f} MP.")


def fit(width: int, height: int, size: int) -> tuple[int, int]:
    """The dimensions of ``width`` x ``height`` shrunk to a longest side of ``size``; never enlarged."""
    scale = min(1.0, size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _photo(source: str | IO[bytes], size: int) -> Any:
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    Image.MAX_IMAGE_PIXELS = None  # check_pixels below is the limit, with a message for the client
    try:
        image = Image.open(source)
    except UnidentifiedImageError:
        raise JobError(422, "Not an image this server can read.") from None
    try:
        check_pixels(*image.size)
        if image.format == "JPEG":  # shrink on load: the decoder itself scales by 1/2, 1/4 or 1/8
            image.draft("RGB", fit(*image.size, size * 2))
        image.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
        ImageOps.exif_transpose(image, in_place=True)
        return image
    except BaseException:
        image.close()
        raise


def _save(image: Any, fmt: str, output: str) -> None:
    from PIL import Image

    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if fmt == "jpeg" and has_alpha:  # JPEG has no alpha: put it on white
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode not in ("RGB", "L") and not (fmt == "webp" and has_alpha):
        image = image.convert("RGB")
    elif fmt == "webp" and has_alpha and image.mode != "RGBA":
        image = image.convert("RGBA")
    if fmt == "jpeg":
        image.save(output, "JPEG", quality=QUALITY, optimize=True)
    else:
        image.save(output, "WEBP", quality=QUALITY, method=4)


def _poster(source: str | IO[bytes], size: int) -> Any:
    import av

    try:
        container = av.open(source, metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise JobError(422, f"Not a video this server can read: {exc.strerror}") from None
    with container:
        streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not streams:
            raise JobError(422, "The file has no video stream.")
        stream = streams[0]
        check_pixels(stream.codec_context.width, stream.codec_context.height)
        stream.codec_context.skip_frame = "NONKEY"  # decode keyframes only
        stream.thread_type = "AUTO"
        duration = _duration(container, stream)
        best, best_luma = None, -1.0
        for fraction in POSTER_AT if duration else (0.0,):
            image = _keyframe_near(container, stream, duration * fraction, size)
            if image is None:
                continue
            luma = _mean_luma(image)
            if luma > best_luma:
                best, best_luma = image, luma
            if luma >= DARK_LUMA:
                break
    if best is None:
        raise JobError(422, "No video frame could be decoded.")
    return best


def _duration(container: Any, stream: Any) -> float:
    if container.duration:
        return container.duration / 1_000_000
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def _keyframe_near(container: Any, stream: Any, seconds: float, size: int) -> Any:
    """The first keyframe at or before ``seconds``, scaled to fit ``size`` and upright."""
    if seconds > 0 and stream.time_base:
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True, any_frame=False)
    for count, packet in enumerate(container.demux(stream)):
        if count >= MAX_PACKETS:
            return None
        for frame in packet.decode():
            width, height = fit(frame.width, frame.height, size)
            image = frame.reformat(width=width, height=height, format="rgb24").to_image()
            rotation = getattr(frame, "rotation", 0)  # degrees counterclockwise, from the display matrix
            return image.rotate(rotation, expand=True) if rotation else image
    return None


def _mean_luma(image: Any) -> float:
    from PIL import ImageStat

    return float(ImageStat.Stat(image.convert("L")).mean[0])


def _cover(source: str | IO[bytes], cover: str | S3Object | None, size: int) -> Any:
    """The embedded picture (an ``attached_pic`` stream), else the folder's cover file."""
    import av

    try:
        container = av.open(source, metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise JobError(422, f"Not an audio file this server can read: {exc.strerror}") from None
    with container:
        pictures = [s for s in container.streams.video if s.disposition & av.stream.Disposition.attached_pic]
        data = next((bytes(p) for s in pictures[:1] for p in container.demux(s) if p.size), None)
    if data is not None:
        return _photo(io.BytesIO(data), size)
    if cover is not None:
        with readable(cover) as opened:
            return _photo(opened, size)
    raise JobError(404, "No cover art: nothing embedded, and no cover.jpg, folder.jpg or front.jpg beside the file.")


def _register_heif() -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
