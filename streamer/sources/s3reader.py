"""One version of an S3 object as a seekable, read-only file, for readers that want a file (PyAV).

Every read is a ranged GET with If-Match on the ETag the object was opened with, so a reader
sees one version or fails (``ObjectChangedError``), never a mix. ``open_object`` wraps it in a
``BufferedReader`` of ``BLOCK`` bytes: FFmpeg reads in small pieces, the store gets few GETs.
Blocking, like everything in ``s3``: use it in a worker thread. ``S3Object`` names a version
for another process (a thumbnail worker), which reads it with ``opened``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from streamer.sources.s3 import ObjectMeta, S3Bucket

BLOCK = 256 * 1024  # bytes per GET: a probe reads headers and an index, usually one or two of these


class S3Reader(io.RawIOBase):
    """Bytes of ``meta``'s version by position; ``gets`` counts the GETs made."""

    def __init__(self, bucket: S3Bucket, meta: ObjectMeta) -> None:
        super().__init__()
        self.bucket = bucket
        self.meta = meta
        self.name = meta.key
        self._position = 0
        self.gets = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.meta.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("read of a closed S3Reader")
        stop = min(self._position + len(buffer), self.meta.size)
        if stop <= self._position:
            return 0
        self.gets += 1
        data = self.bucket.get_range(self.meta, self._position, stop)
        memoryview(buffer)[: len(data)] = data
        self._position += len(data)
        return len(data)


def open_object(bucket: S3Bucket, meta: ObjectMeta) -> io.BufferedReader:
    """The object ``meta`` describes as a buffered binary file; the caller closes it."""
    return io.BufferedReader(S3Reader(bucket, meta), buffer_size=BLOCK)


@dataclass(frozen=True)
class S3Object:
    """One version of one object, picklable: what a worker process needs to read it (credentials from its env)."""

    endpoint: str | None
    url: str  # s3://BUCKET[/PREFIX]
    key: str
    size: int
    etag: str

    @classmethod
    def of(cls, bucket: S3Bucket, meta: ObjectMeta) -> S3Object:
        return cls(bucket.endpoint, f"s3://{bucket.bucket}/{bucket.prefix}", meta.key, meta.size, meta.etag)

    def __str__(self) -> str:
        return self.key


@contextmanager
def opened(obj: S3Object) -> Iterator[io.BufferedReader]:
    """A client of its own for ``obj`` (in a worker process), the object as a file, both closed after."""
    bucket = S3Bucket(obj.url, obj.endpoint, max_gets=2)
    try:
        with open_object(bucket, ObjectMeta(obj.key, obj.size, obj.etag, 0)) as file:
            yield file
    finally:
        bucket.close()


@contextmanager
def readable(source: str | S3Object) -> Iterator[str | io.BufferedReader]:
    """What a decoder opens: a path as it is, an object in a store as a file over ranged GETs (``opened``)."""
    if isinstance(source, str):
        yield source
    else:
        with opened(source) as file:
            yield file
