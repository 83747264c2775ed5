"""uvicorn's httptools protocol, with two additions: a response may abort its connection, and send file bytes with ``sendfile``.

uvicorn closes a connection whose response did not complete with ``transport.close()``,
which waits for the write buffer to drain: for a client that stopped reading, that is
until TCP gives up, minutes later, with an ERROR in the log. This subclass puts the
transport's ``abort`` in each request's scope (``ABORT_EXTENSION``), so the response
class can drop a stalled or truncated stream at once (the kernel sends a reset) and log
one warning itself.

On plain TCP it also offers ASGI's ``http.response.zerocopysend``: the response names a
file source, an offset and a count, and the bytes go from the page cache to the socket
(``os.sendfile``, at most ``SENDFILE_MAX`` per call) without passing through Python. A short
body the page cache holds whole is sent on the event loop; a short one it does not hold is first
prefetched (the loop sleeps while the kernel reads it); a long one, or a span still not in the
page cache, from an I/O thread, so the loop never waits on a disk and its turns stay short.
A full socket is waited on with ``add_writer`` on a duplicate of its descriptor (uvloop
refuses the transport's own), for at most the stall timeout without progress: progress is the
client acknowledging bytes (the socket's queue, ``SIOCOUTQ``, shrinking), so a slow reader that
keeps reading is never cut, though the kernel wakes a writer only once a third of its send
buffer is free, which at a few kB/s takes longer than the timeout. TLS (and h11,
which is not this class) never see the extension: they copy.
Tested against uvicorn's version range in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import select
import socket
import struct
import termios
from typing import Any

import anyio
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from streamer.sources.base import SourceTruncatedError, io_limiter
from streamer.sources.file import sendfile_on_loop
from streamer.web.responses import (
    ABORT_EXTENSION,
    STALL_TIMEOUT_KEY,
    STALL_TIMEOUT_S,
    ZEROCOPY_EXTENSION,
    ZEROCOPY_SEND,
    ClientDisconnectedError,
    StreamStalledError,
)

RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset and frees the socket
SENDFILE_MAX = 1024 * 1024  # bytes per sendfile call, and per hop to an I/O thread
LOOP_SEND_MAX = 256 * 1024  # bodies up to this long are sent from the loop (when the page cache holds them)
THREAD_PATIENCE_S = 0.05  # how long an I/O thread waits for a full socket before handing the wait to the loop
# A short span not in the page cache is prefetched (the kernel reads it, nobody waits) and looked at
# again after each of these sleeps: a disk read of a seek's span took 0.2-8 ms here, while a hop to an
# I/O thread took 25-200 ms from a saturated loop (the thread waits for the GIL and the loop for it).
PREFETCH_WAITS_S = (0.0005, 0.001, 0.002, 0.004, 0.008)


def send_in_thread(source: Any, fd: int, offset: int, count: int) -> int:
    """Blocking: ``sendfile`` until ``count`` bytes are sent, waiting (``poll``) on a full socket.

    Returns what was sent, 0 at end of file; raises ``BlockingIOError`` if the socket took
    nothing for ``THREAD_PATIENCE_S``, so a slow client never holds a thread for long.
    """
    sent = 0
    waiter = select.poll()
    waiter.register(fd, select.POLLOUT)
    while sent < count:
        try:
            got = source.send_at(fd, offset + sent, count - sent)
        except BlockingIOError:
            if waiter.poll(THREAD_PATIENCE_S * 1000):
                continue
            if sent:
                return sent
            raise
        if got == 0:
            return sent
        sent += got
    return sent


class FileSender:
    """Moves file bytes to one connection's socket through a duplicate of its descriptor.

    The duplicate keeps the socket open, so it is closed as soon as the connection is
    lost (``close``), or, if a send is using it then, when that send stops (it raises
    ``ConnectionResetError``): never under a thread's ``sendfile`` or a registered writer.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._fd = -1
        self._sending = False
        self._closed = False
        self._waiting: asyncio.Future[None] | None = None

    async def send(self, source: Any, offset: int, count: int, stall: float | None) -> int:
        """Send ``count`` bytes of ``source`` from ``offset``; fewer only at the file's end. Raises on a stall."""
        if self._closed:
            raise ConnectionResetError("the connection is closed")
        if self._fd < 0:
            self._fd = os.dup(self._transport.get_extra_info("socket").fileno())
        self._sending = True
        try:
            return await self._send(self._fd, source, offset, count, stall)
        finally:
            self._sending = False
            if self._closed:
                self._close_fd()

    async def _send(self, fd: int, source: Any, offset: int, count: int, stall: float | None) -> int:
        while self._transport.get_write_buffer_size():  # the headers first, in order
            await self._writable(fd, stall)
        # A short body (a seek, a small file) goes from the loop when the page cache holds it: a
        # thread hop would cost more than the send. A long one goes from I/O threads, which wait
        # for the socket themselves a moment, so the loop's turns stay short for everyone else.
        on_loop = count <= LOOP_SEND_MAX
        sent = 0
        while sent < count:
            span = min(count - sent, SENDFILE_MAX)
            try:
                got = source.send_cached(fd, offset + sent, span) if on_loop else None
                if got is None and on_loop and await self._prefetched(source, offset + sent, span):
                    got = source.send_cached(fd, offset + sent, span)
                if got is None:  # not all in the page cache (the disk may be read), or a long body
                    got = await anyio.to_thread.run_sync(send_in_thread, source, fd, offset + sent, span, limiter=io_limiter())
            except BlockingIOError:  # the client is slow: wait here, holding no thread
                await self._writable(fd, stall)
                continue
            if got == 0:
                break  # end of file
            sent += got
            if self._closed:
                raise ConnectionResetError("the connection was lost")
        return sent

    async def _prefetched(self, source: Any, offset: int, count: int) -> bool:
        """Whether the span came into the page cache within ``PREFETCH_WAITS_S`` of asking the kernel for it."""
        prefetch = getattr(source, "prefetch", None)
        if prefetch is None:
            return False
        prefetch(offset, count)
        for delay in PREFETCH_WAITS_S:
            await asyncio.sleep(delay)
            if self._closed:
                raise ConnectionResetError("the connection was lost")
            if source.ready(offset, count):
                return True
        return False

    async def _writable(self, fd: int, stall: float | None) -> None:
        """Wait until the socket takes more, failing once the client took nothing for ``stall`` seconds."""
        loop = asyncio.get_running_loop()
        self._waiting = ready = loop.create_future()
        loop.add_writer(fd, _set_done, ready)
        watch = None if stall is None else _StallWatch(loop, fd, ready, stall)
        try:
            await ready
        finally:
            loop.remove_writer(fd)
            if watch is not None:
                watch.cancel()
            self._waiting = None

    def close(self) -> None:
        """The connection is gone: close the duplicate now, or wake the send using it, which closes it."""
        self._closed = True
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_exception(ConnectionResetError("the connection was lost"))
        if not self._sending:
            self._close_fd()

    def _close_fd(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def unacknowledged(fd: int) -> int | None:
    """Bytes in the socket's send queue the client has not acknowledged (Linux ``SIOCOUTQ``); None where unknown."""
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, bytes(4)))[0])
    except OSError:
        return None


