"""GET|HEAD /subtitles/{path}: a .srt or .vtt file of the media root as WebVTT, for a ``<track>``;
``/subtitles/{video}?stream=N``: the video's text subtitle stream N, as WebVTT.

A file is read whole (it is bounded by ``MAX_SUBTITLE_BYTES``) and converted in
a worker thread; a stream inside a video is extracted once in the worker pool
(``streamer.media.subtitlestreams``) and kept in the disk cache. Either answer is
planned like any other body. Its ETag is strong, made of the source's identity
(size and mtime), so a changed file gets a new one, and the same file gives the
same bytes everywhere.
"""

from __future__ import annotations

import os
import posixpath

import anyio
from asyncer import asyncify
from fastapi import APIRouter, HTTPException, Query, Request

from streamer.http.paths import parse_media_path
from streamer.http.representation import Kind, Representation, kind_of, media_type_for
from streamer.media.jobs import JobError
from streamer.media.subtitles import SUBTITLE_EXTENSIONS, decode_text, is_webvtt, srt_to_vtt
from streamer.media.subtitlestreams import extract_webvtt
from streamer.media.thumbcache import ThumbCache, cache_name
from streamer.media.workers import WorkerPool
from streamer.sources.base import io_limiter
from streamer.sources.file import open_file_source
from streamer.web.media import http_error
from streamer.web.openapi import add_get_and_head, error
from streamer.web.planned import bytes_response, planned_responses
from streamer.web.responses import MediaResponse
from streamer.web.thumbs import worker_path

MAX_SUBTITLE_BYTES = 4 * 1024 * 1024  # a two-hour film's subtitles are about 100 KB
VTT = "text/vtt; charset=utf-8"
SUBTITLE_CACHE_BYTES = 64 * 1024 * 1024  # extracted WebVTT kept on disk (a film's is about 100 KB)
EXTRACT_DEADLINE_S = 60.0  # demuxing a long film for its subtitle packets reads the whole file
STREAM_VERSION = 1  # part of every cache key: bump when the extracted WebVTT changes
STREAM_QUERY = Query(None, max_length=8, description="Index of a text subtitle stream inside the video (from /api/media).")


def read_subtitles(root: str, names: tuple[str, ...]) -> tuple[bytes, os.stat_result]:
    """Blocking: the whole file and its ``fstat``; ``OSError`` if it cannot be served, 413 if too large."""
    source, st = open_file_source(root, names)
    try:
        if st.st_size > MAX_SUBTITLE_BYTES:
            raise HTTPException(413, f"Subtitle files larger than {MAX_SUBTITLE_BYTES} bytes are not converted.")
        return source.read_at(0, st.st_size), st
    finally:
        source.close()


def to_webvtt(name: str, data: bytes) -> bytes:
    """The WebVTT bytes for a subtitle file's contents; 422 for a .vtt that is not WebVTT."""
    text = decode_text(data)
    if name.lower().endswith(".srt"):
        return srt_to_vtt(text).encode("utf-8")
    if not is_webvtt(text):
        raise HTTPException(422, "This .vtt file does not start with WEBVTT, so browsers would not read it.")
    return text.lstrip("\ufeff").encode("utf-8")


def parse_stream_index(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 4):
        raise HTTPException(400, f"stream must be a stream index (0-9999) as listed by /api/media, not {text[:16]!r}.")
    return int(text)


class EmbeddedSubtitles:
    """Extracts, caches and answers the text subtitle streams of the videos under ``root``."""

    def __init__(self, root: str | os.PathLike[str], pool: WorkerPool, cache: ThumbCache) -> None:
        self.root, self.pool, self.cache = os.path.realpath(root), pool, cache

    async def __call__(self, request: Request, names: tuple[str, ...], stream: str) -> MediaResponse:
        index = parse_stream_index(stream)
        if kind_of(media_type_for(names[-1])) is not Kind.VIDEO:
            raise HTTPException(404, "Not a video: ?stream= names a subtitle stream inside a video file.")
        try:
            source, st = await asyncify(open_file_source, limiter=io_limiter())(self.root, names)
        except OSError as exc:
            raise http_error(exc) from exc
        try:
            name = cache_name(STREAM_VERSION, "/".join(names), st.st_size, st.st_mtime_ns, index)
            path = worker_path(source)  # this file, whatever the path names by the time the worker opens it

            async def make(output: str) -> None:
                await self.pool.run(extract_webvtt, path, index, output, deadline_s=EXTRACT_DEADLINE_S)

            vtt = await self.cache.get_or_make(name, make)
        except JobError as exc:
            raise HTTPException(exc.status, exc.reason, {"retry-after": "1"} if exc.status == 503 else None) from exc
        finally:
            with anyio.CancelScope(shield=True):
                await asyncify(source.close, limiter=io_limiter())()
        stem = posixpath.splitext(names[-1])[0]
        rep = Representation(len(vtt), st.st_mtime_ns, VTT, f"{stem}.{index}.vtt", validator=name[:24])
        return bytes_response(request, vtt, rep)


def subtitles_router(root: str | os.PathLike[str], embedded: EmbeddedSubtitles | None = None) -> APIRouter:
    """``embedded`` serves ``?stream=N`` (subtitle streams inside videos); without it such requests are 404."""
    real_root = os.path.realpath(root)
    router = APIRouter()

    async def subtitles(request: Request, path: str, stream: str | None = STREAM_QUERY) -> MediaResponse:
        names = parse_media_path(path)
        if names is not None and stream is not None and embedded is not None:
            return await embedded(request, names, stream)
        if names is None or stream is not None or not names[-1].lower().endswith(SUBTITLE_EXTENSIONS):
            raise HTTPException(404, "Not Found")
        try:
            data, st = await asyncify(read_subtitles, limiter=io_limiter())(real_root, names)
        except OSError as exc:
            raise http_error(exc) from exc
        vtt = await asyncify(to_webvtt, limiter=io_limiter())(names[-1], data)
        stem = posixpath.splitext(names[-1])[0]
        identity = f"{st.st_size:x}-{st.st_mtime_ns:x}-vtt"
        rep = Representation(len(vtt), st.st_mtime_ns, VTT, f"{stem}.vtt", validator=identity)
        return bytes_response(request, vtt, rep)

    responses = {
        **planned_responses({"text/vtt": {"schema": {"type": "string"}}}, "subtitles, as WebVTT"),
        400: error("stream is not a stream index."),
        404: error("No .srt or .vtt file at this path, or no subtitle stream of that index in the video."),
        413: error(f"The subtitle file is larger than {MAX_SUBTITLE_BYTES} bytes."),
        415: error("The subtitle stream is pictures (PGS, DVB, DVD), not text: not converted to WebVTT."),
        422: error("The .vtt file is not WebVTT, or the video or its subtitle stream cannot be read."),
        503: error("Too many media jobs are waiting; retry after Retry-After."),
        504: error("Extracting the subtitle stream took longer than its deadline."),
    }
    add_get_and_head(
        router, "/subtitles/{path:path}", subtitles, response_class=MediaResponse, responses=responses,
        summary="Subtitles beside a video or inside it, as WebVTT (SubRip, ASS, mov_text converted)",
    )
    return router
