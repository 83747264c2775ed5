"""plan_response: the one place where HTTP policy for a file is decided.

No I/O in this module. Go's serveContent without the I/O: from the method, the
request headers and the representation it returns a frozen plan (status,
headers, body segments), and the shells carry it out without deciding anything.
Local choices: an invalid Range is ignored (RFC 9110 §14.2 allows it); Range
on an empty file gets 200, as in Go; more than ``max_ranges`` ranges after
coalescing, or a multipart body over twice the file, gets the whole file (200);
coalesced parts are sent in the order they were first requested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streamer.http.conditional import Cond, Outcome, check_if_range, evaluate_preconditions, format_http_date
from streamer.http.multipart import Segment, multipart_content_type, multipart_segments, segment_length
from streamer.http.ranges import (
    ByteRange,
    ParsedRange,
    Unsatisfiable,
    coalesce,
    format_content_range,
    in_request_order,
    parse_range,
)
from streamer.http.representation import Representation, format_content_disposition

MAX_RANGES = 16
MULTIPART_MAX_RATIO = 2  # a multipart body may be at most this many times the file

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ResponsePlan:
    status: int
    headers: Headers
    body: tuple[Segment, ...] = ()
    detail: str = ""

    @property
    def content_length(self) -> int:
        return segment_length(self.body)

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


def _validators(rep: Representation, mtime: int) -> Headers:
    return (("etag", str(rep.etag)), ("last-modified", format_http_date(mtime)))


def _select_ranges(
    method: str, headers: Mapping[str, str], rep: Representation, mtime: int, max_ranges: int
) -> ParsedRange:
    header = headers.get("range")
    # RFC 9110 §14.2: Range is defined for GET only; If-Range only qualifies a Range.
    if header is None or method != "GET" or rep.size == 0:
        return None
    if check_if_range(headers.get("if-range"), rep.etag, mtime) is Cond.FALSE:
        return None
    parsed = parse_range(header, rep.size)
    if not isinstance(parsed, list):
        return parsed
    merged = coalesce(parsed)
    return in_request_order(merged, parsed) if len(merged) <= max_ranges else None


def plan_response(
    method: str,
    headers: Mapping[str, str],
    rep: Representation,
    *,
    attachment: bool = False,
    boundary: str = "streamer-boundary",
    max_ranges: int = MAX_RANGES,
    now: int | None = None,
) -> ResponsePlan:
    """Plan the answer to a GET or HEAD of ``rep``; ``headers`` is looked up by lower-case name.

    ``now`` (epoch seconds) is the time of the response: a modification time in the
    future is replaced by it, as RFC 9110 §8.8.2.1 requires of Last-Modified.
    """
    if method not in ("GET", "HEAD"):
        raise ValueError(f"plan_response handles GET and HEAD, not {method}")
    mtime = rep.mtime if now is None else min(rep.mtime, now)
    outcome = evaluate_preconditions(headers, rep.etag, mtime)
    if outcome is Outcome.PRECONDITION_FAILED:
        return ResponsePlan(412, _validators(rep, mtime), detail="Precondition failed: the file does not match.")
    if outcome is Outcome.NOT_MODIFIED:
        return ResponsePlan(304, _validators(rep, mtime))
    common = (
        ("accept-ranges", "bytes"),
        *_validators(rep, mtime),
        ("content-disposition", format_content_disposition(rep.filename, attachment=attachment)),
        ("x-content-type-options", "nosniff"),
    )
    ranges = _select_ranges(method, headers, rep, mtime, max_ranges)
    if isinstance(ranges, Unsatisfiable):
        detail = f"Range not satisfiable: the file is {rep.size} bytes."
        return ResponsePlan(416, (("content-range", format_content_range(None, rep.size)),), detail=detail)
    if ranges and len(ranges) == 1:
        only = ranges[0]
        part = (("content-type", rep.media_type), ("content-range", format_content_range(only, rep.size)))
        return _with_length(206, common + part, (only,))
    if ranges:
        body = multipart_segments(ranges, rep.size, rep.media_type, boundary)
        if segment_length(body) <= MULTIPART_MAX_RATIO * rep.size:
            return _with_length(206, common + (("content-type", multipart_content_type(boundary)),), body)
    whole = (ByteRange(0, rep.size),) if rep.size else ()
    return _with_length(200, common + (("content-type", rep.media_type),), whole)


def _with_length(status: int, headers: Headers, body: tuple[Segment, ...]) -> ResponsePlan:
    return ResponsePlan(status, headers + (("content-length", str(segment_length(body))),), body)
