"""GET|HEAD /thumbs/{path}?size=N: a small image of a photo, a video's poster, an audio file's cover art.

Everything is checked before any work starts (size in the set, path servable, kind of file);
the image is made once in a worker process (``streamer.media.workers``), kept in the disk
cache, and answered as a planned response like any file: ETag from the source's identity,
size and format, Last-Modified of the source, 304/412/Range/HEAD, exact Content-Length.
WebP when the client accepts it, else JPEG (``Vary: Accept``). A client that leaves while
its job is still queued takes the job with it.
"""

from __future__ import annotations

import logging
import os
import posixpath
from dataclasses import dataclass, replace
from collections.abc import Iterable
from typing import Any

import anyio
from asyncer import asyncify
from fastapi import APIRouter, HTTPException, Query, Request
from starlette.responses import Response

from streamer.http.paths import is_served_name, parse_media_path
from streamer.http.representation import Kind, Representation, kind_of, media_type_for
from streamer.media.thumbcache import CACHE_SIZE, ThumbCache, cache_name
from streamer.media.thumbs import FORMATS, SIZES, THUMB_VERSION, ThumbJob, make_thumbnail
from streamer.media.jobs import JobError
from streamer.media.workers import DEADLINE_S, WorkerPool
from streamer.sources.base import io_limiter
from streamer.sources.file import FileSource, open_file_source, resolve_in_root
from streamer.web.media import http_error
from streamer.web.direct import DirectEndpoint
from streamer.web.front import served_by
from streamer.web.openapi import BINARY, RETRY_AFTER, add_get_and_head, error
from streamer.web.planned import bytes_response, planned_responses
from streamer.web.responses import MediaResponse, until_disconnect

MAX_AGE_S = 7 * 24 * 3600  # browsers keep a thumbnail a week, then revalidate (304)
THUMB_HEADERS = (("cache-control", f"private, max-age={MAX_AGE_S}"), ("vary", "Accept"))  # on 304s too
COVER_NAMES = ("cover", "folder", "front")
COVER_EXTENSIONS = (".jpg", ".jpeg", ".png")
SIZE_QUERY = Query("320", max_length=8, description=f"Longest side in pixels, one of {', '.join(map(str, SIZES))}.")
logger = logging.getLogger("streamer")

THUMB_RESPONSES: dict[int | str, dict[str, Any]] = {
    **planned_responses({media_type: BINARY for media_type in FORMATS.values()}, "thumbnail"),
    400: error(f"size is not one of {', '.join(map(str, SIZES))}."),
    404: error("No servable file at this path, or an audio file without cover art."),
    415: error("Not an image, video or audio file."),
    422: error("The file cannot be made into an image: corrupt, truncated, or over the pixel limit."),
    503: error("Too many thumbnails are waiting, or the worker died; retry after Retry-After.", headers=RETRY_AFTER),
    504: error("Making the thumbnail took longer than its deadline."),
}


class ThumbnailResponse(MediaResponse):
    """Puts an image type in the route's OpenAPI schema; each answer carries its own (WebP or JPEG)."""

    media_type = FORMATS["webp"]


@dataclass(frozen=True)
class Located:
    """The source of a thumbnail, open (so its identity is the ``fstat`` of what a worker reads), and its cover file."""

    names: tuple[str, ...]
    kind: Kind
    source: FileSource
    st: os.stat_result
    cover: tuple[str, FileSource, os.stat_result] | None = None  # name, open file, fstat

    def identity(self) -> tuple[object, ...]:
        cover = self.cover and (self.cover[0], self.cover[2].st_size, self.cover[2].st_mtime_ns)
        return ("/".join(self.names), self.st.st_size, self.st.st_mtime_ns, cover)

    def close(self) -> None:
        self.source.close()
        if self.cover is not None:
            self.cover[1].close()


def worker_path(source: FileSource) -> str:
    """The open file as a worker process can open it: the same file even if the path now names another."""
    return f"/proc/{os.getpid()}/fd/{source.fileno()}"


def parse_thumb_size(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) not in SIZES:
        raise HTTPException(400, f"size must be one of {', '.join(map(str, SIZES))}, not {text[:16]!r}.")
    return int(text)


def negotiate_format(accept: str | None) -> str:
    """``webp`` if the Accept field admits ``image/webp`` (explicitly, q > 0), else ``jpeg``."""
    for item in (accept or "").split(","):
        media_range, *params = (part.strip() for part in item.split(";"))
        if media_range.lower() == "image/webp":
            q = next((p.partition("=")[2] for p in params if p.lower().startswith("q=")), "1")
            return "jpeg" if q.strip() in ("0", "0.", "0.0", "0.00", "0.000") else "webp"
    return "jpeg"


def locate(root: str, names: tuple[str, ...]) -> Located:
    """Blocking. Open the source beneath the root (as /media does); for audio, a cover file beside it."""
    kind = kind_of(media_type_for(names[-1]))
    source, st = open_file_source(root, names)
    try:
        if kind is Kind.OTHER:
            raise HTTPException(415, "Not an image, video or audio file: there is nothing to make a thumbnail of.")
        cover = folder_cover(root, names[:-1]) if kind is Kind.AUDIO else None
    except BaseException:
        source.close()
        raise
    return Located(names, kind, source, st, cover)


