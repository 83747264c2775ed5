"""Request limits checked before routing: over-long targets and header fields are refused.

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


class RequestLimitsMiddleware:
    """Refuses over-long requests, and hands every request the process's stream slots."""

    def __init__(self, app: ASGIApp, slots: StreamSlots | None = None) -> None:
        self.app = app
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = check_request_size(scope.get("raw_path") or b"", scope.get("query_string", b""), scope["headers"])
            if refused is not None:
                status, message = refused
                await JSONResponse({"detail": message}, status_code=status)(scope, receive, send)
                return
            if self.slots is not None:
                scope[SLOTS_KEY] = self.slots
        await self.app(scope, receive, send)
