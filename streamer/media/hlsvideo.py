"""What HLS resources are made from: a ``Video`` (one version of a video, opened) and its sound's AAC chunks.

A video is read by PyAV in this process through ``reader()`` (a path or a seekable
reader) and by worker processes through ``job_source()``; its ``validator`` names
the version in every ETag (the same on every replica) and its ``version`` names it
in the caches, so a changed file or object never meets the index or sound of the
old one. ``Opened`` is a file beneath the root, held by its descriptor; the bucket's
video is ``streamer.web.s3hls.ObjectVideo``. Sound is transcoded a chunk at a time,
once (in the worker pool, else a thread), and kept in a bounded cache.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio

from streamer.media.niced import loop_token
from streamer.media.thumbcache import ThumbCache
from streamer.sources.file import FileSource

if TYPE_CHECKING:
    from streamer.media.hlsaudio import AudioChunk, Input
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


def read_index(video: Video) -> KeyframeIndex | None:
    """Blocking: the keyframe index of ``video``, read from its container's own index."""
    from streamer.media.keyframes import read_keyframes

    with video.reader() as source:
        return read_keyframes(source)
