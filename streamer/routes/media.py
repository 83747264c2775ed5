"""GET|HEAD /media/{path}: every decision in a dependency, then a generator that only moves bytes.

``media_file(root)`` makes the dependency: it resolves the path, opens and
``fstat``s the file in one worker-thread hop, plans the response, and either
raises (404, 304, 412, 416) or sets the status and headers and yields a
``MediaFile``. It owns the open file and closes it when the response is done,
on every path. The endpoints, sync and async, are then two lines each.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
from asyncer import asyncify
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from streamer.chunks import CHUNK_SIZE, aiter_chunks, chunk_spans, iter_chunks
from streamer.paths import parse_media_path
from streamer.plan import ResponsePlan, plan_response
from streamer.representation import Representation
from streamer.routes import add_get_and_head
from streamer.responses import STALL_TIMEOUT_KEY, STALL_TIMEOUT_S, MediaResponse
from streamer.sources import FileSource, io_limiter, open_file_source

BOUNDARY_BYTES = 12  # random bytes in a multipart boundary (24 hex digits)
access_log = logging.getLogger("streamer.access")  # one line per planned answer: what was asked, what was sent
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_MEDIA_CONTENT = {t: _BINARY for t in ("video/*", "audio/*", "image/*", "application/octet-stream")}
_ERROR = {"application/json": {"schema": {"type": "object", "properties": {"detail": {"type": "string"}}}}}
MEDIA_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole file.", "content": _MEDIA_CONTENT},
    206: {
        "description": "One range (Content-Range), or several as multipart/byteranges.",
        "content": {**_MEDIA_CONTENT, "multipart/byteranges": _BINARY},
    },
    304: {"description": "Not modified: If-None-Match or If-Modified-Since matched. No body."},
    404: {"description": "No servable file at this path.", "content": _ERROR},
    412: {"description": "If-Match or If-Unmodified-Since failed.", "content": _ERROR},
    416: {"description": "No requested range overlaps the file; Content-Range: bytes */size.", "content": _ERROR},
}


@dataclass(frozen=True)
class MediaFile:
    """An open file and the plan for answering one request about it."""

    source: FileSource
    plan: ResponsePlan
    chunk_size: int = CHUNK_SIZE

    def iter_chunks(self) -> Iterator[bytes]:
        return iter_chunks(self.source, chunk_spans(self.plan.body, self.chunk_size))

    def aiter_chunks(self) -> AsyncIterator[bytes]:
        return aiter_chunks(self.source, chunk_spans(self.plan.body, self.chunk_size))


def http_error(exc: OSError) -> HTTPException:
    """Translate a filesystem error at the boundary, telling nothing about the server's disk."""
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError)) or exc.errno in (
        errno.ELOOP,
        errno.ENAMETOOLONG,
    ):
        return HTTPException(404, "Not Found")
    if isinstance(exc, PermissionError):
        return HTTPException(403, "Forbidden")
    return HTTPException(500, "Internal Server Error")


def request_fields(request: Request) -> dict[str, str]:
    """Request fields by lower-case name, repeated field lines joined into one list (RFC 9110 §5.3)."""
    fields: dict[str, str] = {}
    for name, value in request.headers.items():
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return fields


class MediaFiles:
    """A FastAPI dependency serving the files under ``root`` to a route with a ``{path:path}`` parameter.

    Each request's file is opened, planned and closed by one call; ``aclose()``
    closes whatever is still open when the server stops (streams it cancelled).
    """

    def __init__(
        self, root: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE, stall_timeout_s: float | None = STALL_TIMEOUT_S
    ) -> None:
        self.root = os.path.realpath(root)
        self.chunk_size = chunk_size
        self.stall_timeout_s = stall_timeout_s
        self._open: set[FileSource] = set()

    async def __call__(
        self,
        path: str,
        request: Request,
        response: Response,
        download: bool = Query(False, description="Send Content-Disposition: attachment."),
    ) -> AsyncIterator[MediaFile]:
        names = parse_media_path(path)
        if names is None:
            raise HTTPException(404, "Not Found")
        try:
            source, st = await asyncify(open_file_source, limiter=io_limiter())(self.root, names)
        except OSError as exc:
            raise http_error(exc) from exc
        self._open.add(source)
        try:
            rep = Representation.from_stat(st, names[-1])
            boundary = secrets.token_hex(BOUNDARY_BYTES)
            fields = request_fields(request)
            plan = plan_response(
                request.method, fields, rep, attachment=download, boundary=boundary, now=int(time.time())
            )
            access_log.info(
                "%s /media/%s %d range=%s content-range=%s",
                request.method, path, plan.status, fields.get("range", "-"), plan.header("content-range") or "-",
            )
            if plan.status >= 300:
                raise HTTPException(plan.status, plan.detail or None, headers=dict(plan.headers))
            response.status_code = plan.status
            for name, value in plan.headers:
                response.headers[name] = value
            request.scope[STALL_TIMEOUT_KEY] = self.stall_timeout_s
            yield MediaFile(source, plan, self.chunk_size)
        finally:
            with anyio.CancelScope(shield=True):
                await asyncify(source.close, limiter=io_limiter())()
            self._open.discard(source)  # only once closed: a cancelled close is left to aclose()

    async def aclose(self) -> None:
        """Close every file still open; for server shutdown, after in-flight streams were cancelled."""
        sources, self._open = list(self._open), set()
        for source in sources:
            await asyncify(source.close, limiter=io_limiter())()


def media_file(
    root: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE, stall_timeout_s: float | None = STALL_TIMEOUT_S
) -> MediaFiles:
    """The dependency for your own routes: ``Depends(media_file("videos"))``."""
    return MediaFiles(root, chunk_size=chunk_size, stall_timeout_s=stall_timeout_s)


def media_router(planned: MediaFiles, *, io: str = "async") -> APIRouter:
    """The ``/media/{path}`` route, served by the sync or the async generator endpoint."""

    def get_media_sync(media: MediaFile = Depends(planned)) -> Iterator[bytes]:
        yield from media.iter_chunks()

    async def get_media_async(media: MediaFile = Depends(planned)) -> AsyncIterator[bytes]:
        async for chunk in media.aiter_chunks():
            yield chunk

    router = APIRouter()
    add_get_and_head(
        router,
        "/media/{path:path}",
        get_media_sync if io == "sync" else get_media_async,
        response_class=MediaResponse,
        responses=MEDIA_RESPONSES,
        summary="A media file, with Range and conditional requests",
    )
    return router
