"""What HLS resources are made from: a ``Video`` (one version of a video, opened) and its sound's AAC chunks.

A video is read by PyAV in this process through ``reader()`` (a path or a seekable
reader) and by worker processes through ``job_source()``; its ``validator`` names
the version in every ETag (the same on every replica) and its ``version`` names it
in the caches, so a changed file or object never meets the index or sound of the
old one. ``Opened`` is a file beneath the root, held by its descriptor; the bucket's
video is ``streamer.web.s3hls.ObjectVideo``. Sound is transcoded a chunk at a time,
once (in the worker pool, else a thread), and kept in a bounded cache; so is the picture of a
video browsers cannot decode, as H.264 a segment at a time (``EncodedSegments``), when enabled.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol

import anyio

from streamer.media.jobs import JobError
from streamer.media.niced import loop_token
from streamer.media.thumbcache import ThumbCache
from streamer.sources.file import FileSource

if TYPE_CHECKING:
    from streamer.media.hlsaudio import AudioChunk, Input
    from streamer.media.hlsencode import EncodedVideo, VideoEncoding
    from streamer.media.hlsplan import SegmentSpan
    from streamer.media.keyframes import KeyframeIndex
    from streamer.media.workers import WorkerPool
    from streamer.sources.s3reader import S3Object


class Video(Protocol):
    """One version of a video, opened until ``close()``: what its HLS resources are made from."""

    @property
    def mtime_ns(self) -> int: ...
    @property
    def validator(self) -> str: ...  # names the version in every ETag: the same on every replica
    @property
    def version(self) -> list[str | int]: ...  # names the version in the caches (keyframe index, sound)
    def reader(self) -> AbstractContextManager[Input]: ...  # what PyAV opens in this process
    def job_source(self) -> str | S3Object: ...  # what a worker process opens
    @property
    def keeps_reader(self) -> bool: ...  # whether an opened source may keep what ``reader()`` gave
    def close(self) -> None: ...


@dataclass(frozen=True)
class Opened:
    """A video file beneath the root: its open descriptor, its ``fstat`` and real path."""

    source: FileSource
    st: os.stat_result
    resolved: str

    @property
    def path(self) -> str:  # the descriptor as a path PyAV can open
        return f"/proc/self/fd/{self.source.fileno()}"

    @property
    def mtime_ns(self) -> int:
        return self.st.st_mtime_ns

    @property
    def validator(self) -> str:
        return f"{self.st.st_size:x}-{self.st.st_mtime_ns:x}"

    @property
    def version(self) -> list[str | int]:
        return [self.resolved, self.st.st_size, self.st.st_mtime_ns]

    def reader(self) -> AbstractContextManager[Input]:
        return nullcontext(self.path)

    keeps_reader = False  # a path: kept opened sources hold their own descriptor

    def job_source(self) -> str:  # worker processes read it through this one's descriptor
        return self.path.replace("/proc/self/", f"/proc/{os.getpid()}/", 1)

    def close(self) -> None:
        self.source.close()


class AudioChunks:
    """AAC chunks of videos' sound, each transcoded once (in ``pool``, else a thread), kept in ``cache``."""

    def __init__(self, cache: ThumbCache, pool: WorkerPool | None) -> None:
        self.cache = cache
        self.pool = pool

    async def fetch(self, version: list[str | int], source: str | S3Object, stream_index: int, number: int) -> bytes:
        """The chunk's bytes, transcoded from ``source`` (the video's ``version``) first if not cached.

        Concurrent callers share one job.
        """
        from streamer.media.hlsaudio import DEADLINE_S, chunk_name_of, write_chunk

        async def make(temporary: str) -> None:
            if self.pool is None:
                await anyio.to_thread.run_sync(write_chunk, source, stream_index, number, temporary)
            else:
                await self.pool.run(write_chunk, source, stream_index, number, temporary, deadline_s=DEADLINE_S)

        return await self.cache.get_or_make(chunk_name_of(version, stream_index, number), make)

    def get(self, version: list[str | int], source: str | S3Object, stream_index: int, number: int) -> AudioChunk:
        """Blocking, from a worker thread of the event loop (anyio's or a niced one): the chunk, made if needed."""
        from streamer.media.hlsaudio import AudioChunk

        made = anyio.from_thread.run(self.fetch, version, source, stream_index, number, token=loop_token())
        return AudioChunk.from_bytes(made)


