"""GET|HEAD /hls/{path}/index.m3u8, /hls/{path}/init.mp4, /hls/{path}/{n}.m4s: HLS made on request.

The playlist comes from the file's keyframe index (cached); the init and each
segment are muxed on their own in a worker thread (sound browsers cannot decode
is transcoded to AAC a chunk at a time in the worker pool, once, and cached as a
file: ``streamer.media.hlsaudio``), at most ``slots`` at once and
``MAX_WAITING_PER_SLOT`` waiting per slot (beyond that, 503 with Retry-After).
Each body is answered through the planning core, so ETag (from the file's
identity and the resource name), 304, Range, Content-Length and HEAD hold.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from fastapi import APIRouter, HTTPException, Request, Response

from streamer.http.paths import parse_media_path
from streamer.http.representation import Representation
from streamer.media.jobs import JobError
from streamer.media.hlsplan import INIT_NAME, SegmentSpan, format_playlist, parse_segment_number, plan_segments
from streamer.media.keyframes import KeyframeCache
from streamer.sources.base import MemorySource
from streamer.sources.file import open_file_source, resolve_in_root
from streamer.web.media import http_error
from streamer.web.openapi import RETRY_AFTER, add_get_and_head, error
from streamer.web.planned import MediaFile, answer, planned_responses, stream_endpoint
from streamer.web.responses import MediaResponse

if TYPE_CHECKING:
    from streamer.media.hlsaudio import AudioChunk
    from streamer.media.workers import WorkerPool

PLAYLIST_NAME = "index.m3u8"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp4"  # init and media segments alike: what Safari and hls.js both accept
HLS_SLOTS = 2  # segments muxed at once: one per core of the machine it was measured on
MAX_WAITING_PER_SLOT = 8
RETRY_AFTER_S = 1


@dataclass(frozen=True)
class HlsBody:
    content: bytes
    media_type: str
    identity: str  # names the file's version and the resource, for the ETag
    mtime_ns: int  # the file's


class AudioChunks:
    """AAC chunks of videos' sound, each transcoded once (in ``pool``, else a thread) into a file under ``folder``."""

    def __init__(self, folder: Path, pool: WorkerPool | None) -> None:
        self.folder = folder
        self.pool = pool
        self._making: dict[str, anyio.Event] = {}

    async def ensure(self, path: str, st: os.stat_result, source: str, stream_index: int, number: int) -> Path:
        """The chunk's file, transcoded from ``source`` (``path`` as it is in ``st``) first if no request did it before.

        Concurrent callers share one job.
        """
        from streamer.media.hlsaudio import DEADLINE_S, chunk_name, write_chunk

        target = self.folder / chunk_name(path, st, stream_index, number)
        while not target.exists():
            making = self._making.get(target.name)
            if making is not None:
                await making.wait()  # made by another request; if that failed, this one tries itself
                continue
            making = self._making[target.name] = anyio.Event()
            try:
                if self.pool is None:
                    await anyio.to_thread.run_sync(write_chunk, source, stream_index, number, str(target))
                else:
                    await self.pool.run(write_chunk, source, stream_index, number, str(target), deadline_s=DEADLINE_S)
            finally:
                del self._making[target.name]
                making.set()
        return target

    def get(self, path: str, st: os.stat_result, source: str, stream_index: int, number: int) -> AudioChunk:
        """Blocking, from a worker thread of the event loop: the chunk, made if needed."""
        from streamer.media.hlsaudio import read_chunk

        return read_chunk(anyio.from_thread.run(self.ensure, path, st, source, stream_index, number))


