"""The one path from a byte source to an HTTP answer, shared by /media and the load endpoints.

``answer(...)`` plans the response for a representation, logs it, raises for
every answer without a body (304, 412, 416) and otherwise sets the status and
headers on FastAPI's injected response. ``MediaFile`` then carries the source
and the plan to the generator endpoint, whose only job is to move the bytes;
``stream_endpoint`` makes that endpoint in the sync or the async form.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Depends, HTTPException, Query, Request, Response

from streamer.sources.chunks import CHUNK_SIZE, aiter_chunks, chunk_spans, iter_chunks
from streamer.http.multipart import Segment
from streamer.http.plan import ResponsePlan, plan_response
from streamer.http.representation import Representation, media_type_for
from streamer.web.responses import PACE_KEY, STALL_TIMEOUT_KEY, MediaResponse, Pace
from streamer.web.openapi import BINARY, BUSY, error, route_path
from streamer.sources.base import ByteSource, MemorySource

BOUNDARY_BYTES = 12  # random bytes in a multipart boundary (24 hex digits)
MAX_RATE = 1 << 40  # bytes per second: far above any link, still a number
RATE_QUERY = Query(None, description="Pace the body to this many bytes per second (token bucket).")
access_log = logging.getLogger("streamer.access")  # one line per planned answer: what was asked, what was sent


@dataclass(frozen=True)
class MediaFile:
    """An open byte source and the body to send from it, in chunks of ``chunk_size``."""

    source: ByteSource
    body: tuple[Segment, ...]
    chunk_size: int = CHUNK_SIZE

    def iter_chunks(self) -> Iterator[bytes]:
        return iter_chunks(self.source, chunk_spans(self.body, self.chunk_size))

    def aiter_chunks(self) -> AsyncIterator[bytes]:
        return aiter_chunks(self.source, chunk_spans(self.body, self.chunk_size))


def request_fields(request: Request) -> dict[str, str]:
    """Request fields by lower-case name, repeated field lines joined into one list (RFC 9110 §5.3)."""
    fields: dict[str, str] = {}
    for name, value in request.headers.items():
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return fields


def effective_rate(requested: int | None, *ceilings: float | None) -> float | None:
    """The pace for one stream: the client's ``?rate=`` and every ceiling (``--rate-limit``...), whichever is lowest."""
    if requested is not None and not 1 <= requested <= MAX_RATE:
        raise HTTPException(400, f"rate={requested} is outside the limit of 1..{MAX_RATE} bytes per second")
    rates = [rate for rate in (requested, *ceilings) if rate]
    return min(rates) if rates else None


def set_stream_options(
    request: Request, *, stall_timeout_s: float | None, rate: float | None, prefill: bool = True
) -> None:
    """Per-request settings for the response class, which reads them from the scope."""
    request.scope[STALL_TIMEOUT_KEY] = stall_timeout_s
    request.scope[PACE_KEY] = Pace(rate, prefill) if rate else None


def plan_for(request: Request, rep: Representation, *, download: bool = False) -> ResponsePlan:
    """Plan the answer about ``rep`` and log it. Touches nothing but the request: callable from any thread."""
    fields = request_fields(request)
    several = "," in fields.get("range", "")  # a boundary is only needed for several ranges
    boundary = secrets.token_hex(BOUNDARY_BYTES) if several else "unused"
    plan = plan_response(request.method, fields, rep, attachment=download, boundary=boundary, now=int(time.time()))
    access_log.info(
        "%s %s %d range=%s content-range=%s",
        request.method, route_path(request.scope), plan.status, fields.get("range", "-"), plan.header("content-range") or "-",
    )
    return plan


def raise_if_bodiless(plan: ResponsePlan) -> None:
    """Raise the answer that has no body (304, 412, 416) as an HTTPException, with its headers."""
    if plan.status >= 300:
        raise HTTPException(plan.status, plan.detail or None, headers=dict(plan.headers))


