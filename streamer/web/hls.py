"""GET|HEAD /hls/{path}/index.m3u8, /hls/{path}/init.mp4, /hls/{path}/{n}.m4s: HLS made on request.

The playlist comes from the file's keyframe index (cached); the init and each
segment are muxed on their own in a worker thread (what browsers cannot decode is
converted in the worker pool, once, and cached: ``streamer.web.hlsconvert``), at most ``slots`` at once and
``MAX_WAITING_PER_SLOT`` waiting per slot (beyond that, 503 with Retry-After); a
segment not made within ``SEGMENT_DEADLINE_S`` is 503 with Retry-After too, a
request whose client left before its turn makes nothing, and one whose client
leaves while it is made stops between packets. The
ETag is the file's identity and the resource name, known from one ``fstat``: a
conditional request is answered 304 (or 412) before anything is made. The body
is then answered through the planning core (Range, Content-Length, HEAD).
A video is a ``Video`` (``streamer.media.hlsvideo``): a file beneath the root (``Opened``)
or one version of an object in a bucket (``streamer.web.s3hls``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import anyio
from fastapi import APIRouter, HTTPException, Request, Response
from starlette.types import Receive

from streamer.http.conditional import ETag
from streamer.http.paths import parse_media_path
from streamer.http.plan import plan_response
from streamer.http.representation import Representation
from streamer.media.jobs import JobError
from streamer.media.hlsinputs import InputPool
from streamer.media.hlsplan import INIT_NAME, SegmentSpan, format_playlist, parse_segment_number, plan_segments
from streamer.media.hlsvideo import MAX_WAITING_PER_JOB, Opened, Video, read_index
from streamer.media.keyframes import KeyframeCache
from streamer.media.kept import Kept
from streamer.media.niced import NicedThreads
from streamer.sources.base import MemorySource
from streamer.sources.file import open_file_source, resolve_in_root
from streamer.web.hlsconvert import Conversions, conversion_off, job_error, retry_after
from streamer.web.media import http_error
from streamer.web.direct import DirectEndpoint
from streamer.web.front import served_by
from streamer.web.openapi import RETRY_AFTER, add_get_and_head, error
from streamer.web.planned import MediaFile, answer, planned_responses, request_fields, stream_endpoint
from streamer.web.responses import MediaResponse, until_disconnect

if TYPE_CHECKING:
    from streamer.media.hlsdirect import Cut
    from streamer.media.hlsmux import Opener
    from streamer.media.hlsencode import VideoEncoding
    from streamer.media.workers import WorkerPool

PLAYLIST_NAME = "index.m3u8"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp4"  # init and media segments alike: what Safari and hls.js both accept
HLS_SLOTS = 2  # resources in progress at once: one may wait for its sound while another muxes
# Of those, muxing at once (a segment waiting for its sound lets go of its turn). With the muxer's
# output no longer copied under the GIL, two gave 87-93 segments/s against 76-81 for one and a
# /healthz p99 under 16 segment requests of 3.4 ms against 6.0 (README, HLS).
MUXING = 2
# Of those, cutting a file from its own index at once (streamer.media.hlsdirect): its parsing is Python holding the
# GIL, and a second one at once gave fewer segments a second and a worse /healthz p99 (README, HLS).
CUTTING = 1
# The nice value of the threads that make HLS resources (streamer.media.niced). Raised, it helped on
# an idle machine (p99 4.4 against 5.8 ms) but is a priority inversion on a busy one: a niced thread
# holding the GIL waits for a core while the loop waits for the GIL (10 segments/s against 54,
# /healthz p99 40 ms against 10, two CPU hogs running; README, HLS). So it is left at 0.
MUX_NICENESS = 0
MAX_WAITING_PER_SLOT = 8
# From the request's arrival to the segment's last packet, waiting for a slot included. A copied
# segment takes ~10-50 ms and a cold chunk of converted sound ~1 s; hls.js gives up on a
# fragment after 10 s without a first byte.
SEGMENT_DEADLINE_S = 8.0
AUDIO_CACHE_SIZE = 2 << 30  # bytes
VIDEO_CACHE_SIZE = 4 << 30  # bytes of H.264 segments (--transcode on): ~1,500 of 6 s at 720p, about 2.5 hours
# Opened sources kept idle for the next segment of the same file (0: open each segment afresh). Opening
# a 1080p H.264 MKV makes FFmpeg decode frames to probe its streams: over half of a segment's time.
INPUTS_KEPT = 4
# Segments of Matroska, MP4 and MOV files are cut from their own index (streamer.media.hlsdirect): a 1080p MKV,
# 143-145 segments/s over HTTP against 78-82 muxed by PyAV (README, HLS). False: PyAV muxes every segment (bench A/B).
CUT_FROM_INDEX = True
PLANS_KEPT = 64  # files whose segment plan is kept in memory
CUTS_KEPT = 8  # files whose Cut is: an MP4's holds its sample tables (a 2-hour film's, ~13 MB)
HLS_FORMAT = 3  # in every ETag: bump when the bytes of a playlist, init or segment would change
BUSY = "Too many HLS segments are being made; try again."


class HlsRepresentation(Representation):
    """A resource made from a file: its ETag is ``validator`` alone, known before the body is made."""

    @property
    def etag(self) -> ETag:
        return ETag(f'"{self.validator}"')


def media_type_of(resource: str) -> str:
    if resource == PLAYLIST_NAME:
        return PLAYLIST_TYPE
    if resource == INIT_NAME or parse_segment_number(resource) is not None:
        return SEGMENT_TYPE
    raise HTTPException(404, f"No HLS resource {resource!r}: use {PLAYLIST_NAME}, {INIT_NAME} or <n>.m4s")


class HlsFiles:
    """The HLS resources of the videos under ``root`` (or those ``opener`` opens: a bucket's), with keyframe
    indexes and AAC sound cached under ``cache_dir``."""

    def __init__(
        self, root: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None, slots: int = HLS_SLOTS,
        *, pool: WorkerPool | None = None, audio_cache_size: int = AUDIO_CACHE_SIZE,
        opener: Callable[[tuple[str, ...]], Video] | None = None, encoding: VideoEncoding | None = None,
        encode_jobs: int = 1, video_cache_size: int = VIDEO_CACHE_SIZE,
    ) -> None:
        self.root = os.path.realpath(root) if root is not None else None
        self.opener = opener or self.open
        self.cache_dir = cache_dir
        self._cache: KeyframeCache | None = None
        if encoding is not None:  # segments waiting for an encoder hold a slot but no muxing turn: copied ones go on
            slots += encode_jobs * (1 + MAX_WAITING_PER_JOB)
        self.limiter = anyio.CapacityLimiter(slots)
        self.muxing = threading.Semaphore(MUXING)
        self.cutting = threading.Semaphore(CUTTING)  # of the muxing turns, those cutting a file from its own index
        self.conversions = Conversions(cache_dir, pool, self.muxing, audio_cache_size, encoding, encode_jobs, video_cache_size)
        self.audio, self.videos = self.conversions.audio, self.conversions.videos
        self.threads = NicedThreads(slots, MUX_NICENESS, "hls")
        self.waiting = 0
        self.abandoned = 0  # requests whose client left before their turn: nothing made
        self.stopped = 0  # segments stopped between packets because their client left
        self.cut = 0  # segments cut from a file's own index (streamer.media.hlsdirect), not muxed by PyAV
        self.plans: Kept[tuple[SegmentSpan, ...] | None] = Kept(PLANS_KEPT)  # by version: no SQLite read a segment
        self.cuts: Kept[Cut | None] = Kept(CUTS_KEPT)  # how each file is cut without PyAV, planned once
        self.inputs = InputPool(INPUTS_KEPT)  # opened sources kept for the next segment: FFmpeg's stream probe once per file

    def close(self) -> None:
        """At shutdown: close the idle opened sources (one in use is closed when its segment ends), join the threads."""
        self.inputs.close()
        self.threads.close()

    @property
    def cache(self) -> KeyframeCache:
        if self._cache is None:  # made on first use: an app that never serves HLS creates no file
            self._cache = KeyframeCache(self.cache_dir)
        return self._cache

    def identity(self, video: Video, resource: str) -> str:
        """Names the bytes of ``resource`` of ``video``'s version: the ETag, before anything is made."""
        return f"{video.validator}-{self.conversions.tag()}{HLS_FORMAT}-{resource}"

    def open(self, names: tuple[str, ...]) -> Opened:
        """Blocking: the video at ``names``, opened beneath the root as /media opens it."""
        assert self.root is not None
        try:
            source, st = open_file_source(self.root, names)
        except OSError as exc:
            raise http_error(exc) from exc
        try:
            return Opened(source, st, resolve_in_root(self.root, names))
        except OSError as exc:
            source.close()
            raise http_error(exc) from exc

    def _plan(self, opened: Video) -> tuple[SegmentSpan, ...]:
        def plan() -> tuple[SegmentSpan, ...] | None:
            index = self.cache.lookup(opened.version, partial(read_index, opened))
            return plan_segments(index.times, index.duration, start=index.start) if index is not None else None

        segments = self.plans.get(tuple(opened.version), plan)
        if segments is None:
            raise HTTPException(422, "No video stream with keyframes in this file: it cannot be played as HLS.")
        return segments

    def make(
        self, opened: Video, resource: str, deadline: float = float("inf"), stop: threading.Event | None = None
    ) -> bytes:
        """Blocking: the body of ``resource`` (a playlist, init or segment name) of the ``opened`` video.

        At most ``MUXING`` threads do this at once; 503 if none is free by ``deadline``. A segment
        stops between packets once ``stop`` is set (its client left).
        """
        if not _acquired(self.muxing, deadline):
            raise HTTPException(503, f"{BUSY} (not made within {SEGMENT_DEADLINE_S:g} s)", retry_after())
        try:
            return self._make(opened, resource, deadline, stop)
        finally:
            self.muxing.release()

    def _make(self, opened: Video, resource: str, deadline: float, stop: threading.Event | None) -> bytes:
        from streamer.media.hlsaudio import AudioError
        from streamer.media.hlsencode import EncodeError, NotConverted, check_video
        from streamer.media.hlsmux import make_init  # PyAV only when used
        from streamer.media.hlspackets import SegmentAbandoned, SegmentError, SegmentTimeout

        encoding = self.conversions.encoding
        try:
            opener = partial(self.inputs.checkout, tuple(opened.version), keep_reader=opened.keeps_reader)
            if resource == PLAYLIST_NAME:
                playlist = format_playlist(self._plan(opened)).encode()
                if encoding is None:  # a playlist of segments that would all be refused is refused itself
                    with opened.reader() as source:
                        check_video(source, opener=opener)
                return playlist
            if resource == INIT_NAME:
                with opened.reader() as source:
                    return make_init(source, transcode=self.audio is not None, opener=opener, encoding=encoding)
            number = parse_segment_number(resource)
            segments = self._plan(opened)
            if number is None or number >= len(segments):
                raise HTTPException(404, f"No segment {number}: this video has segments 0 to {len(segments) - 1}")
            return self._segment(opened, segments[number], deadline, stop, opener)
        except OSError as exc:
            raise http_error(exc) from exc
        except NotConverted as exc:
            raise conversion_off(exc) from exc
        except (SegmentError, AudioError, EncodeError) as exc:
            raise HTTPException(422, f"Cannot make HLS of this file: {exc}") from exc
        except SegmentTimeout as exc:
            raise HTTPException(503, f"{BUSY} (not made within {SEGMENT_DEADLINE_S:g} s)", retry_after()) from exc
        except SegmentAbandoned as exc:
            self.stopped += 1
            raise HTTPException(503, "The client left while its segment was made: the work stopped.") from exc
        except JobError as exc:
            raise job_error(exc, "sound") from exc

    def _segment(self, opened: Video, span: SegmentSpan, deadline: float, stop: threading.Event | None, opener: Opener) -> bytes:
        """A media segment: cut from the file's own index where it can be, one at a time; else muxed by PyAV."""
        from streamer.media.hlsdirect import cut_segment, plan_cut
        from streamer.media.hlsmux import make_segment

        encoding = self.conversions.encoding
        chunks, pictures = self.conversions.chunks(opened), self.conversions.pictures(opened, deadline, stop)
        if CUT_FROM_INDEX:
            # the cut reads through a reader of its own: one a kept PyAV container holds must not be moved under it
            with opened.reader() as source, opened.reader() as own:
                transcode = chunks is not None
                plan = partial(plan_cut, source, opener=opener, transcode=transcode, encoding=encoding if pictures else None, reader=own)
                cut = self.cuts.get((*opened.version, transcode, pictures is not None), plan)
                turn = partial(_turn, self.cutting, deadline)
                made = cut_segment(own, cut, span, chunks, deadline=deadline, stop=stop, turn=turn) if cut else None
            if made is not None:
                self.cut += 1
                return made
        with opened.reader() as source:
            return make_segment(source, span, chunks, deadline=deadline, stop=stop, opener=opener, encoding=encoding, encoded=pictures)

    async def body(
        self, opened: Video, resource: str, deadline: float, gone: Callable[[], Awaitable[bool]] | None = None,
        receive: Receive | None = None,
    ) -> bytes:
        """``make`` in a worker thread once a slot is free, or 503 when too many wait or none is free by ``deadline``.

        ``gone()`` is asked once the slot is taken: a client that left meanwhile costs no work.
        While the thread works, ``receive`` is watched for ``http.disconnect``, which stops it.
        """
        if self.waiting >= self.limiter.total_tokens * (1 + MAX_WAITING_PER_SLOT):
            raise HTTPException(503, BUSY, retry_after())
        self.waiting += 1
        try:
            with anyio.move_on_after(deadline - time.monotonic()) as waited:
                await self.limiter.acquire()
            if waited.cancelled_caught:
                raise HTTPException(503, f"{BUSY} (no slot within {SEGMENT_DEADLINE_S:g} s)", retry_after())
            try:
                if gone is not None and await gone():
                    self.abandoned += 1
                    raise HTTPException(503, "The client left before its segment was made.")
                return await self._in_thread(opened, resource, deadline, receive)
            finally:
                self.limiter.release()
        finally:
            self.waiting -= 1

    async def _in_thread(self, opened: Video, resource: str, deadline: float, receive: Receive | None) -> bytes:
        # A thread cannot be cancelled: it checks the deadline and ``stop`` between packets.
        stop = threading.Event()

        async def watch() -> None:
            assert receive is not None
            await until_disconnect(receive)
            stop.set()

        outcome: list[bytes | Exception] = []
        async with anyio.create_task_group() as group:
            if receive is not None:
                group.start_soon(watch)
            try:
                outcome.append(await self.threads.run(self.make, opened, resource, deadline, stop))
            except Exception as exc:  # raised below: the task group would wrap it in an ExceptionGroup
                outcome.append(exc)
            group.cancel_scope.cancel()
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    def dependency(self) -> Callable[..., object]:
        async def hls_resource(path: str, request: Request, response: Response) -> MediaFile:
            deadline = time.monotonic() + SEGMENT_DEADLINE_S
            names = parse_media_path(path)
            if names is None or len(names) < 2:
                raise HTTPException(404, "Not Found")
            resource = names[-1]
            media_type = media_type_of(resource)
            opened = await anyio.to_thread.run_sync(self.opener, names[:-1])
            try:
                rep = HlsRepresentation(0, opened.mtime_ns, media_type, resource, self.identity(opened, resource))
                early = plan_response(request.method, request_fields(request), rep, now=int(time.time()))
                if early.status in (304, 412):  # the validators alone decide: nothing is made
                    answer(request, response, rep)
                content = await self.body(opened, resource, deadline, request.is_disconnected, request.receive)
            finally:
                opened.close()
            plan = answer(request, response, replace(rep, size=len(content)))
            # one chunk: made in memory already, it is not read again a slice at a time (a 1080p segment is MBs)
            return MediaFile(MemorySource(content), plan.body, chunk_size=max(len(content), 1))

        return hls_resource


HLS_RESPONSES = {
    **planned_responses({PLAYLIST_TYPE: {"schema": {"type": "string"}}, SEGMENT_TYPE: {"schema": {"type": "string", "format": "binary"}}}, "resource"),
    404: error("No such file, or no such HLS resource or segment number; the message says which."),
    422: error("The file has no video stream with keyframes, or cannot be cut; the message says why."),
    503: error("Too many segments (or media jobs) are being made, or this one was not made within its deadline; retry after Retry-After.", headers=RETRY_AFTER),
    504: error("Converting the sound took longer than its deadline and was stopped."),
}


def _acquired(lock: threading.Semaphore, deadline: float) -> bool:
    """Whether ``lock`` was taken by ``deadline`` (``time.monotonic()``)."""
    return lock.acquire(timeout=max(0.0, min(deadline - time.monotonic(), threading.TIMEOUT_MAX)))


@contextmanager
def _turn(lock: threading.Semaphore, deadline: float) -> Iterator[None]:
    """``lock`` held, if it is free by ``deadline``; else ``SegmentTimeout``."""
    from streamer.media.hlspackets import SegmentTimeout

    if not _acquired(lock, deadline):
        raise SegmentTimeout("no turn to cut the segment in time")
    try:
        yield
    finally:
        lock.release()


def hls_router(files: HlsFiles, *, io: str = "async") -> APIRouter:
    router = APIRouter()
    add_get_and_head(
        router,
        "/hls/{path:path}",
        stream_endpoint(files.dependency(), io),
        response_class=MediaResponse,
        responses=HLS_RESPONSES,
        summary="HLS of a video: index.m3u8, init.mp4 and {n}.m4s, made on request, keyframe-exact",
        route_class_override=served_by(DirectEndpoint(files.dependency(), io)),  # by the front door
    )
    return router
