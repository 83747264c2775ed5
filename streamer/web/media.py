"""GET|HEAD /media/{path}: every decision in a dependency, then a generator that only moves bytes.

``media_file(root)`` makes the dependency: it gets the open file (from the
open-file cache, or opened in one worker-thread hop), plans the response, and
when the body is one chunk or less (a small file, a seek) reads it at once,
from the page cache if it can (unless the server will sendfile it: ``MediaEndpoint``
hands the response the open file then). It either raises (404, 304, 412, 416) or sets
the status and headers and yields a ``MediaFile``. The file is released when
the response is done, on every path: closed, unless the cache keeps it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import parse_qsl

import anyio
from asyncer import asyncify
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.types import Receive, Scope, Send

from streamer.sources.chunks import CHUNK_SIZE
from streamer.sources.filecache import Lease, OpenFileCache, is_missing_watch
from streamer.http.paths import parse_media_path
from streamer.http.plan import ResponsePlan
from streamer.http.ranges import ByteRange
from streamer.http.representation import Representation
from streamer.web.responses import STALL_TIMEOUT_S, ZEROCOPY_EXTENSION, FileBody, MediaResponse
from streamer.web.front import served_by
from streamer.web.openapi import BINARY, RETRY_AFTER, add_get_and_head, error
from streamer.web.dependency import DOWNLOAD_QUERY, MAX_PACED_S, PACE_QUERY, DependencySignature, check_paced_duration
from streamer.web.planned import (
    MediaFile,
    apply_plan,
    check_io,
    effective_rate,
    plan_for,
    planned_responses,
    raise_if_bodiless,
    set_stream_options,
    stream_endpoint,
)
from streamer.sources.base import ByteSource, MemorySource, SourceTruncatedError, io_limiter
from streamer.sources.file import FileSource, open_resolved, resolve_in_root

_MEDIA_CONTENT = {t: BINARY for t in ("video/*", "audio/*", "image/*", "application/octet-stream")}


MEDIA_RESPONSES = {
    **planned_responses(_MEDIA_CONTENT, "file"),
    404: error("No servable file at this path."),
    503: error("The file changed while it was read, or the server streams as many bodies as it allows; "
               "retry after Retry-After.",
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

    With an ``OpenFileCache`` (whose ``run()`` the app must keep running), a file
    served recently is planned and, for a small body, read without leaving the
    event loop; otherwise one worker-thread hop opens it. ``aclose()`` closes
    whatever is still open when the server stops (streams it cancelled).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        chunk_size: int = CHUNK_SIZE,
        stall_timeout_s: float | None = STALL_TIMEOUT_S,
        rate: float | None = None,
        cache: OpenFileCache | None = None,
        allow_rate: bool = False,
        allow_download: bool = False,
        max_paced_s: float = MAX_PACED_S,
        sendfile: bool = True,
    ) -> None:
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):  # else every request would be a 404 with no word why
            raise FileNotFoundError(
                errno.ENOENT,
                f"media root {os.fspath(root)!r} is not a folder (resolved to {self.root!r} from {os.getcwd()!r}): "
                "create it, or pass the path of the folder to serve",
                self.root,
            )
        self.chunk_size = chunk_size
        self.stall_timeout_s = stall_timeout_s
        self.rate = rate
        self.cache = cache
        self.allow_rate = allow_rate
        self.allow_download = allow_download
        self.max_paced_s = max_paced_s
        self.sendfile = sendfile  # the server may send bodies from the file (zerocopysend), where it offers it
        self._open: set[FileSource] = set()  # opened and not cached: this object must close them
        self._opening: dict[tuple[str, ...], anyio.Event] = {}  # cache keys being opened now
        self._closed = False

    __signature__ = DependencySignature()

    async def __call__(
        self,
        path: str,
        request: Request,
        response: Response,
        download: Annotated[bool, DOWNLOAD_QUERY] = False,
        rate: Annotated[int | None, PACE_QUERY] = None,
    ) -> AsyncIterator[MediaFile]:
        names = parse_media_path(path)
        if names is None:
            raise HTTPException(404, "Not Found")
        download, rate = download and self.allow_download, rate if self.allow_rate else None
        pace = effective_rate(rate, self.rate)
        async with self.planned(names, lambda rep: plan_for(request, rep, download=download), request.method) as (
            plan,
            source,
        ):
            check_paced_duration(plan, rate, pace, self.max_paced_s)
            apply_plan(plan, response)
            set_stream_options(request, stall_timeout_s=self.stall_timeout_s, rate=pace)
            yield MediaFile(source, plan.body, self.chunk_size)

    @asynccontextmanager
    async def planned(
        self, names: tuple[str, ...], decide: Callable[[Representation], ResponsePlan], method: str, *, read_small: bool = True
    ) -> AsyncIterator[tuple[ResponsePlan, ByteSource]]:
        """The plan for ``root/names`` and the source of its body: held open until the block ends.

        A body of one chunk or less (a small file, a seek) is read here, so the source
        is then memory, unless ``read_small`` is false (the server will ``sendfile`` it);
        HEAD, 304, 412 and 416 read nothing.
        """
        lease = await self._lease(names)
        try:
            plan = decide(Representation.from_stat(lease.stat, names[-1]))
            try:
                source = await self._body_source(plan, lease.source, method, read_small)
            except SourceTruncatedError as exc:  # shrank between fstat and read: the plan no longer holds
                headers = {"retry-after": "1"}
                raise HTTPException(503, "The file changed while it was being read; try again.", headers) from exc
            yield plan, source
        finally:
            to_close = lease.release()
            if to_close is not None:
                with anyio.CancelScope(shield=True):
                    await asyncify(to_close.close, limiter=io_limiter())()
                self._open.discard(to_close)  # only once closed: a cancelled close is left to aclose()

    async def _body_source(self, plan: ResponsePlan, file: FileSource, method: str, read_small: bool) -> ByteSource:
        """Nothing for a bodiless answer; the bytes themselves for one chunk or less; else the file."""
        body = plan.body if method == "GET" and plan.status < 300 else ()
        if not body:
            return MemorySource(b"")
        if read_small and len(body) == 1 and isinstance(body[0], ByteRange) and len(body[0]) <= self.chunk_size:
            only = body[0]
            data = file.read_cached(only.start, len(only))
            if data is None:
                data = await asyncify(file.read_at, limiter=io_limiter())(only.start, len(only))
            return MemorySource(data, only.start)
        return file

    async def _lease(self, names: tuple[str, ...]) -> Lease:
        """The open file for ``names``: from the cache, or opened in one worker-thread hop.

        Requests that miss the cache for a file another request is opening wait for
        that one, rather than open it again each (a burst of 64 would take 64 hops).
        """
        key = (self.root, *names)
        if self.cache is not None:
            if (lease := self.cache.lease(key)) is not None:
                return lease
            if (opening := self._opening.get(key)) is not None:
                await opening.wait()
                if (lease := self.cache.lease(key)) is not None:
                    return lease
        done = anyio.Event()
        if self.cache is not None:
            self._opening.setdefault(key, done)  # unless another waiter got there first: then both open
        try:
            source, st, resolved, wd = await asyncify(self._open_file, limiter=io_limiter())(names)
        except OSError as exc:
            raise http_error(exc) from exc
        finally:
            if self._opening.get(key) is done:
                del self._opening[key]
            done.set()
        if self.cache is None or wd is None:
            return Lease(source, st, None, lambda lease: lease.source)
        lease = self.cache.add(key, source, st, resolved, wd)
        if lease.cached:
            self._open.discard(source)  # the cache closes it now
        return lease

    def _open_file(self, names: tuple[str, ...]) -> tuple[FileSource, os.stat_result, str, int | None]:
        """Blocking. Watch the file's folder (to cache it), then open it: a change in between is seen."""
        resolved = resolve_in_root(self.root, names)
        wd = None
        if self.cache is not None:
            try:
                wd = self.cache.watch_folder(resolved)
            except OSError as exc:
                if not is_missing_watch(exc):
                    raise
        source, st = open_resolved(self.root, resolved, names)
        self._open.add(source)  # before the hop returns: if its caller is gone, aclose() still closes it
        return source, st, resolved, wd

    async def run(self) -> None:
        """Keep the open-file cache swept (if there is one) until cancelled or closed; see ``running``."""
        if self.cache is not None:
            await self.cache.run()
        else:
            await anyio.sleep_forever()

    async def aclose(self) -> None:
        """Close every file still open, and the cache; for server shutdown, after in-flight streams were cancelled.

        Idempotent, and safe in any order with ``run`` and with other ``MediaFiles``
        sharing the cache: no descriptor is ever closed twice.
        """
        self._closed = True
        sources, self._open = list(self._open), set()
        with anyio.CancelScope(shield=True):
            for source in sources:
                await asyncify(source.close, limiter=io_limiter())()
            if self.cache is not None:
                cache, self.cache = self.cache, None
                await cache.aclose()


