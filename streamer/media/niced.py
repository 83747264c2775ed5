"""Threads set apart for CPU-heavy work in the server's own process, at a nice value of their own.

Rule: work that holds a core for milliseconds in this process (muxing HLS segments) runs on a
fixed set of threads that do nothing else, so their nice value can be raised once, at their
start: on Linux a nice value belongs to one thread (``setpriority`` on its thread id), and an
unprivileged process may raise it but never lower it again. Elsewhere they run at the process's
priority. Raising it is a trade, measured in ``bench.hls`` (README, HLS): on an idle machine the
loop gets a core first, but on a busy one a niced thread holding the GIL waits for a core while
the loop waits for the GIL, so HLS leaves it at 0. A caller waits for its call to end even when
cancelled, as with ``anyio.to_thread.run_sync``, and the call may reach back to the loop that
handed it its work (``loop_token``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio
from anyio.lowlevel import EventLoopToken, current_token

T = TypeVar("T")

_local = threading.local()


def loop_token() -> EventLoopToken | None:
    """In a niced thread, the event loop that handed it its call (for ``anyio.from_thread``); else None."""
    return getattr(_local, "token", None)


def thread_niceness() -> int:
    """The calling thread's own nice value (Linux), else the process's."""
    who = threading.get_native_id() if sys.platform == "linux" else 0
    return os.getpriority(os.PRIO_PROCESS, who)


class NicedThreads:
    """At most ``size`` threads at nice value ``niceness``, started on first use and joined by ``close()``."""

    def __init__(self, size: int, niceness: int, name: str) -> None:
        self.niceness = niceness
        self._executor = ThreadPoolExecutor(size, thread_name_prefix=name, initializer=self._lower)

    def _lower(self) -> None:
        if sys.platform == "linux" and self.niceness > thread_niceness():
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.niceness)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on one of the threads; waited for to its end, even by a cancelled caller."""
        future = self._executor.submit(_call, current_token(), fn, args)
        with anyio.CancelScope(shield=True):
            return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Joins the threads; a call still queued is dropped (its caller gets ``CancelledError``)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def _call(token: EventLoopToken, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    _local.token = token
    try:
        return fn(*args)
    finally:
        del _local.token
