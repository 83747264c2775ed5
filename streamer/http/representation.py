"""What a file looks like over HTTP: size, modification time, ETag, media type.

No I/O in this module: a ``Representation`` is built from an ``os.stat_result``
taken by the caller on the open descriptor. The ETag comes from size and mtime
only (no inode), so it is identical across restarts, workers and machines.
Media types come from a fixed table, never from the platform's mime database,
and nothing is ever labelled as HTML or another type a browser would execute.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from enum import Enum
from typing import Protocol
from urllib.parse import quote

from streamer.http.conditional import ETag

OCTET_STREAM = "application/octet-stream"


class StatLike(Protocol):
    """The two fields of ``os.stat_result`` that define a representation."""

    @property
    def st_size(self) -> int: ...

    @property
    def st_mtime_ns(self) -> int: ...


class Kind(Enum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"
    OTHER = "other"


MEDIA_TYPES: dict[str, str] = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".ogv": "video/ogg",
    ".ts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".avi": "video/x-msvideo",
    ".wmv": "video/x-ms-wmv",
    ".flv": "video/x-flv",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".3gp": "video/3gpp",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",  # Opus in an Ogg container (RFC 7845)
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".mka": "audio/x-matroska",
    ".wma": "audio/x-ms-wma",
    ".ac3": "audio/ac3",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip",
}


def media_type_for(name: str) -> str:
    """The media type for a file name, by extension; ``application/octet-stream`` if unknown."""
    return MEDIA_TYPES.get(posixpath.splitext(name)[1].lower(), OCTET_STREAM)


def kind_of(media_type: str) -> Kind:
    major = media_type.partition("/")[0]
    return Kind(major) if major in ("video", "audio", "image") else Kind.OTHER


@dataclass(frozen=True)
class Representation:
    """The selected representation of one file, as fixed by one ``fstat``."""

    size: int
    mtime_ns: int
    media_type: str
    filename: str
    validator: str | None = None  # for content that is not a file: names it in the ETag instead of mtime

    @classmethod
    def from_stat(cls, st: StatLike, filename: str) -> Representation:
        return cls(st.st_size, st.st_mtime_ns, media_type_for(filename), filename)

    @property
    def mtime(self) -> int:
        """Whole seconds, the resolution of HTTP dates."""
        return self.mtime_ns // 1_000_000_000

    @property
    def etag(self) -> ETag:
        return ETag(f'"{self.size:x}-{self.validator or format(self.mtime_ns, "x")}"')


def format_content_disposition(filename: str, *, attachment: bool) -> str:
    """``inline`` or ``attachment`` with an ASCII fallback and an RFC 8187 ``filename*``."""
    disposition = "attachment" if attachment else "inline"
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\%' else "_" for c in filename)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