ENCODE_DEADLINE_S = 60.0  # one segment's encode in a worker, which is killed after that
MAX_WAITING_PER_JOB = 2  # segments waiting for an encoder; beyond that, 503 at once
STOP_POLL_S = 0.1  # how often a waiting segment looks whether its client left


class EncodeBusy(JobError):
    def __init__(self) -> None:
        super().__init__(503, "Too many segments are waiting to be converted to H.264; try again shortly.")


class EncodedSegments:
    """Segments of videos browsers cannot decode, as H.264 in ``encoding``: each encoded once (in ``pool``,
    else a thread), at most ``jobs`` at once and ``jobs * MAX_WAITING_PER_JOB`` waiting, kept in ``cache``."""

    def __init__(self, cache: ThumbCache, pool: WorkerPool | None, encoding: VideoEncoding, jobs: int = 1) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        self.cache = cache
        self.pool = pool
        self.encoding = encoding
        self.jobs = jobs
        self.waiting = 0  # jobs waiting for their turn
        self.started = 0  # jobs started: encodes paid for
        self._limiter: anyio.CapacityLimiter | None = None  # made in the loop that runs jobs

    def name_of(self, version: list[str | int], span: SegmentSpan) -> str:
        """The cache file name of a segment: the video's version, the segment's bounds, the encoder's settings."""
        identity = json.dumps([*self.encoding.key(), *version, span.number, span.start, span.stop])
        return hashlib.sha256(identity.encode()).hexdigest() + ".h264seg"

    async def _make(self, source: str | S3Object, span: SegmentSpan, temporary: str) -> None:
        from streamer.media.hlsencode import write_encoded

        limiter = self._limiter = self._limiter or anyio.CapacityLimiter(self.jobs)
        if limiter.available_tokens == 0 and self.waiting >= self.jobs * MAX_WAITING_PER_JOB:
            raise EncodeBusy()
        self.waiting += 1
        try:
            await limiter.acquire()  # cancelled here (deadline, client gone): nothing is encoded
        finally:
            self.waiting -= 1
        try:
            self.started += 1
            if self.pool is None:
                await anyio.to_thread.run_sync(write_encoded, source, span, self.encoding, temporary)
            else:
                await self.pool.run(write_encoded, source, span, self.encoding, temporary, deadline_s=ENCODE_DEADLINE_S)
        finally:
            limiter.release()

    async def fetch(
        self, version: list[str | int], source: str | S3Object, span: SegmentSpan, deadline: float,
        stop: threading.Event | None = None,
    ) -> bytes | None:
        """The segment's encoded bytes (encoded first if not cached), or ``None`` if ``deadline`` passed or
        ``stop`` was set first. Concurrent callers share one job; a job started runs to its end and is kept."""
        outcome: list[bytes | Exception] = []
        with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
            async with anyio.create_task_group() as group:
                if stop is not None:
                    group.start_soon(_cancel_when_set, stop, group.cancel_scope)
                try:
                    outcome.append(await self.cache.get_or_make(self.name_of(version, span), partial(self._make, source, span)))
                except Exception as exc:  # raised below: the task group would wrap it in an ExceptionGroup
                    outcome.append(exc)
                group.cancel_scope.cancel()
        if outcome and isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0] if outcome else None

    def get(
        self, version: list[str | int], source: str | S3Object, span: SegmentSpan, deadline: float,
        stop: threading.Event | None = None,
    ) -> EncodedVideo | None:
        """Blocking, from a worker thread of the event loop (anyio's or a niced one): ``fetch``, decoded."""
        from streamer.media.hlsencode import EncodedVideo

        made = anyio.from_thread.run(self.fetch, version, source, span, deadline, stop, token=loop_token())
        return EncodedVideo.from_bytes(made) if made is not None else None


async def _cancel_when_set(event: threading.Event, scope: anyio.CancelScope) -> None:
    while not event.is_set():
        await anyio.sleep(STOP_POLL_S)
    scope.cancel()


def read_index(video: Video) -> KeyframeIndex | None:
    """Blocking: the keyframe index of ``video``, read from its container's own index."""
    from streamer.media.keyframes import read_keyframes

    with video.reader() as source:
        return read_keyframes(source)