def apply_plan(plan: ResponsePlan, response: Response) -> None:
    """Raise for a bodiless answer (304, 412, 416); otherwise set the status and headers."""
    raise_if_bodiless(plan)
    response.status_code = plan.status
    for name, value in plan.headers:
        response.headers[name] = value


def answer(request: Request, response: Response, rep: Representation, *, download: bool = False) -> ResponsePlan:
    """Plan the answer about ``rep`` and apply it."""
    plan = plan_for(request, rep, download=download)
    apply_plan(plan, response)
    return plan


def bytes_response(
    request: Request,
    data: bytes,
    rep: Representation,
    response_class: type[MediaResponse] = MediaResponse,
    headers: tuple[tuple[str, str], ...] = (),
) -> MediaResponse:
    """A planned answer whose body is ``data`` (made in memory): Range, 304/412/416, HEAD, exact Content-Length.

    ``rep`` must describe ``data``: its size, and a validator or mtime that changes when the bytes do.
    ``headers`` (Cache-Control, Vary...) go on every answer, 304 included.
    """
    if rep.size != len(data):
        raise ValueError(f"the representation says {rep.size} bytes, the body has {len(data)}")
    plan = plan_for(request, rep)
    if headers:
        plan = replace(plan, headers=plan.headers + headers)
    raise_if_bodiless(plan)
    spans = chunk_spans(plan.body if request.method == "GET" else (), max(len(data), 1))
    body = b"".join(iter_chunks(MemorySource(data), spans))  # HEAD: nothing, the headers say it all
    return response_class(body, plan.status, dict(plan.headers))


def planned_bytes(
    request: Request,
    data: bytes,
    *,
    filename: str,
    media_type: str | None = None,
    modified_ns: int | None = None,
    response_class: type[MediaResponse] = MediaResponse,
) -> MediaResponse:
    """Answer a GET or HEAD with ``data`` made in memory, as ``/media`` answers with a file.

    Content-Length, a strong ETag from a hash of the bytes, 304 for If-None-Match
    (raised, as for a file), ranges, HEAD without a body. ``modified_ns`` (default:
    now) is the Last-Modified time; the ETag decides, so a client never keeps stale bytes.
    """
    digest = hashlib.blake2b(data, digest_size=8).hexdigest()
    modified = time.time_ns() if modified_ns is None else modified_ns
    rep = Representation(len(data), modified, media_type or media_type_for(filename), filename, validator=digest)
    return bytes_response(request, data, rep, response_class)


def planned_responses(content: dict[str, Any], what: str) -> dict[int | str, dict[str, Any]]:
    """The answers of a route planned by ``streamer.http.plan``: whole, ranges, conditional, and refusals."""
    return {
        200: {"description": f"The whole {what}.", "content": content},
        206: {
            "description": "One range (Content-Range), or several as multipart/byteranges.",
            "content": {**content, "multipart/byteranges": BINARY},
        },
        304: {"description": "Not modified: If-None-Match or If-Modified-Since matched. No body."},
        400: error("A parameter is outside its limit; the message names it."),
        412: error("If-Match or If-Unmodified-Since failed."),
        416: error("No requested range overlaps the body; Content-Range: bytes */size."),
        **BUSY,
    }


def check_io(io: str) -> None:
    if io not in ("sync", "async"):
        raise ValueError(f"io must be 'sync' or 'async', not {io!r}")


def stream_endpoint(dependency: Callable[..., Any], io: str) -> Callable[..., Any]:
    """A FastAPI generator endpoint streaming what ``dependency`` planned: ``def`` or ``async def``."""

    def stream_sync(media: MediaFile = Depends(dependency)) -> Iterator[bytes]:
        yield from media.iter_chunks()

    async def stream_async(media: MediaFile = Depends(dependency)) -> AsyncIterator[bytes]:
        async for chunk in media.aiter_chunks():
            yield chunk

    check_io(io)
    return stream_sync if io == "sync" else stream_async
