"""Streaming responses that close what they stream, one class per kind of media.

Starlette's StreamingResponse never closes its iterator, drives a sync one with
a ``next`` per worker thread it cannot serialise with ``close``, streams a body
for HEAD, and waits forever on a client that stops reading. ``MediaResponse``
drives the iterator itself: ``next`` and ``close`` in turn on the file-I/O
threads, HEAD answered without starting it, every send bounded by a stall
timeout, and the iterator closed on every path (end, error, disconnect,
cancellation). A body already in memory (``bytes``) is sent at once: no thread,
and unless it is paced no disconnect listener, since nothing would be stopped.
A ``FileBody`` goes by ASGI's ``http.response.zerocopysend`` where the server offers
it and the stream is not paced: the server moves the bytes (sendfile), times stalls
and raises ``ClientDisconnectedError`` when the client goes; else ``content`` is streamed.
The subclasses give a route's OpenAPI schema a real media type
(``response_class=VideoResponse``); a route serving every kind uses ``MediaResponse``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from streamer.http.multipart import Segment
from streamer.http.pacing import TokenBucket, piece_size
from streamer.http.ranges import ByteRange
from streamer.http.representation import OCTET_STREAM
from streamer.sources.base import ReadCancelledError, SourceTruncatedError, io_limiter
from streamer.web.openapi import route_path

STALL_TIMEOUT_S = 60.0
STALL_TIMEOUT_KEY = "streamer.stall_timeout_s"  # scope key: per-request override
PACE_KEY = "streamer.pace"  # scope key: a Pace for the body, or None
CANCEL_READS_KEY = "streamer.cancel_reads"  # scope key: a callable that ends the source's reads in flight (client left)
OBSERVER_KEY = "streamer.observer"  # scope key: a StreamObserver, told how each stream went
SLOTS_KEY = "streamer.stream_slots"  # scope key: the StreamSlots a body stream must get one of
RETRY_AFTER_S = 1  # what a refused stream is told to wait
_DONE = object()
logger = logging.getLogger("streamer")


@dataclass(frozen=True)
class Pace:
    """Send the body at ``rate`` bytes per second; ``prefill`` lets the first piece go at once."""

    rate: float
    prefill: bool = True


class StreamObserver(Protocol):
    """Told when a body stream starts and how it ended: complete, disconnect, stalled or error."""

    def started(self) -> None: ...

    def ended(self, outcome: str) -> None: ...


class StreamSlots:
    """At most ``limit`` bodies streaming at once in this process; beyond that, refuse at once.

    No queue: a client told 503 with Retry-After can come back, while a queued one
    holds a socket and memory and times out anyway. Used on the event-loop thread only.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"stream limit must be at least 1, not {limit}")
        self.limit = limit
        self.in_use = 0

    def try_acquire(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1


ABORT_EXTENSION = "streamer.abort"  # a server that can drop a connection at once offers {"abort": callable}
ZEROCOPY_EXTENSION = ZEROCOPY_SEND = "http.response.zerocopysend"  # ASGI's extension, and its message type
ZEROCOPY_SPAN = 1024 * 1024  # bytes per zerocopysend message: the loop is let go between them


class ZeroCopySource(Protocol):
    """A file the server can ``sendfile`` from: what the page cache holds without waiting, the rest in a thread."""

    def send_cached(self, out_fd: int, offset: int, count: int) -> int | None: ...

    def send_at(self, out_fd: int, offset: int, count: int) -> int: ...


@dataclass(frozen=True)
class FileBody:
    """A body the server may send from the file itself: literal segments as bytes, ranges with sendfile."""

    source: ZeroCopySource
    segments: tuple[Segment, ...]


class ClientDisconnectedError(OSError):
    """The client went while a body was sent (ASGI 2.4: ``send`` raises an ``OSError`` subclass)."""


def abort_connection(scope: Scope) -> bool:
    """Drop the connection now (a reset, not a close that waits for the client), if the server can."""
    abort = scope.get("extensions", {}).get(ABORT_EXTENSION, {}).get("abort")
    if abort is None:
        return False
    abort()
    return True


async def until_disconnect(receive: Receive) -> None:
    """Return once the client has gone (``http.disconnect``), dropping any other message."""
    while (await receive())["type"] != "http.disconnect":
        pass


class StreamStalledError(TimeoutError):
    """The client did not accept a chunk within the stall timeout."""


class _StallGuard:
    """One cancel scope around a whole response, armed only while a send waits.

    Cheaper than a timeout scope per send (a chunk pays two deadline updates, about
    4 us, instead of about 11 us), with the same meaning: any one send that is not
    accepted within ``stall`` seconds cancels the response.
    """

    def __init__(self, send: Send, stall: float | None) -> None:
        self.scope = anyio.CancelScope()
        self._send = send
        self._stall = stall

    async def send(self, message: Message) -> None:
        if self._stall is None:
            await self._send(message)
            return
        self.scope.deadline = anyio.current_time() + self._stall
        try:
            await self._send(message)
        finally:
            self.scope.deadline = math.inf

    def check(self) -> None:
        """After the scope: raise if a send ran out of time."""
        if self.scope.cancelled_caught:
            raise StreamStalledError(f"client accepted nothing for {self._stall} s")


@asynccontextmanager
async def _collapsing_task_group() -> AsyncIterator[TaskGroup]:
    """A task group that raises a lone child exception as itself, not in a group."""
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        exc = group.exceptions[0]
        raise exc from exc.__cause__


def _unwrap_fastapi_stream(content: AsyncIterable[bytes]) -> AsyncIterable[bytes]:
    """The endpoint's own async generator, if ``content`` is FastAPI's wrapper around it.

    FastAPI wraps an ``async def`` generator endpoint in ``_async_stream_raw``, whose
    ``async for`` never closes the inner generator: closing the wrapper would leave the
    endpoint's generator (and its ``finally``) to the garbage collector. The wrapper
    has not started yet, so its one argument is the generator to stream and close.
    """
    code = getattr(content, "ag_code", None)
    frame = getattr(content, "ag_frame", None)
    if code is None or frame is None or code.co_name != "_async_stream_raw" or code.co_argcount != 1:
        return content
    inner = frame.f_locals.get(code.co_varnames[0])
    if not isinstance(inner, AsyncGenerator):
        return content
    return inner


class MediaResponse(StreamingResponse):
    """A StreamingResponse that owns its body iterator and closes it deterministically."""

    media_type = OCTET_STREAM
    stall_timeout_s: float | None = STALL_TIMEOUT_S
    burst = 64 * 1024  # bytes a paced stream may send at once, at most 1/20 s worth

    def __init__(
        self,
        content: bytes | Iterable[bytes] | AsyncIterable[bytes],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        file: FileBody | None = None,
    ) -> None:
        self._file = file  # sent with zerocopysend where the server offers it, else ``content`` is streamed
        self._sync: Iterator[bytes] | None = None
        self._async: AsyncIterator[bytes] | None = None
        self._in_memory = isinstance(content, bytes)  # one chunk, taken without a thread
        if isinstance(content, bytes):
            self.body = content  # so init_headers sends its Content-Length, as Starlette's Response does
            self._sync = iter((content,))
        elif isinstance(content, AsyncIterable):
            self._async = aiter(_unwrap_fastapi_stream(content))
        else:
            self._sync = iter(content)
        self._started = False
        self._exhausted = False
        self._bucket: TokenBucket | None = None
        self.status_code = status_code
        self.media_type = self.media_type if media_type is None else media_type
        self.background = background
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._keep_last_content_type()
        stall = scope.get(STALL_TIMEOUT_KEY, self.stall_timeout_s)
        pace: Pace | None = scope.get(PACE_KEY)
        if pace is not None:
            burst = piece_size(pace.rate, self.burst)
            self._bucket = TokenBucket(pace.rate, burst, anyio.current_time(), tokens=burst if pace.prefill else 0)
        observer: StreamObserver | None = scope.get(OBSERVER_KEY)
        outcome = "error"

        observed = False  # whether the observer was told that a body stream started
        guard = _StallGuard(send, stall)  # every send, headers and the final empty body included
        slots: StreamSlots | None = scope.get(SLOTS_KEY) if scope["method"] != "HEAD" else None
        refused = slots is not None and not slots.try_acquire()
        held = None if refused else slots
        try:
            with guard.scope:
                if scope["method"] == "HEAD":
                    await guard.send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                    await guard.send({"type": "http.response.body", "body": b"", "more_body": False})
                    outcome = "complete"
                elif refused:
                    outcome = "refused"
                    detail = f"The server is streaming its limit of {scope[SLOTS_KEY].limit} responses; try again."
                    busy = {"retry-after": str(RETRY_AFTER_S), "cache-control": "no-store"}
                    await JSONResponse({"detail": detail}, 503, busy)(scope, receive, guard.send)
                else:
                    if observer is not None:
                        observer.started()
                        observed = True
                    if self._file is not None and self._bucket is None and ZEROCOPY_EXTENSION in scope.get("extensions", ()):
                        # The server waits for the socket itself, bounded by the stall timeout, and
                        # raises when the client goes: no listener task, no read ahead to stop.
                        outcome = await self._send_file(self._file, guard.send, send)
                    elif self._in_memory and self._bucket is None:  # nothing to read, nothing to wait for
                        await self._stream(guard.send)
                        outcome = "complete"
                    else:
                        outcome = await self._stream_until_disconnect(receive, guard.send, scope.get(CANCEL_READS_KEY))
            guard.check()
        except (StreamStalledError, SourceTruncatedError) as exc:
            # Returning without completing the response makes the server close the connection:
            # the client sees a short body, never a complete-looking wrong one.
            outcome = "stalled" if isinstance(exc, StreamStalledError) else "truncated"
            client = "%s:%s" % tuple(scope["client"]) if scope.get("client") else "a client"
            aborted = abort_connection(scope)
            logger.warning("aborting stream of %s to %s: %s%s", route_path(scope), client, exc, "" if aborted else " (closing)")
        finally:
            if held is not None:
                held.release()
            if not self._in_memory:  # bytes (and a FileBody's empty content) have nothing to close
                with anyio.CancelScope(shield=True):
                    await self._close_iterator()
            if observed:
                observer.ended(outcome)  # type: ignore[union-attr]
        if self.background is not None:
            await self.background()

    def _keep_last_content_type(self) -> None:
        """FastAPI appends the endpoint's headers to the class's own: the later Content-Type wins."""
        types = [i for i, (name, _) in enumerate(self.raw_headers) if name == b"content-type"]
        for index in reversed(types[:-1]):
            del self.raw_headers[index]

    async def _stream_until_disconnect(self, receive: Receive, send: Send, cancel_reads: Any = None) -> str:
        """Stream the body until it is complete or the client goes: ``complete`` or ``disconnect``.

        When the client goes, ``cancel_reads`` (if any) ends a read in a worker thread at
        once (a GET to an object store), rather than waiting for it to finish.
        """
        outcome = "disconnect"
        try:
            async with _collapsing_task_group() as tg:

                async def stream() -> None:
                    nonlocal outcome
                    await self._stream(send)
                    outcome = "complete"
                    tg.cancel_scope.cancel()

                tg.start_soon(stream)
                await until_disconnect(receive)
                if cancel_reads is not None:
                    cancel_reads()
                tg.cancel_scope.cancel()
        except ReadCancelledError:
            pass  # the read cancelled above, as the client left
        return outcome

    async def _stream(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        while (chunk := await self._next_chunk()) is not _DONE:
            await self._send_body(send, chunk)
            if not self._in_memory:
                # An empty send returns only once the server's write buffer has drained, so the
                # next chunk is read when the client has taken this one: a slow client holds one
                # chunk in this process, not two, and a vanished one costs no read ahead.
                await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_file(self, file: FileBody, send: Send, send_unguarded: Send) -> str:
        """The body by zerocopysend (the server times its stalls): ``complete`` or ``disconnect``."""
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            last = len(file.segments) - 1
            for index, segment in enumerate(file.segments):
                if not isinstance(segment, ByteRange):
                    await send({"type": "http.response.body", "body": segment, "more_body": index < last})
                    continue
                for offset in range(segment.start, segment.stop, ZEROCOPY_SPAN):
                    count = min(ZEROCOPY_SPAN, segment.stop - offset)
                    more = index < last or offset + count < segment.stop  # the last span ends the response
                    message = {"type": ZEROCOPY_SEND, "file": file.source, "offset": offset, "count": count, "more_body": more}
                    await send_unguarded(message)
                    if more:
                        await anyio.lowlevel.checkpoint()  # a cancellation (shutdown) is seen between spans
            if last < 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except ClientDisconnectedError:
            return "disconnect"
        return "complete"

    async def _send_body(self, send: Send, chunk: bytes) -> None:
        if self._bucket is None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            return
        step = piece_size(self._bucket.rate, len(chunk))  # paced: small pieces, no bursts
        for start in range(0, len(chunk), step):
            piece = chunk[start : start + step]
            delay = self._bucket.delay(len(piece), anyio.current_time())
            if delay:
                await anyio.sleep(delay)
            await send({"type": "http.response.body", "body": piece, "more_body": True})

    async def _next_chunk(self) -> Any:
        self._started = True
        if self._in_memory:
            chunk = next(self._sync, _DONE)  # type: ignore[arg-type]
        elif self._sync is not None:
            chunk = await anyio.to_thread.run_sync(next, self._sync, _DONE, limiter=io_limiter())
        elif self._async is not None:
            # A generator that never awaits, and sends to a vanished client, which return at
            # once, would otherwise never let the disconnect listener run.
            await anyio.lowlevel.checkpoint()
            chunk = await anext(self._async, _DONE)
        self._exhausted = chunk is _DONE
        return chunk

    async def _close_iterator(self) -> None:
        if self._in_memory:
            return
        if self._sync is not None:
            close = getattr(self._sync, "close", None)
            if close is None or self._exhausted:
                return  # nothing to close, or a finished generator: no worker-thread hop
            if self._started:
                # next() and close() are serialised: a cancelled next() has finished by now.
                await anyio.to_thread.run_sync(close, limiter=io_limiter())
            else:
                close()  # a generator that never started runs no code when closed
        elif self._async is not None:
            aclose = getattr(self._async, "aclose", None)
            if aclose is not None:
                await aclose()


class VideoResponse(MediaResponse):
    media_type = "video/mp4"


class AudioResponse(MediaResponse):
    media_type = "audio/mpeg"


class ImageResponse(MediaResponse):
    media_type = "image/png"


class OctetStreamResponse(MediaResponse):
    media_type = OCTET_STREAM