class _StallWatch:
    """Fails ``ready`` once ``stall`` seconds pass in which the client acknowledged no byte (a timer, not ``wait_for``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, ready: asyncio.Future[None], stall: float) -> None:
        self._loop, self._fd, self._ready, self._stall = loop, fd, ready, stall
        self._queued = unacknowledged(fd)
        self._timer = loop.call_later(stall, self._check)

    def _check(self) -> None:
        if self._ready.done():
            return
        queued = unacknowledged(self._fd)
        if queued is not None and self._queued is not None and queued < self._queued:  # it read: not a stall
            self._queued = queued
            self._timer = self._loop.call_later(self._stall, self._check)
        else:
            self._ready.set_exception(StreamStalledError(f"client accepted nothing for {self._stall} s"))

    def cancel(self) -> None:
        self._timer.cancel()


class StreamerCycle(RequestResponseCycle):
    """uvicorn's request-response cycle, which also takes ``http.response.zerocopysend`` for a body with Content-Length."""

    files: FileSender

    async def send(self, message: Any) -> None:
        if message["type"] != ZEROCOPY_SEND:
            await super().send(message)
            return
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            raise ClientDisconnectedError("the client has gone")
        count = message["count"]
        if not self.response_started or self.response_complete or self.chunked_encoding or self.scope["method"] == "HEAD":
            raise RuntimeError("zerocopysend is for the body of a started GET response with a Content-Length")
        if count > self.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        stall = self.scope.get(STALL_TIMEOUT_KEY, STALL_TIMEOUT_S)  # type: ignore[misc]
        try:
            sent = await self.files.send(message["file"], message.get("offset", 0), count, stall)
        except ConnectionError as exc:  # the client reset or closed: what uvicorn does when it learns of it
            self.disconnected = True
            self.message_event.set()
            self.transport.abort()
            raise ClientDisconnectedError("the client has gone") from exc
        self.expected_content_length -= sent
        if sent < count:
            raise SourceTruncatedError(f"{message['file']!r} ended {count - sent} bytes early")
        if not message.get("more_body", False):
            await super().send({"type": "http.response.body", "body": b"", "more_body": False})


class StreamerHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.files = FileSender(transport)
        extensions: dict[str, dict[str, Any]] = {ABORT_EXTENSION: {"abort": self.abort}}
        if self.scheme == "http" and sendfile_on_loop():
            extensions[ZEROCOPY_EXTENSION] = {}
        self.extensions = extensions  # one dict per connection: nobody changes it

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.files.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = self.extensions

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # The cycle uvicorn made, given this class's send: no wrapper between the app and the transport.
        cycle.__class__ = StreamerCycle
        cycle.files = self.files  # type: ignore[attr-defined]
        super()._start_asgi_task(cycle, app)

    def abort(self) -> None:
        """Drop the connection: unsent data is discarded by the kernel too (else FIN_WAIT1 keeps it for minutes)."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
            except OSError:  # already closed
                pass
        self.transport.abort()
