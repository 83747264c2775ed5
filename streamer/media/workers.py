"""A bounded pool of worker processes for CPU-heavy media jobs: ``await pool.run(fn, *args, deadline_s=...)``.

Processes are started on demand (a pool never used holds none), at most ``size`` at once;
each runs one job at a time, under an address-space limit (RLIMIT_AS). A job still queued
when its caller is cancelled is dropped before it starts; a started job runs to its end or
its deadline, after which its process is killed and reaped (a fresh one is started on the
next demand). ``aclose()`` is idempotent: it kills and reaps every process.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from streamer.media.jobs import HEADER, JobError

T = TypeVar("T")
POOL_SIZE = max(1, min(4, (os.cpu_count() or 1) - 1))  # one core left to the event loop
MEMORY_LIMIT = 1 << 30  # bytes of address space per worker (RLIMIT_AS), interpreter and libraries included
MAX_QUEUED = 64  # jobs waiting for a process; beyond that, refuse at once
DEADLINE_S = 20.0
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The worker imports streamer's submodules without the package's __init__, which loads FastAPI
# (1.4 s and tens of MB per process for nothing).
_BOOT = (
    "import sys, types; pkg = types.ModuleType('streamer'); pkg.__path__ = [sys.argv[1]]; "
    "sys.modules['streamer'] = pkg; from streamer.media.jobs import serve; serve(int(sys.argv[2]))"
)


class PoolBusy(JobError):
    def __init__(self) -> None:
        super().__init__(503, "Too many media jobs are waiting; try again shortly.")


class PoolClosed(JobError):
    def __init__(self) -> None:
        super().__init__(503, "The server is shutting down.")


class JobTimeout(JobError):
    def __init__(self, deadline_s: float) -> None:
        super().__init__(504, f"The job took longer than its deadline of {deadline_s:g} s and was stopped.")


class WorkerDied(JobError):
    def __init__(self, code: int | None) -> None:
        super().__init__(503, f"The worker process died during the job (exit status {code}); the file may be hostile.")


class _Worker:
    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None and process.stdin is not None
        self.output = BufferedByteReceiveStream(process.stdout)

    async def call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
        data = pickle.dumps((fn, args))
        assert self.process.stdin is not None
        await self.process.stdin.send(HEADER.pack(len(data)) + data)
        (length,) = HEADER.unpack(await self.output.receive_exactly(HEADER.size))
        return pickle.loads(await self.output.receive_exactly(length))  # type: ignore[no-any-return]

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        await self.process.aclose()


class WorkerPool:
    """At most ``size`` worker processes; jobs beyond that wait (up to ``max_queued``), then 503."""

    def __init__(self, size: int = POOL_SIZE, *, memory_limit: int = MEMORY_LIMIT, max_queued: int = MAX_QUEUED) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, not {size}")
        self.size = size
        self.memory_limit = memory_limit
        self.max_queued = max_queued
        self.jobs_started = 0
        self._limiter: anyio.CapacityLimiter | None = None  # made in the loop that runs jobs
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._waiting = 0
        self._closed = False

    @property
    def processes(self) -> list[int]:
        """Process ids of the live workers."""
        return [w.process.pid for w in self._all]

    async def run(self, fn: Callable[..., T], *args: Any, deadline_s: float = DEADLINE_S) -> T:
        """``fn(*args)`` in a worker process; ``fn`` and its arguments must pickle (a module-level function).

        Raises the job's own ``JobError``, or ``JobTimeout``, ``WorkerDied``, ``PoolBusy``, ``PoolClosed``.
        Other exceptions raised by ``fn`` come back as they are.
        """
        limiter = self._limiter = self._limiter or anyio.CapacityLimiter(self.size)
        if self._closed:
            raise PoolClosed()
        if limiter.available_tokens == 0 and self._waiting >= self.max_queued:
            raise PoolBusy()
        self._waiting += 1
        try:
            await limiter.acquire()  # cancelled here: the job is dropped, never started
        finally:
            self._waiting -= 1
        try:
            with anyio.CancelScope(shield=True):  # started: it ends by itself, by its deadline, or by aclose()
                kind, value = await self._call(fn, args, deadline_s)
        finally:
            limiter.release()
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]

    async def _call(self, fn: Callable[..., Any], args: tuple[Any, ...], deadline_s: float) -> tuple[str, Any]:
        if self._closed:
            raise PoolClosed()
        worker = self._idle.pop() if self._idle else await self._start()
        self.jobs_started += 1
        outcome: tuple[str, Any] | None = None
        with anyio.move_on_after(deadline_s):
            try:
                outcome = await worker.call(fn, args)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await self._discard(worker)
                raise PoolClosed() if self._closed else WorkerDied(worker.process.returncode) from None
        if outcome is None:
            await self._discard(worker)
            raise JobTimeout(deadline_s)
        if self._closed:
            await self._discard(worker)
        else:
            self._idle.append(worker)
        return outcome

    async def _start(self) -> _Worker:
        command = [sys.executable, "-c", _BOOT, str(_PACKAGE_DIR), str(self.memory_limit)]
        env = {**os.environ, "MALLOC_ARENA_MAX": "2"}  # glibc reserves 64 MiB of address space per thread arena
        worker = _Worker(await anyio.open_process(command, stdin=-1, stdout=-1, stderr=None, env=env))
        self._all.add(worker)
        return worker

    async def _discard(self, worker: _Worker) -> None:
        self._all.discard(worker)
        await worker.kill()

    async def aclose(self) -> None:
        """Kill and reap every worker; later jobs get ``PoolClosed``. Idempotent."""
        self._closed = True
        with anyio.CancelScope(shield=True):
            while self._all:
                await self._discard(self._all.pop())
        self._idle.clear()