class MediaEndpoint:
    """The ASGI app of the ``/media/{path}`` route: ``MediaFiles``' work without FastAPI's per-request machinery.

    For a small file, FastAPI's dependency resolution and generator wrapping took about
    half of the server's time per request; this does the same steps directly: the
    same query parameters with the same 422s (pydantic's own errors), the same
    ``planned`` core, the same ``MediaResponse``, and the body from the ``def``
    generator (``io="sync"``, driven in worker threads) or the ``async def`` one.
    A body already read (one chunk or less) is sent as bytes, without either.
    """

    def __init__(self, files: MediaFiles, io: str) -> None:
        check_io(io)
        self.files = files
        self.io = io

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        files = self.files
        download, rate = media_query(scope.get("query_string", b""), download=files.allow_download, rate=files.allow_rate)
        names = parse_media_path(scope["path_params"]["path"])
        if names is None:
            raise HTTPException(404, "Not Found")
        pace = effective_rate(rate, files.rate)
        request = Request(scope)
        zerocopy = files.sendfile and pace is None and ZEROCOPY_EXTENSION in scope.get("extensions", ())  # the server sends the file
        decide = lambda rep: plan_for(request, rep, download=download)  # noqa: E731
        async with self.files.planned(names, decide, request.method, read_small=not zerocopy) as (plan, source):
            check_paced_duration(plan, rate, pace, files.max_paced_s)
            raise_if_bodiless(plan)
            set_stream_options(request, stall_timeout_s=files.stall_timeout_s, rate=pace)
            media = MediaFile(source, plan.body, self.files.chunk_size)
            content: bytes | Iterator[bytes] | AsyncIterator[bytes]
            file = None
            if request.method == "HEAD":
                content = b""  # never sent: the response class answers HEAD with the headers alone
            elif isinstance(source, MemorySource):
                content = b"".join(media.iter_chunks())  # the bytes already read: no I/O left
            elif zerocopy and isinstance(source, FileSource):
                content, file = b"", FileBody(source, plan.body)  # never read: the server sends from the file
            else:
                content = media.iter_chunks() if self.io == "sync" else media.aiter_chunks()
            await MediaResponse(content, plan.status, dict(plan.headers), file=file)(scope, receive, send)


