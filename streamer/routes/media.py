"""GET|HEAD /media/{path}: every decision in a dependency, then a generator that only moves bytes.

``media_file(root)`` makes the dependency: in one worker-thread hop it resolves
the path, opens and ``fstat``s the file and plans the response, and when the body
is one chunk or less (a small file, a seek, HEAD, 304) reads it and closes the
file there and then. It either raises (404, 304, 412, 416) or sets the status
and headers and yields a ``MediaFile``. A file it keeps open for a longer body
it owns and closes when the response is done, on every path.
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator, Callable

import anyio
from asyncer import asyncify
from fastapi import APIRouter, HTTPException, Query, Request, Response

from streamer.chunks import CHUNK_SIZE
from streamer.paths import parse_media_path
from streamer.plan import ResponsePlan
from streamer.ranges import ByteRange
from streamer.representation import Representation
from streamer.responses import STALL_TIMEOUT_S, MediaResponse
from streamer.routes import BINARY, RETRY_AFTER, add_get_and_head, error
from streamer.routes.planned import (
    RATE_QUERY,
    MediaFile,
    apply_plan,
    effective_rate,
    plan_for,
    planned_responses,
    set_stream_options,
    stream_endpoint,
)
from streamer.sources import ByteSource, FileSource, MemorySource, SourceTruncatedError, io_limiter, open_file_source
_MEDIA_CONTENT = {t: BINARY for t in ("video/*", "audio/*", "image/*", "application/octet-stream")}


MEDIA_RESPONSES = {
    **planned_responses(_MEDIA_CONTENT, "file"),
    404: error("No servable file at this path."),
    503: error("The file changed while it was read, or --max-streams is reached; retry after Retry-After.",
               headers=RETRY_AFTER),
}


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


class MediaFiles:
    """A FastAPI dependency serving the files under ``root`` to a route with a ``{path:path}`` parameter.

    Each request's file is opened, planned and closed by one call; ``aclose()``
    closes whatever is still open when the server stops (streams it cancelled).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        chunk_size: int = CHUNK_SIZE,
        stall_timeout_s: float | None = STALL_TIMEOUT_S,
        rate: float | None = None,
    ) -> None:
        self.root = os.path.realpath(root)
        self.chunk_size = chunk_size
        self.stall_timeout_s = stall_timeout_s
        self.rate = rate
        self._open: set[FileSource] = set()

    async def __call__(
        self,
        path: str,
        request: Request,
        response: Response,
        download: bool = Query(False, description="Send Content-Disposition: attachment."),
        rate: int | None = RATE_QUERY,
    ) -> AsyncIterator[MediaFile]:
        names = parse_media_path(path)
        if names is None:
            raise HTTPException(404, "Not Found")
        pace = effective_rate(rate, self.rate)

        def decide(rep: Representation) -> ResponsePlan:
            return plan_for(request, rep, download=download)

        try:  # one worker-thread hop: open, fstat, plan, and for a small body read it and close
            plan, source = await asyncify(self._open_and_plan, limiter=io_limiter())(names, decide, request.method)
        except OSError as exc:
            raise http_error(exc) from exc
        except SourceTruncatedError as exc:  # shrank between fstat and read: the plan no longer holds
            headers = {"retry-after": "1"}
            raise HTTPException(503, "The file changed while it was being read; try again.", headers) from exc
        try:
            apply_plan(plan, response)
            set_stream_options(request, stall_timeout_s=self.stall_timeout_s, rate=pace)
            yield MediaFile(source, plan.body, self.chunk_size)
        finally:
            if source.blocking:
                with anyio.CancelScope(shield=True):
                    await asyncify(source.close, limiter=io_limiter())()
                self._open.discard(source)  # only once closed: a cancelled close is left to aclose()

    def _open_and_plan(
        self, names: tuple[str, ...], decide: Callable[[Representation], ResponsePlan], method: str
    ) -> tuple[ResponsePlan, ByteSource]:
        """Blocking. The plan, and the file left open only if its body is more than one chunk."""
        source, st = open_file_source(self.root, names)
        try:
            plan = decide(Representation.from_stat(st, names[-1]))
            body = plan.body if method == "GET" and plan.status < 300 else ()
            if not body:  # HEAD, 304, 412, 416, an empty file: nothing to read
                return plan, MemorySource(b"")
            if len(body) == 1 and isinstance(body[0], ByteRange) and len(body[0]) <= self.chunk_size:
                only = body[0]
                return plan, MemorySource(source.read_at(only.start, len(only)), only.start)
            self._open.add(source)
            return plan, source
        finally:
            if source not in self._open:
                source.close()

    async def aclose(self) -> None:
        """Close every file still open; for server shutdown, after in-flight streams were cancelled."""
        sources, self._open = list(self._open), set()
        for source in sources:
            await asyncify(source.close, limiter=io_limiter())()


def media_file(
    root: str | os.PathLike[str],
    *,
    chunk_size: int = CHUNK_SIZE,
    stall_timeout_s: float | None = STALL_TIMEOUT_S,
    rate: float | None = None,
) -> MediaFiles:
    """The dependency for your own routes: ``Depends(media_file("videos"))``."""
    return MediaFiles(root, chunk_size=chunk_size, stall_timeout_s=stall_timeout_s, rate=rate)


def media_router(planned: MediaFiles, *, io: str = "async") -> APIRouter:
    """The ``/media/{path}`` route, served by the sync or the async generator endpoint."""

    router = APIRouter()
    add_get_and_head(
        router,
        "/media/{path:path}",
        stream_endpoint(planned, io),
        response_class=MediaResponse,
        responses=MEDIA_RESPONSES,
        summary="A media file, with Range and conditional requests",
    )
    return router
