"""Media from an S3 bucket: ``/media/{path}``, ``/api/media`` and ``/readyz`` over an ``S3Bucket``.

The same planned core as a folder: the object's metadata (one cached HEAD) makes the
``Representation``, ``plan_response`` decides, ``MediaResponse`` streams. For a GET
the first read happens before any header is sent, so a replaced object re-plans the
request and a failing store is a 503 with Retry-After, never a 500 or a hang. That read
(and a HEAD to the store when the metadata is not cached) is awaited on the server's loop
with no thread between, and watched: a client that leaves cancels it at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from asyncer import asyncify
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.types import Receive

from streamer.http.paths import parse_media_path
from streamer.http.ranges import ByteRange
from streamer.sources.base import io_limiter
from streamer.sources.chunks import CHUNK_SIZE
from streamer.sources.s3 import ObjectChangedError, S3Bucket, StoreBusyError, StoreUnavailableError
from streamer.sources.s3listing import list_page, parse_probe_identity, representation
from streamer.sources.s3source import S3Source
from streamer.sources.s3reader import open_object
from streamer.media.probe import probe_stream
from streamer.media.probecache import ProbeCache
from streamer.web.dependency import MAX_PACED_S, check_paced_duration
from streamer.web.library import CURSOR_QUERY, LIMIT_QUERY, ORDER_QUERY, PATH_QUERY, SORT_QUERY, Order, Sort, page_json, parse_listing
from streamer.web.media import MEDIA_RESPONSES
from streamer.web.openapi import add_get_and_head, error
from streamer.web.planned import RATE_QUERY, MediaFile, apply_plan, effective_rate, plan_for, raise_if_bodiless
from streamer.web.planned import set_stream_options, stream_endpoint
from streamer.media.thumbcache import ThumbCache
from streamer.web.s3subtitles import add_s3_subtitles
from streamer.web.s3thumbs import add_s3_thumbs
from streamer.web.thumbs import Thumbnails
from streamer.web.responses import CANCEL_READS_KEY, STALL_TIMEOUT_S, MediaResponse, until_disconnect

STORE_RETRY_AFTER_S = 2
PLAN_ATTEMPTS = 2  # a replaced object seen at the first read: plan once more on its new metadata
logger = logging.getLogger("streamer")
T = TypeVar("T")


def store_unavailable(exc: Exception) -> HTTPException:
    logger.warning("object store: %s", exc)
    detail = "The object store is unreachable or failing; try again."
    if isinstance(exc, StoreBusyError):
        detail = "This server has as many requests to the object store in flight as it allows; try again."
    return HTTPException(503, detail, headers={"retry-after": str(STORE_RETRY_AFTER_S), "cache-control": "no-store"})


async def in_thread(bucket_call: Callable[..., T], *args: Any) -> T:
    """A blocking store call in a worker thread; store failures become HTTP answers."""
    try:
        return await asyncify(bucket_call, limiter=io_limiter())(*args)
    except FileNotFoundError as exc:
        raise HTTPException(404, "Not Found") from exc
    except StoreUnavailableError as exc:
        raise store_unavailable(exc) from exc


async def _disconnect(receive: Receive, work: asyncio.Task[Any]) -> None:
    await until_disconnect(receive)
    work.cancel()


async def unless_gone(receive: Receive, work: Awaitable[T]) -> T:
    """``work`` (a store call), cancelled at once if the client disconnects first (then 499, which
    nobody reads); store failures become HTTP answers as in ``in_thread``."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(receive, task))
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if watcher.done() and not watcher.cancelled() and not (current is not None and current.cancelling()):
            raise HTTPException(499, "The client closed the request.") from None
        raise
    except FileNotFoundError as exc:
        raise HTTPException(404, "Not Found") from exc
    except StoreUnavailableError as exc:
        raise store_unavailable(exc) from exc
    finally:
        watcher.cancel()


