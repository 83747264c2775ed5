"""Endpoints for load testers, on the same core as /media: deterministic bytes of any size.

``/bytes/{n}`` and ``/range/{n}`` go through the same planning as files (Range,
If-Range, conditional requests); ``/stream-bytes/{n}`` is chunked with one HTTP
chunk per yielded chunk; ``/drip`` waits, then paces its bytes over a duration.
Every knob is checked against a limit before anything is sent, and a value
outside gets a 400 that names the limit: nothing is capped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from fastapi import APIRouter, HTTPException, Query, Request, Response

from streamer.sources.chunks import MAX_CHUNK_SIZE
from streamer.http.ranges import ByteRange
from streamer.http.representation import OCTET_STREAM, Representation
from streamer.web.direct import DirectEndpoint
from streamer.web.front import served_by
from streamer.web.responses import MediaResponse
from streamer.web.openapi import BINARY, BUSY, add_get_and_head
from streamer.web.planned import (
    RATE_QUERY,
    MediaFile,
    answer,
    effective_rate,
    planned_responses,
    set_stream_options,
    stream_endpoint,
)
from streamer.sources.synthetic import ALPHABET, DEFAULT_SEED, DRIP_BYTE, MAX_SEED, PatternSource, seeded_pattern

SYNTHETIC_MTIME_NS = 1_700_000_000 * 10**9  # a fixed Last-Modified: the content never changes
NO_BODY_STATUSES = (204, 205, 304)


@dataclass(frozen=True)
class LoadLimits:
    max_bytes: int
    max_duration: float
    chunk_size: int  # the default when a request names none
    stall_timeout_s: float | None
    rate_limit: float | None


def check(name: str, value: float, low: float, high: float, unit: str, option: str = "") -> None:
    """400 naming the limit when ``value`` is outside ``low..high``."""
    if not low <= value <= high:
        where = f" ({option})" if option else ""
        raise HTTPException(400, f"{name}={value} is outside the limit of {low}..{high} {unit}{where}")


def load_router(limits: LoadLimits, io: str) -> APIRouter:
    """The load-testing routes, served by the sync or the async generator endpoint."""

    def checked_chunk_size(n: int, chunk_size: int | None, seed: int | None = None) -> int:
        size = limits.chunk_size if chunk_size is None else chunk_size
        check("n", n, 0, limits.max_bytes, "bytes", "--max-bytes")
        check("chunk_size", size, 1, MAX_CHUNK_SIZE, "bytes")
        if seed is not None:
            check("seed", seed, 0, MAX_SEED, "")
        return size

    def pace(request: Request, rate: int | None, *ceilings: float | None, prefill: bool = True) -> None:
        paced = effective_rate(rate, limits.rate_limit, *ceilings)
        set_stream_options(request, stall_timeout_s=limits.stall_timeout_s, rate=paced, prefill=prefill)

    async def seeded_bytes(
        n: int, request: Request, response: Response,
        seed: int = Query(DEFAULT_SEED, description="Selects the byte stream; see the README for the generator."),
        chunk_size: int | None = None, rate: int | None = RATE_QUERY,
    ) -> MediaFile:
        size = checked_chunk_size(n, chunk_size, seed)
        pace(request, rate)
        rep = Representation(n, SYNTHETIC_MTIME_NS, OCTET_STREAM, f"bytes-{n}.bin", validator=f"s{seed:x}")
        plan = answer(request, response, rep)
        return MediaFile(PatternSource(seeded_pattern(seed)), plan.body, size)

    async def chunked_bytes(
        n: int, request: Request, response: Response,
        seed: int = DEFAULT_SEED, chunk_size: int | None = None, rate: int | None = RATE_QUERY,
    ) -> MediaFile:
        size = checked_chunk_size(n, chunk_size, seed)
        pace(request, rate)
        response.headers["x-content-type-options"] = "nosniff"  # no Content-Length: sent chunked
        return MediaFile(PatternSource(seeded_pattern(seed)), (ByteRange(0, n),) if n else (), size)

    async def alphabet(
        n: int, request: Request, response: Response,
        duration: float = Query(0, description="Spread the body over this many seconds."),
        chunk_size: int | None = None, rate: int | None = RATE_QUERY,
    ) -> MediaFile:
        size = checked_chunk_size(n, chunk_size)
        check("duration", duration, 0, limits.max_duration, "seconds", "--max-duration")
        plan = answer(request, response, Representation(n, SYNTHETIC_MTIME_NS, OCTET_STREAM, f"range-{n}.txt", validator="abc"))
        pace(request, rate, plan.content_length / duration if duration and plan.content_length else None)
        return MediaFile(PatternSource(ALPHABET), plan.body, size)

    async def drip(
        request: Request, response: Response,
        numbytes: int = 10, duration: float = 2, delay: float = 0, code: int = 200, rate: int | None = RATE_QUERY,
    ) -> MediaFile:
        check("numbytes", numbytes, 0, limits.max_bytes, "bytes", "--max-bytes")
        check("duration", duration, 0, limits.max_duration, "seconds", "--max-duration")
        check("delay", delay, 0, limits.max_duration, "seconds", "--max-duration")
        check("code", code, 200, 599, "")
        if code in NO_BODY_STATUSES and numbytes:
            raise HTTPException(400, f"code={code} carries no body: use numbytes=0")
        # Evenly over the duration: the first byte, too, waits its turn (no prefill).
        pace(request, rate, numbytes / duration if duration and numbytes else None, prefill=False)
        await anyio.sleep(delay)  # before the status line: nothing is sent until the delay is over
        response.status_code = code
        response.headers["content-length"] = str(numbytes)
        return MediaFile(PatternSource(DRIP_BYTE), (ByteRange(0, numbytes),) if numbytes else (), limits.chunk_size)

    planned = planned_responses({OCTET_STREAM: BINARY}, "body")
    streamed = {200: {"description": "The body.", "content": {OCTET_STREAM: BINARY}}, 400: planned[400], **BUSY}
    dripped = {  # with a "default", FastAPI leaves out its own 422
        "default": {"description": "The status asked for with code=.", "content": {OCTET_STREAM: BINARY}},
        422: {"description": "Validation Error",
              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}},
        **streamed,
    }
    router = APIRouter(tags=["load testing"])
    add_get_and_head(router, "/bytes/{n}", stream_endpoint(seeded_bytes, io), response_class=MediaResponse,
                     responses=planned, summary="n deterministic bytes with Content-Length, Range and conditional requests",
                     route_class_override=served_by(DirectEndpoint(seeded_bytes, io)))
    router.add_api_route("/stream-bytes/{n}", stream_endpoint(chunked_bytes, io), methods=["GET"],
                         response_class=MediaResponse, responses=streamed, summary="n deterministic bytes, chunked",
                         route_class_override=served_by(DirectEndpoint(chunked_bytes, io)))
    add_get_and_head(router, "/range/{n}", stream_endpoint(alphabet, io), response_class=MediaResponse,
                     responses=planned, summary="n bytes of a..z, seekable, optionally spread over a duration",
                     route_class_override=served_by(DirectEndpoint(alphabet, io)))
    router.add_api_route("/drip", stream_endpoint(drip, io), methods=["GET"], response_class=MediaResponse,
                         responses=dripped, summary="After a delay, numbytes spread evenly over a duration",
                         route_class_override=served_by(DirectEndpoint(drip, io)))
    return router
