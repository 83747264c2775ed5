"""Request limits checked before routing: over-long targets and header fields, and bad Host framing, are refused.

A pure ASGI middleware, so nothing else runs for a request it refuses. It also
puts the process's ``StreamSlots`` in every request's scope, for the response
class to take one of before it streams a body (``--max-streams``). The
bounds follow nginx's defaults (8 KiB per line), which every real player and
downloader stays well within.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from streamer.web.responses import SLOTS_KEY, StreamSlots

MAX_TARGET_BYTES = 8 * 1024
MAX_FIELD_BYTES = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADER_FIELDS = 100


def check_request_size(raw_path: bytes, query: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
    """``(status, message)`` for a request over the limits, else ``None``."""
    if len(raw_path) + len(query) > MAX_TARGET_BYTES:
        return 414, f"Request target longer than {MAX_TARGET_BYTES} bytes."
    if len(headers) > MAX_HEADER_FIELDS:
        return 431, f"More than {MAX_HEADER_FIELDS} header fields."
    longest = max((len(name) + len(value) for name, value in headers), default=0)
    if longest > MAX_FIELD_BYTES:
        return 431, f"A header field is longer than {MAX_FIELD_BYTES} bytes."
    if sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES:
        return 431, f"Header fields total more than {MAX_HEADER_BYTES} bytes."
    return None


def check_host(http_version: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
    """RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, or any request with more than one."""
    hosts = sum(1 for name, _ in headers if name.lower() == b"host")
    if hosts > 1:
        return 400, "More than one Host header field."
    if hosts == 0 and http_version == "1.1":
        return 400, "An HTTP/1.1 request must have a Host header field."
    return None


class RequestLimitsMiddleware:
    """Refuses over-long requests and bad Host framing, and hands every request the process's stream slots."""

    def __init__(self, app: ASGIApp, slots: StreamSlots | None = None) -> None:
        self.app = app
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            refused = check_request_size(scope.get("raw_path") or b"", scope.get("query_string", b""), headers)
            refused = refused or check_host(scope.get("http_version", "1.1"), headers)
            if refused is not None:
                status, message = refused
                await JSONResponse({"detail": message}, status_code=status)(scope, receive, send)
                return
            if self.slots is not None:
                scope[SLOTS_KEY] = self.slots
        await self.app(scope, receive, send)
