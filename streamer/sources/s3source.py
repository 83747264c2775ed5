"""One version of one S3 object as a byte source: reads by position, in ranged GETs of up to ``READ_AHEAD``.

The planned body bounds every GET (a 2-byte probe costs 2 bytes), and while one block is
sent the next block of the same range is already on its way (one GET in flight per stream).
Chunks are slices of the block as obstore received it (``memoryview``), handed to the socket
without a copy. ``aread_at`` awaits a GET in place on the server's loop, ``read_at`` blocks
(worker threads); both share the decisions of ``_begin`` and ``_end``.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future

from streamer.http.multipart import Segment
from streamer.http.ranges import ByteRange
from streamer.sources.base import ReadCancelledError, SourceClosedError, SourceTruncatedError
from streamer.sources.s3 import ADMIT_WAIT_S, READ_AHEAD, STREAM_WAIT_S, Buffer, ObjectMeta, S3Bucket


class S3Source:
    """One version of one object; reads of one source are serialised by its response.

    ``cancel`` and ``close`` may come from any thread: GETs started with futures (the
    block on its way, a worker thread's read) end at once; a GET awaited in place ends
    when its task is cancelled, as the response's is when the client leaves.
    """

    blocking = True

    def __init__(self, bucket: S3Bucket, meta: ObjectMeta, body: Iterable[Segment] = ()) -> None:
        self.bucket = bucket
        self.meta = meta
        self._ranges = [s for s in body if isinstance(s, ByteRange)]
        self._buffer = memoryview(b"")
        self._base = 0
        self._closed = False
        self._cancelled = False
        self._reads = 0
        self._get: Future[Buffer] | None = None  # the GET a read waits for
        self._next: tuple[int, int, Future[Buffer]] | None = None  # the block after the buffer, on its way

    def _span_stop(self, offset: int, length: int) -> int:
        for span in self._ranges:
            if span.start <= offset < span.stop:
                return span.stop
        return offset + length

    def read_cached(self, offset: int, length: int) -> memoryview | None:
        """The bytes if the block already fetched holds them, else ``None``: never waits (no worker thread)."""
        start = offset - self._base
        if self._closed or self._cancelled or start < 0 or start + length > len(self._buffer):
            return None
        return self._buffer[start : start + length]

    def _begin(self, offset: int, length: int) -> tuple[int, int, float, Future[Buffer] | None]:
        """What a read past the buffer fetches: ``(stop, span_stop, wait_s, the block on its way if it fits)``."""
        if self._closed:
            raise SourceClosedError(self.meta.key)
        if self._cancelled:
            raise ReadCancelledError(self.meta.key)
        span_stop = min(self._span_stop(offset, length), self.meta.size)
        stop = min(max(offset + length, min(span_stop, offset + READ_AHEAD)), self.meta.size)
        wait_s = ADMIT_WAIT_S if self._reads == 0 else STREAM_WAIT_S  # a stream under way waits longer than a newcomer
        self._reads += 1
        self._buffer = memoryview(b"")
        ahead, self._next = self._next, None
        if ahead is not None and ahead[0] == offset and ahead[1] >= offset + length:
            return ahead[1], span_stop, wait_s, ahead[2]
        if ahead is not None:
            ahead[2].cancel()  # a seek: the block on its way is not the one wanted
        return stop, span_stop, wait_s, None

    def _end(self, offset: int, length: int, stop: int, span_stop: int, data: memoryview) -> memoryview:
        """Keep the block, start the next one of the range, return the ``length`` bytes asked for."""
        self._buffer, self._base = data, offset
        if stop < span_stop and not self._cancelled:
            after = min(span_stop, stop + READ_AHEAD)
            self._next = (stop, after, self.bucket.start_get(self.meta, stop, after, wait_s=STREAM_WAIT_S))
        if len(data) < length:
            raise SourceTruncatedError(f"{self.meta.key}: ends before {offset + length}")
        return data[:length]

    def read_at(self, offset: int, length: int) -> memoryview:
        """Exactly ``length`` bytes at ``offset`` of this version; raises rather than return fewer. Blocks."""
        if (cached := self.read_cached(offset, length)) is not None:
            return cached
        stop, span_stop, wait_s, future = self._begin(offset, length)
        if future is None:
            future = self.bucket.start_get(self.meta, offset, stop, wait_s=wait_s)
        self._get = future
        try:
            if self._cancelled:  # cancelled between the check and now
                future.cancel()
            data = self.bucket.finish_get(self.meta, offset, stop, future)
        finally:
            self._get = None
        return self._end(offset, length, stop, span_stop, data)

    async def aread_at(self, offset: int, length: int) -> memoryview:
        """``read_at`` on the event loop: a GET awaited in place, or the block already on its way."""
        if (cached := self.read_cached(offset, length)) is not None:
            return cached
        stop, span_stop, wait_s, future = self._begin(offset, length)
        if future is None:
            data = await self.bucket.aget_range(self.meta, offset, stop, wait_s=wait_s)
        else:
            self._get = future
            try:
                data = await self.bucket.afinish_get(self.meta, offset, stop, future)
            finally:
                self._get = None
        return self._end(offset, length, stop, span_stop, data)

    def cancel(self) -> None:
        """From any thread: GETs in flight by future end at once, and this read and every later one raise."""
        self._cancelled = True
        for future in (self._get, self._next[2] if self._next is not None else None):
            if future is not None:
                future.cancel()

    def close(self) -> None:
        self.cancel()
        self._closed = True
        self._buffer = memoryview(b"")
        self._next = None
