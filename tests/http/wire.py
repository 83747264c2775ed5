"""Raw HTTP/1.1 on a socket: the exact request bytes out, the response as it was on the wire.

httpx normalises paths, merges duplicate headers and hides how many times a
header was sent; these helpers do none of that. Every request is sent with
``Connection: close`` and read until the server closes, under a timeout, so a
hang fails the test instead of stalling it. ``request`` also checks framing:
no 5xx, a body exactly as long as Content-Length, and no body for HEAD or 304.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

TIMEOUT_S = 5.0
HEADER_END = b"\r\n\r\n"
MULTIPART = "multipart/byteranges; boundary="
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")

HeaderLines = Iterable[tuple[str, str | bytes]]


@dataclass(frozen=True)
class WireResponse:
    status: int
    headers: tuple[tuple[str, str], ...]  # lower-case names, in wire order, duplicates kept
    body: bytes

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def header(self, name: str) -> str:
        """The value of a header that must be sent exactly once."""
        values = self.values(name)
        assert len(values) == 1, f"{name}: expected exactly one, got {values}"
        return values[0]

    def has(self, name: str) -> bool:
        return bool(self.values(name))


def exchange(port: int, data: bytes, timeout: float = TIMEOUT_S) -> bytes:
    """Send ``data`` as is and return everything received until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = bytearray()
        while chunk := sock.recv(1 << 16):
            received += chunk
    return bytes(received)


def build_request(method: str, target: bytes, headers: HeaderLines = ()) -> bytes:
    lines = [method.encode("ascii") + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    for name, value in headers:
        lines.append(name.encode("latin-1") + b": " + (value if isinstance(value, bytes) else value.encode("latin-1")))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + HEADER_END


def parse_head(block: bytes) -> tuple[int, tuple[tuple[str, str], ...]]:
    status_line, *lines = block.decode("latin-1").split("\r\n")
    version, status, _reason = status_line.split(" ", 2)
    assert version == "HTTP/1.1", status_line
    headers = []
    for line in lines:
        name, colon, value = line.partition(":")
        assert colon, f"malformed header line {line!r}"
        headers.append((name.lower(), value.strip(" \t")))
    return int(status), tuple(headers)


def parse_response(data: bytes) -> WireResponse:
    head, sep, body = data.partition(HEADER_END)
    assert sep, f"no complete header block in {data[:200]!r}"
    status, headers = parse_head(head)
    return WireResponse(status, headers, body)


def check_framing(method: str, response: WireResponse) -> None:
    assert response.status < 500, f"server error {response.status}: {response.body[:300]!r}"
    assert not response.has("transfer-encoding"), "expected Content-Length framing, got chunked"
    if method == "HEAD" or response.status == 304:
        assert response.body == b"", f"{method} {response.status} carried a body: {response.body[:100]!r}"
    else:
        assert len(response.body) == int(response.header("content-length")), "body length != Content-Length"


def request(
    port: int, method: str, target: bytes | str, headers: HeaderLines = (), *, timeout: float = TIMEOUT_S
) -> WireResponse:
    """One request with ``Connection: close``; the response, after the framing checks."""
    raw_target = target.encode("ascii") if isinstance(target, str) else target
    response = parse_response(exchange(port, build_request(method, raw_target, headers), timeout))
    check_framing(method, response)
    return response


def get(port: int, target: bytes | str, headers: HeaderLines = (), **kwargs: float) -> WireResponse:
    return request(port, "GET", target, headers, **kwargs)


def content_range(value: str) -> tuple[int, int, int]:
    """``bytes first-last/size`` as three integers; fails on any other form."""
    match = _CONTENT_RANGE.fullmatch(value)
    assert match is not None, f"malformed Content-Range {value!r}"
    first, last, size = (int(group) for group in match.groups())
    return first, last, size


def parse_byteranges(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """Parts of a multipart/byteranges body, read strictly by each part's Content-Range.

    The framing must be exact: a leading delimiter, CRLF between parts, and the
    close delimiter with its CRLF as the very last bytes.
    """
    delimiter = f"--{boundary}".encode("ascii")
    assert body.startswith(delimiter + b"\r\n"), body[:100]
    parts: list[tuple[dict[str, str], bytes]] = []
    position = len(delimiter) + 2
    while True:
        end = body.index(HEADER_END, position)
        fields = [line.partition(":") for line in body[position:end].decode("latin-1").split("\r\n")]
        headers = {name.lower(): value.strip() for name, _, value in fields}
        first, last, _ = content_range(headers["content-range"])
        start = end + len(HEADER_END)
        data = body[start : start + last - first + 1]
        parts.append((headers, data))
        position = start + len(data)
        assert body[position : position + 2 + len(delimiter)] == b"\r\n" + delimiter, "bad part delimiter"
        position += 2 + len(delimiter)
        if body[position:] == b"--\r\n":
            return parts
        assert body[position : position + 2] == b"\r\n", f"bad delimiter tail {body[position:position + 10]!r}"
        position += 2


def assert_body_matches(response: WireResponse, data: bytes) -> None:
    """A 200 carries ``data``; a 206 carries the slices its Content-Range headers name."""
    if response.status == 200:
        assert response.body == data
        return
    assert response.status == 206
    content_type = response.header("content-type")
    if content_type.startswith(MULTIPART):
        parts = parse_byteranges(response.body, content_type.removeprefix(MULTIPART))
    else:
        parts = [({"content-range": response.header("content-range")}, response.body)]
    for headers, body in parts:
        first, last, size = content_range(headers["content-range"])
        assert size == len(data)
        assert body == data[first : last + 1]


def fail_on_server_error(response: httpx.Response) -> None:
    """httpx response hook: no request in these tests may end in a 5xx."""
    assert response.status_code < 500, f"server error {response.status_code} for {response.request.url}"
