"""Who may read what: the library token, signed links, and the operator routes, checked before anything else runs.

``AccessMiddleware`` is pure ASGI and decides from the request line and headers
alone, before routing, so a refusal says nothing about what exists on disk: a bad
or tampered link is 403, an expired one 410, a missing credential 401, whatever
the path names. ``/healthz`` is always open. A signed link's token is moved from
the path into ``root_path``, so the routes, the page and playlists below it work
unchanged and their relative URLs keep the token. Failed checks are counted and,
per client address, rate-limited (429) without a lockout that outlives the bucket.
"""

from __future__ import annotations

import hmac
import logging
import time
from email.utils import formatdate
from collections import OrderedDict
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl

from prometheus_client import Counter
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamer.http.signing import Answer, Link, answer_for, check_grace, format_grace, redact_target, verify_token
from streamer.web.openapi import route_path

TOKEN_COOKIE = "streamer_token"
GRACE_COOKIE = "streamer_grace"
LINK_GRACE_S = 4 * 3600  # a player that opened a link in time may keep seeking this long past its expiry
FAILURE_BURST = 20  # failed checks a client address may make at once...
FAILURE_REFILL_S = 3.0  # ...and then one more every this many seconds
TRACKED_CLIENTS = 10_000
VERIFIED_LINKS = 4096  # links whose MAC was checked, kept by token (only genuine ones: a forger fills nothing)
OPERATOR_PREFIXES = ("/metrics", "/debug/")
ALWAYS_OPEN = frozenset({"/healthz"})

REFUSALS = Counter("streamer_access_refusals", "Requests refused by access control, by reason.", ["reason"])


