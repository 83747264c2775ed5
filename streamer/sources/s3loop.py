"""The event loop that runs a bucket's GETs: cancellable from any thread, at most N at a time.

obstore's blocking calls cannot be interrupted: a GET runs to its end even after its
client has left. Its async calls can: cancelling the awaiting task drops the request
and closes its connection at once (measured: a GET stalled on a stopped store left no
connection behind). So GETs run on one event loop: the server's own, once ``adopt`` is
given it (coroutines on it then await a GET in place, with no thread between), else a
daemon thread's, started at the first ``submit``. Worker threads submit GETs to it and
wait on a ``concurrent.futures.Future`` that any thread may cancel. ``close`` cancels
only what was submitted here, never the rest of an adopted loop's tasks.
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
    """One loop (adopted, or a thread of its own); ``slot`` admits ``limit`` coroutines at a time."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"at least one GET at a time, not {limit}")
        self.limit = limit
        self.in_flight = 0  # admitted and not finished; changed on the loop thread only
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # submitted and running, for close
        self._closed = False

    def adopt(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Run GETs on ``loop`` (the server's, running) from now on; False if a loop already runs them."""
        with self._lock:
            if self._loop is not None or self._closed:
                return False
            self._loop = loop
            return True

    def is_current(self) -> bool:
        """Whether the caller runs on this loop, where a GET can be awaited in place."""
        return self._loop is not None and _runs_on(self._loop)

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
            return asyncio.run_coroutine_threadsafe(self._tracked(coroutine), self._loop)

    async def _tracked(self, coroutine: Coroutine[Any, Any, T]) -> T:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            return await coroutine
        finally:
            self._tasks.discard(task)

    @asynccontextmanager
    async def slot(self, wait_s: float) -> AsyncIterator[bool]:
        """Hold one of ``limit`` slots, waiting at most ``wait_s``; yields whether one was had."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        if self._slots.locked():  # a free slot is taken at once: no timer to set and cancel
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that
                # arrives as the slot is granted (the GET would then run to its end).
                async with asyncio.timeout(wait_s):
                    await self._slots.acquire()
            except TimeoutError:
                yield False
                return
        else:
            await self._slots.acquire()
        self.in_flight += 1
        try:
            yield True
        finally:
            self.in_flight -= 1
            self._slots.release()

    def close(self) -> None:
        """Cancel what was submitted and still runs; stop the loop and its thread if it is ours; idempotent."""
        with self._lock:
            self._closed = True
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None:
            return
        if thread is None:  # adopted: the server's loop goes on, only our tasks end
            if _runs_on(loop):
                self._cancel_tracked()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(self._cancel_tracked)
            return
        asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(JOIN_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(JOIN_TIMEOUT_S)
        loop.close()

    def _cancel_tracked(self) -> None:
        for task in list(self._tasks):
            task.cancel()


def _runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