class S3Files:
    """A FastAPI dependency serving the objects of ``bucket`` like ``MediaFiles`` serves a folder."""

    def __init__(self, bucket: S3Bucket, *, chunk_size: int = CHUNK_SIZE,
                 stall_timeout_s: float | None = STALL_TIMEOUT_S, rate: float | None = None,
                 max_paced_s: float = MAX_PACED_S, probes: ProbeCache | None = None, converts_video: bool = False) -> None:
        self.bucket = bucket
        self.probes = probes
        self.converts_video = converts_video  # the catalog gives videos browsers cannot decode an hls URL
        self.max_paced_s = max_paced_s
        self.chunk_size = chunk_size
        self.stall_timeout_s = stall_timeout_s
        self.rate = rate

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
        key = "/".join(names)
        for attempt in range(PLAN_ATTEMPTS):
            meta = self.bucket.cached_head(key) or await unless_gone(request.receive, self.bucket.ahead(key))
            plan = plan_for(request, representation(meta, names[-1]), download=download)
            raise_if_bodiless(plan)
            check_paced_duration(plan, rate, pace, self.max_paced_s)
            source = S3Source(self.bucket, meta, plan.body)
            first = next((s for s in plan.body if isinstance(s, ByteRange) and s), None)
            if request.method != "GET" or first is None:
                break
            try:  # the first read before any header: its failures can still be answered properly
                await unless_gone(request.receive, source.aread_at(first.start, min(len(first), self.chunk_size)))
                break
            except ObjectChangedError as exc:
                source.close()
                if attempt + 1 == PLAN_ATTEMPTS:
                    raise HTTPException(503, "The object changed while it was read; try again.", {"retry-after": "1"}) from exc
            except BaseException:
                source.close()
                raise
        try:
            apply_plan(plan, response)
            set_stream_options(request, stall_timeout_s=self.stall_timeout_s, rate=pace)
            request.scope[CANCEL_READS_KEY] = source.cancel  # a client that leaves ends the GET in flight at once
            yield MediaFile(source, plan.body, self.chunk_size)
        finally:
            source.close()


def probe_object(bucket: S3Bucket, identity: str) -> dict[str, Any]:
    """The probe record of the object version ``identity`` names, read through ranged GETs (If-Match).

    A store failure or a replaced object raises (the probe is not stored, the entry stays pending);
    a bad file is a record saying so, like a file's.
    """
    meta = parse_probe_identity(identity)
    with open_object(bucket, meta) as file:
        return probe_stream(file, meta.key.rpartition("/")[2])


def s3_probes(bucket: S3Bucket, db_path: Path) -> ProbeCache:
    """Probe records of the bucket's objects by key, size and store ETag: a record is about one version, always current."""
    return ProbeCache(db_path, partial(probe_object, bucket), still_current=lambda key: True)


def s3_router(files: S3Files, *, io: str = "async", thumbnails: Thumbnails | None = None,
              subtitle_cache: ThumbCache | None = None) -> APIRouter:
    """``/media/{path}``, ``/api/media``, ``/readyz`` and, with ``thumbnails`` (whose worker pool extracts
    subtitle streams too) and ``subtitle_cache``, ``/thumbs/{path}`` and ``/subtitles/{path}`` over ``files.bucket``."""
    router = APIRouter()
    if thumbnails is not None:
        add_s3_thumbs(router, files.bucket, thumbnails, in_thread)
        if subtitle_cache is not None:
            add_s3_subtitles(router, files.bucket, thumbnails.pool, subtitle_cache, in_thread)
    responses = {**MEDIA_RESPONSES, 503: error("The object store is unreachable or failing, the object changed, "
                                               "or --max-streams is reached; retry after Retry-After.")}
    add_get_and_head(router, "/media/{path:path}", stream_endpoint(files, io), response_class=MediaResponse,
                     responses=responses, summary="A media object from the bucket, with Range and conditional requests")

    async def api_media(
        path: str = PATH_QUERY,
        limit: int = LIMIT_QUERY,
        cursor: str | None = CURSOR_QUERY,
        sort: Sort = SORT_QUERY,
        order: Order = ORDER_QUERY,
    ) -> dict[str, Any]:
        names, after = parse_listing(path, cursor, sort, order)
        page = await in_thread(list_page, files.bucket, names, after, limit, sort, order)
        return await page_json(page, files.probes, files.converts_video)

    async def readyz() -> str:
        await in_thread(files.bucket.check)
        return "ok"

    add_get_and_head(router, "/api/media", api_media, summary="One page of a bucket folder's listing",
                     responses={400: error("The cursor is not one this server gave out."), 404: error("No such folder."),
                                503: error("The object store is unreachable.")})
    add_get_and_head(router, "/readyz", readyz, response_class=PlainTextResponse,
                     responses={503: error("The object store is unreachable.")})
    return router