@dataclass
class FailureLimiter:
    """A token bucket per client address, spent only by failed checks."""

    burst: int = FAILURE_BURST
    refill_s: float = FAILURE_REFILL_S
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def _level(self, client: str, now: float) -> float:
        level, at = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), level + (now - at) / self.refill_s)

    def limited(self, client: str, now: float) -> bool:
        return self._level(client, now) < 1.0

    def fail(self, client: str, now: float) -> None:
        self._buckets[client] = (self._level(client, now) - 1.0, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > TRACKED_CLIENTS:
            self._buckets.popitem(last=False)


@dataclass(frozen=True)
class AccessPolicy:
    """``mode`` is ``open`` or ``token``; ``operators_open``: /metrics and /debug/* need no token."""

    mode: str
    keys: dict[str, bytes]
    library_token: str
    operators_open: bool
    grace_s: int = LINK_GRACE_S


def _cookies(scope: Scope) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope["headers"]:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no credential
                continue
    return jar


def _header(scope: Scope, wanted: bytes) -> str | None:
    return next((value.decode("latin-1") for name, value in scope["headers"] if name == wanted), None)


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


class AccessMiddleware:
    def __init__(self, app: ASGIApp, policy: AccessPolicy, limiter: FailureLimiter | None = None) -> None:
        self.app = app
        self.policy = policy
        self.limiter = limiter or FailureLimiter()
        self._verified: dict[str, tuple[Link, tuple[bytes, bytes]]] = {}  # token -> link, grace cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_path(scope)
        if route in ALWAYS_OPEN:
            await self.app(scope, receive, send)
        elif route.startswith("/s/"):
            await self._signed(scope, receive, send, route)
        else:
            await self._library(scope, receive, send, route)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, reason: str, detail: str,
                      *, failed: bool = True, headers: dict[str, str] | None = None) -> None:
        REFUSALS.labels(reason).inc()
        if failed:
            self.limiter.fail(_client(scope), time.monotonic())
        await JSONResponse({"detail": detail}, status, headers=headers)(scope, receive, send)

    def _limited(self, scope: Scope) -> bool:
        return self.limiter.limited(_client(scope), time.monotonic())

    async def _too_many(self, scope: Scope, receive: Receive, send: Send) -> None:
        REFUSALS.labels("rate-limited").inc()
        retry = str(int(FAILURE_REFILL_S) + 1)
        body = {"detail": "Too many failed attempts from this address; wait a few seconds."}
        await JSONResponse(body, 429, headers={"retry-after": retry})(scope, receive, send)

    async def _signed(self, scope: Scope, receive: Receive, send: Send, route: str) -> None:
        token, _, rest = route[len("/s/") :].partition("/")
        now = time.time()
        known = self._verified.get(token)
        if known is None:
            if self._limited(scope):
                return await self._too_many(scope, receive, send)
            link = verify_token(token, self.policy.keys, now)
            if link is None:
                return await self._refuse(scope, receive, send, 403, "bad-signature", "This link is not valid.")
            known = self._remember(token, link, scope)
        link, cookie = known
        query_path = dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("path") if rest == "api/media" else None
        answer = answer_for(link, "/" + rest, query_path, now)
        if answer is Answer.OUTSIDE:
            return await self._refuse(scope, receive, send, 403, "outside-link", "This link does not open this address.")
        if answer is Answer.EXPIRED:
            grace = _cookies(scope).get(GRACE_COOKIE)
            if grace is None or not check_grace(grace.value, self.policy.keys[link.kid], token, now):
                return await self._refuse(scope, receive, send, 410, "expired", "This link has expired.", failed=False)
        inner = {**scope, "root_path": scope.get("root_path", "") + "/s/" + token, "streamer.access": "link"}
        await self.app(inner, receive, send if answer is Answer.EXPIRED else _with_headers(send, [cookie]))

    def _remember(self, token: str, link: Link, scope: Scope) -> tuple[Link, tuple[bytes, bytes]]:
        """A verified link and its grace cookie, kept so the next request under it costs neither MAC."""
        until = link.expires + self.policy.grace_s
        value = format_grace(self.policy.keys[link.kid], token, until)
        path = scope.get("root_path", "") + "/s/" + token + "/"
        expires = formatdate(until, usegmt=True)
        cookie = f"{GRACE_COOKIE}={value}; Path={path}; Expires={expires}; HttpOnly; SameSite=Lax{_secure(scope)}"
        known = (link, (b"set-cookie", cookie.encode("latin-1")))
        self._verified[token] = known
        while len(self._verified) > VERIFIED_LINKS:
            self._verified.pop(next(iter(self._verified)))
        return known

    async def _library(self, scope: Scope, receive: Receive, send: Send, route: str) -> None:
        operator = route.startswith(OPERATOR_PREFIXES)
        if self.policy.mode == "open" and (not operator or self.policy.operators_open):
            return await self.app(scope, receive, send)
        presented = self._presented(scope)
        if presented is not None and hmac.compare_digest(presented.encode(), self.policy.library_token.encode()):
            return await self._exchange_or_pass(scope, receive, send, route)
        if presented is not None and self._limited(scope):
            return await self._too_many(scope, receive, send)
        what = "the operator routes" if operator else "this library"
        detail = (f"A token is needed for {what}: open the address streamer printed at start-up, "
                  "or send Authorization: Bearer TOKEN.")
        await self._refuse(scope, receive, send, 401, "no-token" if presented is None else "bad-token", detail,
                           failed=presented is not None, headers={"www-authenticate": "Bearer"})

    def _presented(self, scope: Scope) -> str | None:
        """The credential the request carries: a Bearer token, the cookie, or ``?token=``; ``None`` if none."""
        authorization = _header(scope, b"authorization")
        if authorization is not None and authorization[:7].lower() == "bearer ":
            return authorization[7:].strip()
        cookie = _cookies(scope).get(TOKEN_COOKIE)
        if cookie is not None:
            return cookie.value
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        return query.get("token")

    async def _exchange_or_pass(self, scope: Scope, receive: Receive, send: Send, route: str) -> None:
        """``?token=`` on the page: set the cookie and drop the token from the address bar."""
        query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k != "token"]
        if route == "/" and len(query) != len(parse_qsl(scope.get("query_string", b"").decode("latin-1"))):
            response = RedirectResponse(scope.get("root_path", "") + "/", status_code=303)
            cookie = f"{TOKEN_COOKIE}={self.policy.library_token}; Path={scope.get('root_path', '') or '/'}; HttpOnly; SameSite=Lax"
            response.raw_headers.append((b"set-cookie", (cookie + _secure(scope)).encode("latin-1")))
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "-"


def _secure(scope: Scope) -> str:
    return "; Secure" if scope.get("scheme") == "https" else ""


class RedactTargets(logging.Filter):
    """Keeps link tokens and ``?token=`` out of uvicorn's access log (its third argument is the target)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


def redact_access_log() -> None:
    """Install ``RedactTargets`` on uvicorn's access logger, once."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTargets) for f in logger.filters):
        logger.addFilter(RedactTargets())
