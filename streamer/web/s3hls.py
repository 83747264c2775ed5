"""HLS of a bucket's videos: ``/hls/{path}/index.m3u8|init.mp4|{n}.m4s`` through the same ``HlsFiles``.

An ``ObjectVideo`` is one version of an object (one cached HEAD): PyAV reads it through
ranged GETs pinned to its ETag (``S3Reader``, If-Match), sound is converted by workers
reading an ``S3Object``, and the ETags and caches are keyed by key, size and store ETag,
so every replica gives the same validators. A resource is made whole in memory before
its first byte is sent: an object replaced meanwhile is a 503 with Retry-After (its new
version is seen on the retry), never a segment of two versions; a failing store is a 503.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import HTTPException

from streamer.sources.base import SourceTruncatedError
from streamer.sources.s3 import ObjectChangedError, ObjectMeta, S3Bucket, StoreUnavailableError
from streamer.sources.s3reader import S3Object, S3Reader
from streamer.web.s3media import store_unavailable

CHANGED_RETRY_AFTER_S = 1
# bytes per GET while a resource is made: a 6 s 1080p segment is ~4.5 MB read front to back, so
# larger GETs than a probe's pay; opening reads the container's header and index, a GET each
# (bench.hls on a 1080p clip, load ~9: segment p50 2.9x the disk's at 256 KiB, 1.7x at 1 MiB, 2.0x at 4 MiB)
SEGMENT_BLOCK = 1 << 20


class WatchedReader(S3Reader):
    """An ``S3Reader`` that remembers the first error of a read: PyAV may report a failed read as an end of file."""

    error: Exception | None = None

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return super().readinto(buffer)
        except Exception as exc:
            self.error = self.error or exc
            raise


def store_error(exc: Exception) -> HTTPException:
    """The answer to a read of an object that failed: never a 500, never bytes of two versions."""
    if isinstance(exc, ObjectChangedError):
        return HTTPException(503, "The object changed while it was read; try again.",
                             {"retry-after": str(CHANGED_RETRY_AFTER_S), "cache-control": "no-store"})
    if isinstance(exc, StoreUnavailableError):
        return store_unavailable(exc)
    return HTTPException(502, "The object store sent less than it promised; try again.", {"retry-after": "1"})


@dataclass(frozen=True)
class ObjectVideo:
    """One version of a video object in ``bucket``: the ``Video`` of ``streamer.media.hlsvideo``."""

    bucket: S3Bucket
    meta: ObjectMeta

    @property
    def mtime_ns(self) -> int:
        return self.meta.mtime_ns

    @property
    def validator(self) -> str:
        return f"{self.meta.size:x}-{self.meta.validator}"

    @property
    def version(self) -> list[str | int]:  # the object's name first: kept sources of its other versions are let go
        return [f"s3://{self.bucket.bucket}/{self.bucket.prefix}/{self.meta.key}", self.meta.size, self.meta.etag]

    @contextmanager
    def reader(self) -> Iterator[io.BufferedReader]:
        """The object as a buffered file over ranged GETs; store failures become HTTP answers.

        The file is not closed after: an opened source kept for the next resource may hold it
        (``keeps_reader``). It holds no descriptor, only this version's name, so the collector
        frees it with its last holder.
        """
        raw = WatchedReader(self.bucket, self.meta)
        try:
            yield io.BufferedReader(raw, buffer_size=SEGMENT_BLOCK)
        except SourceTruncatedError as exc:
            raise store_error(exc) from exc
        if raw.error is not None:  # a failed read that the demuxer took for the end: the bytes are not whole
            raise store_error(raw.error) from raw.error

    # An opened source may keep its reader for the next resource of this version: it holds no
    # descriptor, and every GET it makes is pinned to this ETag (a replaced object fails, never mixes).
    keeps_reader = True

    def job_source(self) -> S3Object:
        return S3Object.of(self.bucket, self.meta)

    def close(self) -> None:
        pass  # nothing to close: a reader holds no descriptor and is freed with its last holder


class BucketVideos:
    """Opens the videos of ``bucket`` by their names (blocking: one HEAD, unless its metadata is cached)."""

    def __init__(self, bucket: S3Bucket) -> None:
        self.bucket = bucket

    def __call__(self, names: tuple[str, ...]) -> ObjectVideo:
        key = "/".join(names)
        try:
            return ObjectVideo(self.bucket, self.bucket.head(key))
        except FileNotFoundError as exc:
            raise HTTPException(404, "Not Found") from exc
        except StoreUnavailableError as exc:
            raise store_unavailable(exc) from exc
