"""GET|HEAD /subtitles/{path}: a .srt or .vtt file of the media root as WebVTT, for a ``<track>``.

The file is read whole (it is bounded by ``MAX_SUBTITLE_BYTES``) and converted in
a worker thread; the answer is planned like any other body. Its ETag is strong,
made of the source's identity (size and mtime) and the converted size, so a
changed file gets a new one, and the same file gives the same bytes everywhere.
"""

from __future__ import annotations

import os
import posixpath

from asyncer import asyncify
from fastapi import APIRouter, HTTPException, Request

from streamer.http.paths import parse_media_path
from streamer.http.representation import Representation
from streamer.media.subtitles import SUBTITLE_EXTENSIONS, decode_text, is_webvtt, srt_to_vtt
from streamer.sources.base import io_limiter
from streamer.sources.file import open_file_source
from streamer.web.media import http_error
from streamer.web.openapi import add_get_and_head, error
from streamer.web.planned import bytes_response, planned_responses
from streamer.web.responses import MediaResponse

MAX_SUBTITLE_BYTES = 4 * 1024 * 1024  # a two-hour film's subtitles are about 100 KB
VTT = "text/vtt; charset=utf-8"


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


def subtitles_router(root: str | os.PathLike[str]) -> APIRouter:
    real_root = os.path.realpath(root)
    router = APIRouter()

    async def subtitles(request: Request, path: str) -> MediaResponse:
        names = parse_media_path(path)
        if names is None or not names[-1].lower().endswith(SUBTITLE_EXTENSIONS):
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
        404: error("No .srt or .vtt file at this path."),
        413: error(f"The subtitle file is larger than {MAX_SUBTITLE_BYTES} bytes."),
        422: error("The .vtt file is not WebVTT."),
    }
    add_get_and_head(
        router, "/subtitles/{path:path}", subtitles, response_class=MediaResponse, responses=responses,
        summary="Subtitles beside a video, as WebVTT (SubRip converted)",
    )
    return router
