"""The event loop that runs a bucket's GETs: cancellable from any thread, at most N at a time.

obstore's blocking calls cannot be interrupted: a GET runs to its end even after its
client has left. Its async calls can: cancelling the awaiting task drops the request
and closes its connection at once (measured: a GET stalled on a stopped store left no
connection behind). So worker threads submit GETs to this loop, running in a daemon
thread of its own, and wait on a ``concurrent.futures.Future`` that any thread may cancel.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")
JOIN_TIMEOUT_S = 5.0


class StoreLoop:
    """One loop thread, started at the first ``submit``; ``slot`` admits ``limit`` coroutines at a time."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"at least one GET at a time, not {limit}")
        self.limit = limit
        self.in_flight = 0  # admitted and not finished; changed on the loop thread only
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Run ``coroutine`` on the loop; cancelling the returned future cancels it there."""
        with self._lock:
            if self._closed:
                coroutine.close()
                raise RuntimeError("the store loop is closed")
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="streamer-store", daemon=True)
                self._thread.start()
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    @asynccontextmanager
    async def slot(self, wait_s: float) -> AsyncIterator[bool]:
        """Hold one of ``limit`` slots, waiting at most ``wait_s``; yields whether one was had."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that
            # arrives as the slot is granted (the GET would then run to its end).
            async with asyncio.timeout(wait_s):
                await self._slots.acquire()
        except TimeoutError:
            yield False
            return
        self.in_flight += 1
        try:
            yield True
        finally:
            self.in_flight -= 1
            self._slots.release()

    def close(self) -> None:
        """Cancel what still runs, stop the loop and its thread; idempotent."""
        with self._lock:
            self._closed = True
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(JOIN_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(JOIN_TIMEOUT_S)
        loop.close()


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