def cover_candidates(names: Iterable[str]) -> list[str]:
    """The names in a folder that can be its cover, best first: ``cover``, ``folder``, ``front`` (.jpg, .jpeg, .png, any case)."""
    found = {name.lower(): name for name in names if is_served_name(name)}
    order = [stem + extension for stem in COVER_NAMES for extension in COVER_EXTENSIONS]
    return [found[lower] for lower in order if lower in found]


def folder_cover(root: str, folder: tuple[str, ...]) -> tuple[str, FileSource, os.stat_result] | None:
    """Blocking. The first of ``cover_candidates`` in ``folder`` that opens, opened."""
    try:
        names = os.listdir(resolve_in_root(root, folder))
    except OSError:
        return None
    for name in cover_candidates(names):
        try:
            cover, st = open_file_source(root, (*folder, name))
        except OSError:
            continue
        return name, cover, st
    return None


class Thumbnails:
    """Makes, caches and answers thumbnails of the files under ``root``: ``thumbs_router(Thumbnails(...))``.

    ``cache`` is a folder (made if missing; bounded to ``cache_bytes``, least recently used out
    first) or a ``ThumbCache``. ``pool`` is a ``WorkerPool`` to share; without one, the thumbnails
    get their own of ``workers`` processes, started with the first job and killed and reaped by
    ``aclose()``. Run it for the app's lifetime with ``running(thumbnails)`` in a lifespan.
    """

    def __init__(self, root: str | os.PathLike[str], cache: ThumbCache | str | os.PathLike[str],
                 pool: WorkerPool | None = None, *, workers: int = 2, cache_bytes: int = CACHE_SIZE,
                 deadline_s: float = DEADLINE_S) -> None:
        if not os.path.isdir(root):
            raise ValueError(f"{os.fspath(root)!r} is not a folder: thumbnails need the folder of the media")
        self.root = os.path.realpath(root)
        self.cache = cache if isinstance(cache, ThumbCache) else ThumbCache(cache, cache_bytes)
        self._own_pool = pool is None
        self.pool = WorkerPool(workers) if pool is None else pool
        self.deadline_s = deadline_s

    async def run(self) -> None:
        """Nothing runs in the background (processes start with jobs); here for ``running(...)``."""
        await anyio.sleep_forever()

    async def aclose(self) -> None:
        """Kill and reap the worker processes, if the pool is this object's own. Idempotent."""
        if self._own_pool:
            await self.pool.aclose()

    async def __call__(self, path: str, request: Request, size: str = SIZE_QUERY) -> Response:
        pixels = parse_thumb_size(size)
        names = parse_media_path(path)
        if names is None:
            raise HTTPException(404, "Not Found")
        fmt = negotiate_format(request.headers.get("accept"))
        try:
            source = await asyncify(locate, limiter=io_limiter())(self.root, names)
        except OSError as exc:
            raise http_error(exc) from exc
        try:
            name = cache_name(THUMB_VERSION, *source.identity(), pixels, fmt)
            cover = source.cover and worker_path(source.cover[1])
            job = ThumbJob(worker_path(source.source), source.kind.value, pixels, fmt, output="", cover=cover)
            data = await self._image(name, job, request)
        finally:
            with anyio.CancelScope(shield=True):
                await asyncify(source.close, limiter=io_limiter())()
        if data is None:  # the client left
            return Response(status_code=499)
        stem = posixpath.splitext(names[-1])[0]
        rep = Representation(len(data), source.st.st_mtime_ns, FORMATS[fmt], f"{stem}.{pixels}.{fmt}", validator=name[:24])
        return bytes_response(request, data, rep, ThumbnailResponse, headers=THUMB_HEADERS)

    async def _image(self, name: str, job: ThumbJob, request: Request) -> bytes | None:
        """The thumbnail's bytes from the cache or a worker; ``None`` if the client left first."""

        async def make(output: str) -> None:
            await self.pool.run(make_thumbnail, replace(job, output=output), deadline_s=self.deadline_s)

        outcome: list[bytes | Exception] = []
        async with anyio.create_task_group() as tg:

            async def work() -> None:
                try:
                    outcome.append(await self.cache.get_or_make(name, make))
                except Exception as exc:  # raised below, not wrapped in the task group's ExceptionGroup
                    outcome.append(exc)
                finally:
                    tg.cancel_scope.cancel()

            tg.start_soon(work)
            tg.start_soon(until_disconnect, request.receive)
        if outcome and isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0] if outcome else None


def thumbs_router(thumbnails: Thumbnails) -> APIRouter:
    router = APIRouter()

    async def thumbnail(path: str, request: Request, size: str = SIZE_QUERY) -> Response:
        try:
            return await thumbnails(path, request, size)
        except JobError as exc:
            headers = {"retry-after": "1"} if exc.status == 503 else None
            raise HTTPException(exc.status, exc.reason, headers) from exc

    add_get_and_head(
        router,
        "/thumbs/{path:path}",
        thumbnail,
        response_class=ThumbnailResponse,
        responses=THUMB_RESPONSES,
        summary="A thumbnail of a photo, a video's poster frame, or an audio file's cover art",
        route_class_override=served_by(DirectEndpoint(thumbnail)),  # by the front door
    )
    return router
