"""Read one media file's container and streams with PyAV: ``probe_file(path) -> dict``, JSON-ready.

Blocking, so callers run it in a worker thread (PyAV releases the GIL while FFmpeg reads and
parses: measured in tests/test_probe.py). It reads headers and index only (a small probesize and
analyzeduration), gives up after PROBE_TIMEOUT_S, and always closes the container. A corrupt,
truncated or non-media file gives ``{"ok": False, "error": "<plain words>"}``, never an exception.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from fractions import Fraction
from typing import Any, BinaryIO

import av

from streamer.media.codecs import StreamParams, codec_string
from streamer.media.subtitles import is_text_subtitle
from streamer.sources.catalog import parse_box_header
from streamer.sources.file import open_real_path

PROBE_SIZE = 1 << 20  # bytes FFmpeg may read to identify streams (its default is 5 MB)
ANALYZE_US = 1_000_000  # microseconds of media it may read for stream parameters (default 5 s)
PROBE_TIMEOUT_S = 5.0  # per blocking FFmpeg call (open, stream-info) through its interrupt callback
MAX_BOXES = 64  # boxes walked per level when looking for track headers
TAG_KEYS = {
    "title": ("title",),
    "artist": ("artist", "author"),
    "album": ("album",),
    "album_artist": ("album_artist", "albumartist", "album artist"),
    "track": ("track", "tracknumber"),
    "disc": ("disc", "discnumber"),
    "date": ("date", "year"),
    "genre": ("genre",),
}
NOTHING_INSIDE = "it holds no sound or picture; it may be damaged or cut short"
log = logging.getLogger(__name__)


def failure(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error, "container": None, "duration": None, "bitrate": None, "video": [], "audio": [],
            "subtitles": [], "tags": dict.fromkeys(TAG_KEYS), "cover_art": False}


def _plain_error(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file is gone"
    if isinstance(exc, PermissionError):
        return "the file cannot be read (permission denied)"
    if isinstance(exc, av.error.ExitError | TimeoutError):
        return "reading it took too long"
    if isinstance(exc, av.error.InvalidDataError | av.error.EOFError | av.error.PatchWelcomeError | av.error.DecoderNotFoundError):
        return "it is damaged, cut short, or not in an audio or video format"
    return "it could not be read"


def _container_name(container: Any, path: str) -> str:
    names = container.format.name.split(",")
    if names[0] == "mov":
        return "mov" if container.metadata.get("major_brand", "").strip() == "qt" else "mp4"
    if names[0] == "matroska":
        return "webm" if path.lower().endswith(".webm") else "matroska"
    return names[0]


def _number(value: float | Fraction | None, digits: int = 3) -> float | None:
    if value is None or not math.isfinite(float(value)) or float(value) <= 0:
        return None
    return round(float(value), digits)


def _language(stream: Any) -> str | None:
    language = stream.metadata.get("language")
    return None if language in (None, "", "und") else language


def _params(stream: Any, container_name: str, bit_depth: int | None = None) -> StreamParams:
    cc = stream.codec_context
    tag = cc.codec_tag.strip("\x00 ") if isinstance(cc.codec_tag, str) else None
    return StreamParams(
        codec=cc.codec.canonical_name, extradata=bytes(cc.extradata or b""), profile=cc.profile,
        level=cc.level if cc.level is not None and cc.level >= 0 else None, bit_depth=bit_depth,
        width=getattr(cc, "width", None), height=getattr(cc, "height", None),
        fps=_number(getattr(stream, "average_rate", None)), tag=tag, container=container_name,
    )


def _bit_depth(pix_fmt: str | None) -> int | None:
    try:
        return av.VideoFormat(pix_fmt).components[0].bits if pix_fmt else None
    except (ValueError, IndexError):
        return None


def _video(stream: Any, container_name: str, rotation: int | None) -> dict[str, Any]:
    cc = stream.codec_context
    params = _params(stream, container_name, _bit_depth(cc.pix_fmt))
    return {"codec": params.codec, "codec_string": codec_string(params), "profile": cc.profile, "level": params.level,
            "width": cc.width or None, "height": cc.height or None,
            "fps": _number(stream.average_rate) or _number(stream.guessed_rate), "bit_depth": params.bit_depth,
            "rotation": rotation}


def _audio(stream: Any, container_name: str) -> dict[str, Any]:
    cc = stream.codec_context
    params = _params(stream, container_name)
    return {"codec": params.codec, "codec_string": codec_string(params), "channels": cc.layout.nb_channels or None,
            "sample_rate": cc.sample_rate or None, "language": _language(stream)}


def _subtitle(stream: Any) -> dict[str, Any]:
    codec = stream.codec_context.codec.canonical_name if stream.codec_context else None
    return {"index": stream.index, "codec": codec, "language": _language(stream), "title": stream.metadata.get("title"),
            "text": is_text_subtitle(codec)}


def _tags(container: Any) -> dict[str, str | None]:
    found: dict[str, str] = {}
    for source in (container.metadata, *(s.metadata for s in container.streams.audio)):  # Ogg keeps them per stream
        for key, value in source.items():
            found.setdefault(key.lower(), value)
    return {name: next((found[k] for k in keys if found.get(k)), None) for name, keys in TAG_KEYS.items()}


def _duration(container: Any) -> float | None:
    if container.duration is not None:
        return _number(container.duration / av.time_base)
    spans = [s.duration * s.time_base for s in container.streams if s.duration and s.time_base]
    return _number(max(spans)) if spans else None


def describe(container: Any, path: str, opened: str | BinaryIO | None = None) -> dict[str, Any]:
    """The probe record of an open container (see the API contract in the README); ``opened`` (a path, or the
    seekable file object the container reads) reads like ``path``."""
    name = _container_name(container, path)
    pictures = [s for s in container.streams.video if s.disposition & av.stream.Disposition.attached_pic]
    rotations = read_rotations(opened or path) if name in ("mp4", "mov") else {}
    return {
        "ok": True, "error": None, "container": name, "duration": _duration(container),
        "bitrate": container.bit_rate or None,
        "video": [_video(s, name, rotations.get(s.id)) for s in container.streams.video if s not in pictures],
        "audio": [_audio(s, name) for s in container.streams.audio],
        "subtitles": [_subtitle(s) for s in container.streams.subtitles],
        "tags": _tags(container), "cover_art": bool(pictures),
    }


def probe_file(path: str) -> dict[str, Any]:
    """Probe one file (a real path from the catalog); never raises for bad input (the result says what went wrong).

    The file is opened along ``path`` without following symlinks, and PyAV reads that open file
    through ``/proc/self/fd``: a folder swapped for a link out of the root is never probed.
    """
    options = {"probesize": str(PROBE_SIZE), "analyzeduration": str(ANALYZE_US)}
    fd = -1
    try:
        fd = open_real_path(path)
        opened = f"/proc/self/fd/{fd}"
        with av.open(opened, options=options, timeout=PROBE_TIMEOUT_S, metadata_errors="replace") as container:
            if not container.streams.video and not container.streams.audio:  # e.g. an MP4 whose index was cut off
                return failure(NOTHING_INSIDE)
            return describe(container, path, opened)
    except (OSError, av.FFmpegError, ValueError, TimeoutError, UnicodeError) as exc:
        log.debug("probe of %s failed: %r", path, exc)
        return failure(_plain_error(exc))
    finally:
        if fd >= 0:
            os.close(fd)


def probe_stream(file: BinaryIO, name: str) -> dict[str, Any]:
    """Probe a seekable binary file object (an object in a store); like ``probe_file``, never raises for bad input.

    ``name`` gives the container's name where the format does not. Rotations are read from the
    same file object (``read_rotations``, a few small reads; its position is put back).
    """
    options = {"probesize": str(PROBE_SIZE), "analyzeduration": str(ANALYZE_US)}
    try:
        with av.open(file, options=options, metadata_errors="replace") as container:
            if not container.streams.video and not container.streams.audio:
                return failure(NOTHING_INSIDE)
            return describe(container, name, file)
    except (OSError, av.FFmpegError, ValueError, TimeoutError, UnicodeError) as exc:
        log.debug("probe of %s failed: %r", name, exc)
        return failure(_plain_error(exc))


def rotation_of(matrix: tuple[int, ...]) -> int:
    """Degrees from a track's 3x3 display matrix (16.16 fixed point), as ffprobe reports them."""
    a, b, c, d = matrix[0], matrix[1], matrix[3], matrix[4]
    scale_x, scale_y = math.hypot(a, c), math.hypot(b, d)
    if not scale_x or not scale_y:
        return 0
    degrees = -math.degrees(math.atan2(b / scale_y, a / scale_x))
    return int(round(degrees)) or 0


