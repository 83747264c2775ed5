"""Probe results kept in SQLite under the cache directory, keyed by path and identity (size, mtime).

Every database call and every probe runs in a worker thread; the loop only waits. A result is
used only while the file's size and mtime (the ETag's inputs) match, so a changed file is probed
again. Concurrent requests for one file share one probe. Probes run at most PROBE_CONCURRENCY at
a time and continue in the background when a listing stops waiting for them. ``aclose`` is idempotent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import anyio

from streamer.media.probe import probe_file

PROBE_CONCURRENCY = 2  # probes at once: one per core of a small machine; FFmpeg releases the GIL while it reads
MAX_INFLIGHT = 10_000  # probes queued at once; beyond that, entries stay pending until asked again
SCHEMA_VERSION = 3  # bump when the probe record changes shape or content: older rows are then ignored (3: rotations over S3)
BATCH = 500  # keys per SELECT (SQLite's variable limit is 32766; this keeps statements small)
BUSY_TIMEOUT_MS = 5000  # workers share the database; a writer waits this long for another
log = logging.getLogger(__name__)


class ProbeKey(NamedTuple):
    path: str  # real path of the file
    size: int
    mtime_ns: int


def _identity_matches(key: ProbeKey) -> bool:
    try:
        st = os.stat(key.path)
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (key.size, key.mtime_ns)


class ProbeCache:
    """Probe records by file identity: from SQLite when known, else probed once and stored."""

    def __init__(self, db_path: Path, probe: Callable[[str], dict[str, Any]] = probe_file, concurrency: int = PROBE_CONCURRENCY,
                 still_current: Callable[[ProbeKey], bool] = _identity_matches) -> None:
        """``still_current(key)`` says after a probe whether ``key`` still names what was probed (else it is not stored)."""
        self.db_path = Path(db_path)
        self._probe = probe
        self._still_current = still_current
        self._db_limiter = anyio.CapacityLimiter(1)  # one connection, used by one thread at a time
        self._probe_limiter = anyio.CapacityLimiter(concurrency)
        self._conn: sqlite3.Connection | None = None
        self._inflight: dict[ProbeKey, asyncio.Task[dict[str, Any]]] = {}
        self._closed = False
        self.probes_run = 0  # probes started by this cache (for tests and /debug)

    # -- database, always in the worker thread that holds _db_limiter
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.db_path, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS probes (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                "mtime_ns INTEGER NOT NULL, version INTEGER NOT NULL, result TEXT NOT NULL)"
            )
            conn.commit()
            self._conn = conn
        return self._conn

    def _select(self, keys: list[ProbeKey]) -> dict[ProbeKey, dict[str, Any]]:
        conn, found = self._connection(), {}
        wanted = {key.path: key for key in keys}
        paths = list(wanted)
        for start in range(0, len(paths), BATCH):
            chunk = paths[start : start + BATCH]
            rows = conn.execute(
                f"SELECT path, size, mtime_ns, result FROM probes WHERE version = ? AND path IN ({','.join('?' * len(chunk))})",
                [SCHEMA_VERSION, *chunk],
            )
            for path, size, mtime_ns, result in rows:
                key = wanted[path]
                if (size, mtime_ns) == (key.size, key.mtime_ns):
                    found[key] = json.loads(result)
        return found

    def _insert(self, key: ProbeKey, result: dict[str, Any]) -> None:
        conn = self._connection()
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO probes (path, size, mtime_ns, version, result) VALUES (?, ?, ?, ?, ?)",
                (key.path, key.size, key.mtime_ns, SCHEMA_VERSION, json.dumps(result)),
            )

    def _close_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    async def _db(self, func: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(func, *args, limiter=self._db_limiter)

    # -- probing
    def _probe_fresh(self, key: ProbeKey) -> tuple[dict[str, Any], bool]:
        result = self._probe(key.path)
        return result, self._still_current(key)  # a file changed while probed is not stored under the old identity

    async def _probe_and_store(self, key: ProbeKey) -> dict[str, Any]:
        try:
            self.probes_run += 1
            result, unchanged = await anyio.to_thread.run_sync(self._probe_fresh, key, limiter=self._probe_limiter)
            if unchanged and not self._closed:
                await self._db(self._insert, key, result)
            return result
        finally:
            self._inflight.pop(key, None)

    def _task_for(self, key: ProbeKey) -> asyncio.Task[dict[str, Any]] | None:
        task = self._inflight.get(key)
        if task is None and not self._closed and len(self._inflight) < MAX_INFLIGHT:
            task = asyncio.get_running_loop().create_task(self._probe_and_store(key), name=f"probe {key.path}")
            task.add_done_callback(_log_failure)
            self._inflight[key] = task
        return task

    async def get(self, key: ProbeKey) -> dict[str, Any] | None:
        """The record for one file, probing it if need be (shared with any concurrent request)."""
        found, _ = await self.get_many([key], deadline_s=None)
        return found.get(key)

    async def get_many(self, keys: Iterable[ProbeKey], deadline_s: float | None) -> tuple[dict[ProbeKey, dict[str, Any]], list[ProbeKey]]:
        """Known records at once, plus probes of the rest awaited until the deadline; the rest stay pending."""
        keys = list(dict.fromkeys(keys))
        if self._closed or not keys:
            return {}, keys
        found: dict[ProbeKey, dict[str, Any]] = await self._db(self._select, keys)
        tasks = {key: task for key in keys if key not in found and (task := self._task_for(key)) is not None}
        if tasks:
            await asyncio.wait(tasks.values(), timeout=deadline_s)  # never cancels: unfinished probes run on
        for key, task in tasks.items():
            if task.done() and not task.cancelled() and task.exception() is None:
                found[key] = task.result()
        return found, [key for key in keys if key not in found]

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def aclose(self) -> None:
        """Stop queued probes (a running one finishes its file first) and close the database; idempotent."""
        if self._closed:
            return
        self._closed = True
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._db(self._close_connection)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("probe failed: %r", task.exception())
