"""Signed links: who may read what, decided from the link alone. No I/O in this module.

A link token is ``KID.EXPIRES.SCOPE.MAC``: a key id, the expiry in Unix seconds, the
scope (a file path, or a folder path ending in ``/``, ``/`` for the whole library)
in unpadded base64url, and the first 128 bits of HMAC-SHA256 over all three, in
base64url. It travels in the path (``/s/TOKEN/...``), so every URL relative to a
signed page or playlist carries it and caches see one URL per resource. MACs are
compared in constant time. ``resource_of`` maps a route to the media path it reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import Enum

MAC_BYTES = 16
MAX_TOKEN_CHARS = 2048
MAX_LINK_TTL_S = 366 * 24 * 3600  # a link's lifetime is at most a year
CLOCK_SKEW_S = 60  # a link "from the future" by more than this was not made by a clock we trust
_KID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_DIGITS = re.compile(r"^[0-9]{1,12}$")
_B64 = re.compile(r"^[A-Za-z0-9_-]*$")
_SIGNED_SEGMENT = re.compile(r"/s/[^/?#]+")
_TOKEN_PARAMETER = re.compile(r"([?&]token=)[^&#]*")
_HLS_LEAF = re.compile(r"^(?:index\.m3u8|init\.mp4|[0-9]{1,9}\.m4s)$")
PAGE_ROUTES = frozenset({"/", "/favicon.ico"})
PAGE = "\x00page"  # what the page and its assets read: no file name holds a NUL


class Check(Enum):
    VALID = "valid"
    EXPIRED = "expired"  # a genuine link whose time is over
    INVALID = "invalid"  # not made with any key we hold, malformed, or from too far in the future


@dataclass(frozen=True)
class Link:
    kid: str
    expires: int
    scope: str
    mac: str

    @property
    def folder(self) -> bool:
        return self.scope.endswith("/")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes | None:
    if not _B64.match(text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def link_mac(key: bytes, kid: str, expires: int, scope: str) -> str:
    message = f"streamer-link-v1\n{kid}\n{expires}\n{scope}".encode("utf-8", "surrogatepass")
    return _b64(hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES])


def format_link(key: bytes, kid: str, expires: int, scope: str) -> str:
    """The token for ``scope`` (``a/b.mp4``, ``a/`` or ``/``) until ``expires``."""
    if not _KID.match(kid):
        raise ValueError(f"key id {kid!r} must be 1-16 of A-Z a-z 0-9 _ -")
    encoded = _b64(scope.encode("utf-8", "surrogatepass"))
    return f"{kid}.{expires}.{encoded}.{link_mac(key, kid, expires, scope)}"


def parse_link(token: str) -> Link | None:
    """The link a token names, or ``None`` if it is not one of ours in form."""
    parts = token.split(".") if len(token) <= MAX_TOKEN_CHARS else []
    if len(parts) != 4:
        return None
    kid, expires, encoded, mac = parts
    scope_bytes = _unb64(encoded)
    mac_bytes = _unb64(mac)
    if not _KID.match(kid) or not _DIGITS.match(expires) or scope_bytes is None or mac_bytes is None:
        return None
    if len(mac_bytes) != MAC_BYTES or _b64(scope_bytes) != encoded or _b64(mac_bytes) != mac:
        return None  # one spelling per token: no padding, no trailing bits
    try:
        scope = scope_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not _is_scope(scope):
        return None
    return Link(kid, int(expires), scope, mac)


def _is_scope(scope: str) -> bool:
    if scope == "/":
        return True
    names = scope[:-1].split("/") if scope.endswith("/") else scope.split("/")
    return bool(scope) and not scope.startswith("/") and all(n and n not in (".", "..") and not n.startswith(".") for n in names)


def check_link(link: Link, keys: dict[str, bytes], now: float) -> Check:
    """VALID, EXPIRED (genuine, but its time is over) or INVALID (wrong MAC or key, or from the future)."""
    key = keys.get(link.kid)
    if key is None or not hmac.compare_digest(link.mac, link_mac(key, link.kid, link.expires, link.scope)):
        return Check.INVALID
    if link.expires > now + MAX_LINK_TTL_S + CLOCK_SKEW_S:
        return Check.INVALID
    return Check.VALID if now <= link.expires else Check.EXPIRED



def covers(scope: str, resource: str) -> bool:
    """True if a link for ``scope`` lets its holder read ``resource`` (a path under the media root, or ``PAGE``)."""
    if resource == PAGE:
        return True
    if any(name in (".", "..") for name in resource.split("/")):  # the routes refuse these too; never rely on it
        return False
    if scope == "/":
        return True
    if scope.endswith("/"):
        return resource == scope[:-1] or resource.startswith(scope)
    return resource == scope


def resource_of(route_path: str, query_path: str | None) -> str | None:
    """The media path a request reads: ``PAGE`` for the page and its assets, ``None`` for a route no link opens.

    ``/media/P``, ``/thumbs/P``, ``/subtitles/P`` and ``/hls/P/(index.m3u8|init.mp4|N.m4s)`` read
    ``P``; ``/api/media?path=P`` lists ``P``.
    """
    if route_path in PAGE_ROUTES or route_path.startswith("/static/"):
        return PAGE
    if route_path == "/api/media":
        return (query_path or "").strip("/")
    for prefix in ("/media/", "/thumbs/", "/subtitles/"):
        if route_path.startswith(prefix):
            return route_path[len(prefix) :]
    if route_path.startswith("/hls/"):
        head, _, leaf = route_path[len("/hls/") :].rpartition("/")
        return head if head and _HLS_LEAF.match(leaf) else None
    return None


def grace_mac(key: bytes, token: str, until: int) -> str:
    """The MAC of a grace cookie: a player that opened ``token`` in time may seek until ``until``."""
    message = f"streamer-grace-v1\n{token}\n{until}".encode("ascii")
    return _b64(hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES])


def format_grace(key: bytes, token: str, until: int) -> str:
    return f"{until}.{grace_mac(key, token, until)}"


def check_grace(value: str, key: bytes, token: str, now: float) -> bool:
    """True if ``value`` is a grace cookie this server gave for ``token`` and its time is not over."""
    until, _, mac = value.partition(".")
    if not _DIGITS.match(until) or not _B64.match(mac):
        return False
    return hmac.compare_digest(mac, grace_mac(key, token, int(until))) and now <= int(until)


class Answer(Enum):
    OPEN = "open"
    FORBIDDEN = "forbidden"  # not a link we made (malformed, tampered, unknown key, from the future)
    OUTSIDE = "outside"  # a genuine link, for another file or folder
    EXPIRED = "expired"  # a genuine link whose time is over: open only to a player already under way

    @property
    def status(self) -> int:
        return {"open": 200, "forbidden": 403, "outside": 403, "expired": 410}[self.value]


def verify_token(token: str, keys: dict[str, bytes], now: float) -> Link | None:
    """The link if ``token`` is one we made (its MAC checks out, it is not from the future), else ``None``."""
    link = parse_link(token)
    if link is None or check_link(link, keys, now) is Check.INVALID:
        return None
    return link


def answer_for(link: Link, route_path: str, query_path: str | None, now: float) -> Answer:
    """What a request under a verified link gets: OPEN, OUTSIDE its scope, or EXPIRED."""
    resource = resource_of(route_path, query_path)
    if resource is None or not covers(link.scope, resource):
        return Answer.OUTSIDE
    return Answer.OPEN if now <= link.expires else Answer.EXPIRED


def evaluate_link(
    token: str, route_path: str, query_path: str | None, keys: dict[str, bytes], now: float
) -> tuple[Answer, Link | None]:
    """What a request under ``/s/TOKEN`` gets. The signature is checked before the scope, so an
    invalid link learns nothing of what exists; only a genuine one is told it expired."""
    link = verify_token(token, keys, now)
    if link is None:
        return Answer.FORBIDDEN, None
    return answer_for(link, route_path, query_path, now), link


def redact_target(target: str) -> str:
    """A request target fit for a log: link tokens and ``?token=`` values replaced."""
    return _TOKEN_PARAMETER.sub(r"\1<redacted>", _SIGNED_SEGMENT.sub("/s/<link>", target))
