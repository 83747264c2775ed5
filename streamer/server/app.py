"""create_app(settings) -> FastAPI: wiring only.

Routes: ``/`` (the library page, with ``/favicon.ico`` and ``/static/{name}``), ``/api/media`` (the catalog),
``/media/{path}`` and ``/thumbs/{path}`` (GET, HEAD), ``/hls/{path}/index.m3u8|init.mp4|{n}.m4s``,
``/subtitles/{path}`` (WebVTT), ``/healthz``, ``/debug/lag``, ``/debug/runtime``, ``/metrics``, the
load-testing routes; anything else is 404. The app runs a loop-lag monitor for its lifetime, and
kills and reaps its media worker processes (started on demand) when it stops.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from streamer.media.probecache import ProbeCache
from streamer.sources.filecache import OpenFileCache
from streamer.server.lag import LagMonitor
from streamer.server.lifespan import running
from streamer.web.front import FrontDoor
from streamer.web.limits import MAX_FIELD_BYTES, MAX_TARGET_BYTES, RequestLimitsMiddleware
from streamer.web.metrics import LOOP_LAG, OPEN_FDS, MetricsMiddleware, count_open_fds, exposition, resident_bytes
from streamer.web.responses import StreamSlots
from streamer.web.openapi import add_get_and_head, error
from streamer.web.docs import docs_router
from streamer.web.library import catalog_router
from streamer.web.page import page_router
from streamer.web.subtitles import SUBTITLE_CACHE_BYTES, EmbeddedSubtitles, subtitles_router
from streamer.web.load import LoadLimits, load_router
from streamer.web.hls import HlsFiles, hls_router
from streamer.web.media import MediaFiles, media_router
from streamer.web.s3hls import BucketVideos
from streamer.web.s3media import S3Files, s3_probes, s3_router
from streamer.sources.s3 import S3Bucket
from streamer.web.thumbs import Thumbnails, thumbs_router
from streamer.media.thumbcache import ThumbCache
from streamer.media.workers import WorkerPool
from streamer.server.keys import default_secret_file, load_keys
from streamer.server.settings import Settings
from streamer.web.access import AccessMiddleware, AccessPolicy, redact_access_log
from streamer.sources.base import io_limiter

if TYPE_CHECKING:
    from streamer.media.hlsencode import VideoEncoding

ALLOWED_METHODS = ("GET", "HEAD")
CORS_MAX_AGE_S = 600  # browsers may cache a preflight answer this long
FD_SAMPLE_INTERVAL_S = 5.0
CORS_EXPOSE = ["Content-Range", "Content-Length", "Accept-Ranges", "ETag", "Last-Modified", "Content-Disposition"]
CORS_REQUEST_HEADERS = ["Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"]


def allowed_methods(routes: list[Route], scope: Scope) -> list[str]:
    """Every method some route answers at this path (RFC 9110 §10.2.1), in a stable order."""
    methods: set[str] = set()
    for route in routes:
        match, _ = route.matches({**scope, "method": ""})
        if match is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):
        raise TypeError(f"not an HTTP error: {exc!r}")
    if exc.status_code == 405:  # Starlette names only the first route's methods, joined from a set
        methods = allowed_methods(request.app.state.method_routes, request.scope)
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
    return await http_exception_handler(request, exc)


async def sample_open_fds() -> None:
    """Keep this worker's descriptor gauge fresh, so a scrape of any worker sees every worker's."""
    while True:
        OPEN_FDS.set(await anyio.to_thread.run_sync(count_open_fds))
        await anyio.sleep(FD_SAMPLE_INTERVAL_S)


def access_policy(settings: Settings) -> AccessPolicy:
    """Who may read what (``--access``), with the keys from the secret file, made if it is missing."""
    keys = load_keys(settings.secret_file or default_secret_file())
    redact_access_log()
    mode = settings.access_mode
    return AccessPolicy(mode, keys.keys, keys.library_token, operators_open=mode == "open" and settings.loopback)


def video_encoding(settings: Settings) -> VideoEncoding | None:
    """What video browsers cannot decode becomes with ``--transcode on``; ``None`` when off (PyAV loaded only if on)."""
    if settings.transcode != "on":
        return None
    from streamer.media.hlsencode import VideoEncoding

    return VideoEncoding()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The streamer application; with no settings, they come from ``STREAMER_*`` variables."""
    settings = settings if settings is not None else Settings.from_env()
    lag = LagMonitor(on_sample=LOOP_LAG.observe)
    files = MediaFiles(
        settings.media_dir,
        chunk_size=settings.chunk_size,
        stall_timeout_s=settings.stall_timeout,
        rate=settings.rate_limit or None,
        allow_rate=True,
        allow_download=True,
        max_paced_s=settings.max_duration,
        sendfile=settings.sendfile == "on",
    )
    slots = StreamSlots(settings.max_streams)
    pool = WorkerPool(settings.media_workers)  # no process until the first job
    thumbnails = Thumbnails(settings.media_dir, ThumbCache(settings.cache_dir / "thumbs", settings.thumb_cache_size), pool)
    probes = ProbeCache(settings.cache_dir / "probes.sqlite3")  # the database opens at the first listing
    limits = LoadLimits(
        settings.max_bytes, settings.max_duration, settings.chunk_size, settings.stall_timeout, settings.rate_limit or None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if bucket is not None:  # GETs to the store run on this loop: awaited in place, no thread between
            bucket.use_loop(asyncio.get_running_loop())
        if settings.open_files:  # made here, not in create_app: an app never started holds no inotify
            files.cache = OpenFileCache.create(max_entries=settings.open_files, inactive_s=settings.open_file_idle)
        # running() closes the files of streams cancelled at shutdown, and the cache, after its sweeper stopped
        async with running(files, lag), anyio.create_task_group() as tg:
            tg.start_soon(sample_open_fds)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
                await pool.aclose()
                hls_files.close()
        await probes.aclose()  # queued probes stop; a running one finishes its file (bounded by the probe timeout)
        if s3_probes_cache is not None:
            await s3_probes_cache.aclose()
        if bucket is not None:  # after its probes: a running one still reads
            bucket.close()

    # No redirect from /media to /media/ (which is a 404 anyway): anything unrouted is 404.
    refused = {  # by RequestLimitsMiddleware, before any route
        414: error(f"The request target is longer than {MAX_TARGET_BYTES} bytes."),
        431: error(f"A header field is longer than {MAX_FIELD_BYTES} bytes, or there are too many."),
    }
    app = FastAPI(
        title="streamer", summary="Chunked media streaming", lifespan=lifespan, redirect_slashes=False, responses=refused,
        docs_url=None,  # docs_router's /docs instead: FastAPI's loads Swagger UI from a CDN
        # streamer counts its own (/metrics); FastAPI's OpenTelemetry hooks would look up the
        # global providers on every request (about 3 % of a small request's time) to find none
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.lag = lag
    app.state.media_pool = pool
    app.state.probes = probes
    bucket = S3Bucket(settings.s3_url, settings.s3_endpoint or None, settings.s3_max_gets) if settings.s3_url else None
    s3_probes_cache = s3_probes(bucket, settings.cache_dir / "s3probes.sqlite3") if bucket is not None else None
    s3 = S3Files(bucket, chunk_size=settings.chunk_size, stall_timeout_s=settings.stall_timeout, rate=settings.rate_limit or None,
                 max_paced_s=settings.max_duration, probes=s3_probes_cache, converts_video=settings.transcode == "on") if bucket is not None else None
    app.state.hls = hls_files = HlsFiles(  # a bucket's videos when serving one, else the folder's
        settings.media_dir if bucket is None else None, settings.cache_dir, pool=pool,
        audio_cache_size=settings.hls_audio_cache_size, opener=BucketVideos(bucket) if bucket is not None else None,
        encoding=video_encoding(settings), encode_jobs=settings.transcode_jobs,
        video_cache_size=settings.transcode_cache_size,
    )
    routers = [
        page_router(),
        *([s3_router(s3, io=settings.io, thumbnails=thumbnails, subtitle_cache=ThumbCache(
            settings.cache_dir / "subtitles", SUBTITLE_CACHE_BYTES))] if s3 is not None else []),  # first: its /media and /api/media win
        media_router(files, io=settings.io),
        thumbs_router(thumbnails),
        hls_router(hls_files, io=settings.io),
        catalog_router(settings.media_dir, probes, converts_video=settings.transcode == "on"),
        subtitles_router(settings.media_dir, EmbeddedSubtitles(
            settings.media_dir, pool, ThumbCache(settings.cache_dir / "subtitles", SUBTITLE_CACHE_BYTES))),
        *([load_router(limits, settings.io)] if settings.load_testing_on else []),
        docs_router(app.title),
    ]
    for router in routers:
        app.include_router(router)

    async def healthz() -> str:
        return "ok"

    async def debug_lag() -> dict[str, float]:
        return asdict(lag.snapshot())

    async def debug_runtime() -> dict[str, int]:
        """What this worker holds now: for leak checks after a storm of aborted streams."""
        fds, rss = await anyio.to_thread.run_sync(lambda: (count_open_fds(), resident_bytes()))
        return {
            "tasks": len(asyncio.all_tasks()),
            "threads": threading.active_count(),
            "io_threads_busy": int(io_limiter().borrowed_tokens),
            "streams": slots.in_use,
            "cached_files": len(files.cache) if files.cache is not None else 0,
            "probes_inflight": probes.inflight,
            "open_fds": fds,
            "rss_bytes": rss,
            "media_workers": len(pool.processes),
            "media_jobs": pool.jobs_started,
            **({"store_requests_in_flight": bucket.in_flight, "store_gets_in_flight": bucket.gets_in_flight} if bucket is not None else {}),
        }

    add_get_and_head(app.router, "/healthz", healthz, response_class=PlainTextResponse)
    def metrics() -> Response:  # a def endpoint: the scrape reads files, so it runs in a worker thread
        body, media_type = exposition()
        return Response(body, media_type=media_type)

    add_get_and_head(app.router, "/debug/lag", debug_lag)
    add_get_and_head(app.router, "/debug/runtime", debug_runtime)
    add_get_and_head(app.router, "/metrics", metrics, include_in_schema=False)

    app.state.method_routes = [r for r in [*app.routes, *(r for rt in routers for r in rt.routes)] if isinstance(r, Route)]
    app.add_exception_handler(StarletteHTTPException, _http_error)
    if settings.front_door == "on":  # innermost of streamer's middlewares: all of them apply to what it serves
        app.add_middleware(FrontDoor, routes=app.state.method_routes, handlers=app.exception_handlers)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=list(ALLOWED_METHODS),
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSE,
        max_age=CORS_MAX_AGE_S,
    )
    app.add_middleware(AccessMiddleware, policy=access_policy(settings))
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestLimitsMiddleware, slots=slots)
    return app