def _read_at(file: BinaryIO, length: int, offset: int) -> bytes:
    file.seek(offset)
    return file.read(length)


def _children(fd: BinaryIO, start: int, end: int) -> list[tuple[str, int, int]]:
    boxes, offset = [], start
    for _ in range(MAX_BOXES):
        if offset >= end:
            break
        box = parse_box_header(_read_at(fd, 16, offset), end - offset)
        if box is None:
            break
        boxes.append((box[0], offset, box[1]))
        offset += box[1]
    return boxes


def _track_rotation(fd: BinaryIO, offset: int, size: int) -> tuple[int, int] | None:
    head = _read_at(fd, min(size, 8 + 104), offset + 8)  # a version-1 track header is 104 bytes with its flags
    version = head[0] if head else None
    if version not in (0, 1):
        return None
    id_at, matrix_at = (12, 40) if version == 0 else (20, 52)
    if len(head) < matrix_at + 36:
        return None
    track_id = struct.unpack_from(">I", head, id_at)[0]
    return track_id, rotation_of(struct.unpack_from(">9i", head, matrix_at))


def read_rotations(source: str | BinaryIO) -> dict[int, int]:
    """Track id -> rotation from the ``tkhd`` boxes of an ISO BMFF file (a path, or a seekable file object whose
    position is put back): a few small reads, never the media data."""
    if not isinstance(source, str):
        position = source.tell()
        try:
            return _rotations(source)
        finally:
            source.seek(position)
    try:
        file = open(source, "rb", buffering=0)  # noqa: SIM115 - closed below
    except OSError:
        return {}
    with file:
        return _rotations(file)


def _rotations(fd: BinaryIO) -> dict[int, int]:
    try:
        size = fd.seek(0, os.SEEK_END)
        found: dict[int, int] = {}
        for kind, offset, length in _children(fd, 0, size):
            if kind != "moov":
                continue
            for trak, t_offset, t_length in _children(fd, offset + 8, offset + length):
                if trak == "trak":
                    headers = [b for b in _children(fd, t_offset + 8, t_offset + t_length) if b[0] == "tkhd"]
                    pairs = [p for b in headers[:1] if (p := _track_rotation(fd, b[1], b[2])) is not None]
                    found.update(pairs)
        return found
    except OSError:
        return {}