_BOOL = TypeAdapter(bool)
_OPTIONAL_INT = TypeAdapter(int | None)


def media_query(query_string: bytes, *, download: bool = True, rate: bool = True) -> tuple[bool, int | None]:
    """``download`` and ``rate`` as FastAPI would validate them: the last value of each wins; else 422.

    A parameter not allowed is ignored, as FastAPI ignores a query parameter no route declares.
    """
    values = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    errors: list[dict[str, Any]] = []
    parsed: dict[str, Any] = {"download": False, "rate": None}
    allowed = {"download": download, "rate": rate}
    for name, adapter in (("download", _BOOL), ("rate", _OPTIONAL_INT)):
        if name not in values or not allowed[name]:
            continue
        try:
            parsed[name] = adapter.validate_python(values[name])
        except ValidationError as exc:
            errors += [{**error, "loc": ("query", name)} for error in exc.errors(include_url=False)]
    if errors:
        raise RequestValidationError(errors)
    return parsed["download"], parsed["rate"]


def media_file(root: str | os.PathLike[str], **options: Any) -> MediaFiles:
    """The dependency for your own routes: ``Depends(media_file("videos"))``; options as for ``MediaFiles``."""
    return MediaFiles(root, **options)


def media_router(planned: MediaFiles, *, io: str = "async") -> APIRouter:
    """The ``/media/{path}`` route, documented from the generator endpoint and served by ``MediaEndpoint``."""

    router = APIRouter()
    add_get_and_head(
        router,
        "/media/{path:path}",
        stream_endpoint(planned, io),
        response_class=MediaResponse,
        responses=MEDIA_RESPONSES,
        summary="A media file, with Range and conditional requests",
        route_class_override=served_by(MediaEndpoint(planned, io)),
    )
    return router
