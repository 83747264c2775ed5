"""Subtitles from a bucket: ``/subtitles/{key}`` (a .srt or .vtt object as WebVTT) and
``/subtitles/{video}?stream=N`` (a text stream inside a video object), like a folder's.

A subtitle object is read whole (bounded by ``MAX_SUBTITLE_BYTES``) with one GET pinned to
its ETag; a stream inside a video is extracted in the worker pool from the object itself
(``S3Object``: ranged GETs with If-Match) and cached on disk by key, size and store ETag.
ETags come from the store's, so every replica gives the same.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from streamer.http.paths import parse_media_path
from streamer.http.representation import Kind, Representation, kind_of, media_type_for
from streamer.media.jobs import JobError
from streamer.media.subtitles import SUBTITLE_EXTENSIONS
from streamer.media.subtitlestreams import extract_webvtt
from streamer.media.thumbcache import ThumbCache, cache_name
from streamer.media.workers import WorkerPool
from streamer.sources.s3 import ObjectMeta, S3Bucket
from streamer.sources.s3reader import S3Object
from streamer.web.planned import bytes_response
from streamer.web.openapi import add_get_and_head
from streamer.web.responses import MediaResponse
from streamer.web.subtitles import EXTRACT_DEADLINE_S, MAX_SUBTITLE_BYTES, STREAM_QUERY, STREAM_VERSION, VTT
from streamer.web.subtitles import parse_stream_index, to_webvtt

InThread = Callable[..., Awaitable[Any]]


def add_s3_subtitles(router: APIRouter, bucket: S3Bucket, pool: WorkerPool, cache: ThumbCache, in_thread: InThread) -> None:
    """``/subtitles/{path}`` over ``bucket`` on ``router``; embedded streams through ``pool``, kept in ``cache``."""

    async def read_whole(meta: ObjectMeta) -> bytes:
        if meta.size > MAX_SUBTITLE_BYTES:
            raise HTTPException(413, f"Subtitle files larger than {MAX_SUBTITLE_BYTES} bytes are not converted.")
        return bytes(await in_thread(bucket.get_range, meta, 0, meta.size)) if meta.size else b""

    async def embedded(request: Request, names: tuple[str, ...], stream: str) -> MediaResponse:
        index = parse_stream_index(stream)
        if kind_of(media_type_for(names[-1])) is not Kind.VIDEO:
            raise HTTPException(404, "Not a video: ?stream= names a subtitle stream inside a video file.")
        meta = await in_thread(bucket.head, "/".join(names))
        name = cache_name(STREAM_VERSION, meta.key, meta.size, meta.etag, index)
        source = S3Object.of(bucket, meta)

        async def make(output: str) -> None:
            await pool.run(extract_webvtt, source, index, output, deadline_s=EXTRACT_DEADLINE_S)

        try:
            vtt = await cache.get_or_make(name, make)
        except JobError as exc:
            raise HTTPException(exc.status, exc.reason, {"retry-after": "1"} if exc.status == 503 else None) from exc
        stem = posixpath.splitext(names[-1])[0]
        return bytes_response(request, vtt, Representation(len(vtt), meta.mtime_ns, VTT, f"{stem}.{index}.vtt",
                                                            validator=name[:24]))

    async def subtitles(request: Request, path: str, stream: str | None = STREAM_QUERY) -> MediaResponse:
        names = parse_media_path(path)
        if names is not None and stream is not None:
            return await embedded(request, names, stream)
        if names is None or not names[-1].lower().endswith(SUBTITLE_EXTENSIONS):
            raise HTTPException(404, "Not Found")
        meta = await in_thread(bucket.head, "/".join(names))
        vtt = await in_thread(to_webvtt, names[-1], await read_whole(meta))
        stem = posixpath.splitext(names[-1])[0]
        rep = Representation(len(vtt), meta.mtime_ns, VTT, f"{stem}.vtt", validator=f"{meta.size:x}-{meta.validator}-vtt")
        return bytes_response(request, vtt, rep)

    add_get_and_head(router, "/subtitles/{path:path}", subtitles, response_class=MediaResponse,
                     summary="Subtitles beside a video or inside it, from the bucket, as WebVTT")