class HlsFiles:
    """The HLS resources of the videos under ``root``, with keyframe indexes and AAC sound cached under ``cache_dir``."""

    def __init__(
        self, root: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None, slots: int = HLS_SLOTS,
        *, pool: WorkerPool | None = None,
    ) -> None:
        self.root = os.path.realpath(root)
        self.cache_dir = cache_dir
        self._cache: KeyframeCache | None = None
        # without a cache directory, sound browsers cannot decode is left out
        self.audio = AudioChunks(Path(cache_dir) / "hls-audio", pool) if cache_dir is not None else None
        self.limiter = anyio.CapacityLimiter(slots)
        self.waiting = 0

    @property
    def cache(self) -> KeyframeCache:
        if self._cache is None:  # made on first use: an app that never serves HLS creates no file
            self._cache = KeyframeCache(self.cache_dir)
        return self._cache

    def _plan(self, resolved: str, st: os.stat_result, opened: str) -> tuple[SegmentSpan, ...]:
        index = self.cache.get(resolved, st, read_from=opened)
        segments = plan_segments(index.times, index.duration) if index is not None else None
        if segments is None:
            raise HTTPException(422, "No video stream with keyframes in this file: it cannot be played as HLS.")
        return segments

    def make(self, names: tuple[str, ...], resource: str) -> HlsBody:
        """Blocking: the body of ``resource`` (a playlist, init or segment name) of the file at ``names``."""
        try:
            source, st = open_file_source(self.root, names)  # beneath the root, as /media opens it
        except OSError as exc:
            raise http_error(exc) from exc
        try:
            return self._make(resolve_in_root(self.root, names), st, f"/proc/self/fd/{source.fileno()}", resource)
        except OSError as exc:
            raise http_error(exc) from exc
        finally:
            source.close()

    def _make(self, resolved: str, st: os.stat_result, opened: str, resource: str) -> HlsBody:
        """The body of ``resource``, read from ``opened`` (the file's open descriptor, as a path PyAV can open)."""
        from streamer.media.hlsaudio import AudioError
        from streamer.media.hlsmux import SegmentError, make_init, make_segment  # PyAV only when HLS is used

        version = f"{st.st_size:x}-{st.st_mtime_ns:x}"
        number = parse_segment_number(resource)
        try:
            if resource == PLAYLIST_NAME:
                text = format_playlist(self._plan(resolved, st, opened))
                return HlsBody(text.encode(), PLAYLIST_TYPE, f"{version}-m3u8", st.st_mtime_ns)
            if resource == INIT_NAME:
                return HlsBody(make_init(opened, transcode=self.audio is not None), SEGMENT_TYPE, f"{version}-init", st.st_mtime_ns)
            if number is None:
                raise HTTPException(404, f"No HLS resource {resource!r}: use {PLAYLIST_NAME}, {INIT_NAME} or <n>.m4s")
            segments = self._plan(resolved, st, opened)
            if number >= len(segments):
                raise HTTPException(404, f"No segment {number}: this video has segments 0 to {len(segments) - 1}")
            chunks = None
            if self.audio is not None:  # worker processes read the file through this process's descriptor
                chunks = partial(self.audio.get, resolved, st, opened.replace("/proc/self/", f"/proc/{os.getpid()}/", 1))
            return HlsBody(make_segment(opened, segments[number], chunks), SEGMENT_TYPE, f"{version}-{number}", st.st_mtime_ns)
        except (SegmentError, AudioError) as exc:
            raise HTTPException(422, f"Cannot make HLS of this file: {exc}") from exc
        except JobError as exc:
            retry = {"retry-after": str(RETRY_AFTER_S)} if exc.status == 503 else None
            raise HTTPException(exc.status, f"Cannot convert the sound of this file: {exc.reason}", retry) from exc

    async def body(self, names: tuple[str, ...], resource: str) -> HlsBody:
        """``make`` in a worker thread, or 503 when too many wait for one."""
        if self.waiting >= self.limiter.total_tokens * (1 + MAX_WAITING_PER_SLOT):
            raise HTTPException(503, "Too many HLS segments are being made; try again.", {"retry-after": str(RETRY_AFTER_S)})
        self.waiting += 1
        try:
            return await anyio.to_thread.run_sync(self.make, names, resource, limiter=self.limiter)
        finally:
            self.waiting -= 1

    def dependency(self) -> Callable[..., object]:
        async def hls_resource(path: str, request: Request, response: Response) -> MediaFile:
            names = parse_media_path(path)
            if names is None or len(names) < 2:
                raise HTTPException(404, "Not Found")
            body = await self.body(names[:-1], names[-1])
            rep = Representation(len(body.content), body.mtime_ns, body.media_type, names[-1], validator=body.identity)
            plan = answer(request, response, rep)
            return MediaFile(MemorySource(body.content), plan.body)

        return hls_resource


HLS_RESPONSES = {
    **planned_responses({PLAYLIST_TYPE: {"schema": {"type": "string"}}, SEGMENT_TYPE: {"schema": {"type": "string", "format": "binary"}}}, "resource"),
    404: error("No such file, or no such HLS resource or segment number; the message says which."),
    422: error("The file has no video stream with keyframes, or cannot be cut; the message says why."),
    503: error("Too many segments (or media jobs) are being made; retry after Retry-After.", headers=RETRY_AFTER),
    504: error("Converting the sound took longer than its deadline and was stopped."),
}


def hls_router(files: HlsFiles, *, io: str = "async") -> APIRouter:
    router = APIRouter()
    add_get_and_head(
        router,
        "/hls/{path:path}",
        stream_endpoint(files.dependency(), io),
        response_class=MediaResponse,
        responses=HLS_RESPONSES,
        summary="HLS of a video: index.m3u8, init.mp4 and {n}.m4s, made on request, keyframe-exact",
    )
    return router
