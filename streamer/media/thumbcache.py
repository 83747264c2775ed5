"""The on-disk thumbnail cache: bounded in bytes, least recently used out first, writes atomic.

A thumbnail is stored under a name derived from its key (the source's path, size and
mtime, the thumbnail size and format), so a changed source is a miss and its old entry
ages out. Entries are written to ``tmp/`` and renamed into place, so a reader never sees
half a file. Concurrent requests for one missing entry make it once (single flight).
Every file-system call runs in a worker thread. With several server processes on one
directory each keeps its own index: the bound holds per process, not in total.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from asyncer import asyncify

from streamer.sources.base import io_limiter

CACHE_SIZE = 1 << 30  # bytes of thumbnails kept on disk
TEMP_DIR = "tmp"


def cache_name(*key: object) -> str:
    """A file name for a cache key: a digest of its parts, so any part that changes makes a new name."""
    return hashlib.sha256(repr(key).encode("utf-8", "surrogatepass")).hexdigest()[:40]


class _Flight:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: BaseException | None = None
        self.finished = False


class ThumbCache:
    """``await cache.get_or_make(name, make)``: the bytes stored under ``name``, made by ``make(temp_path)`` if missing."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = CACHE_SIZE) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.total = 0
        self.misses = 0
        self._entries: OrderedDict[str, int] = OrderedDict()  # name -> bytes, least recently used first
        self._flights: dict[str, _Flight] = {}
        self._ready = False

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, name: str) -> bytes | None:
        """The stored bytes, or ``None``: one file read."""
        await self._start()
        data = await asyncify(self._read, limiter=io_limiter())(name)
        if data is None:
            self._forget(name)
        elif name in self._entries:
            self._entries.move_to_end(name)
        return data

    async def get_or_make(self, name: str, make: Callable[[str], Awaitable[object]]) -> bytes:
        """The bytes under ``name``; on a miss ``make(path)`` writes them to a temporary path, once for all callers.

        If ``make`` raises, every caller waiting for it gets the same exception. A caller
        cancelled while it was making leaves the work to the next one; what ``make`` finished is kept.
        """
        while True:
            data = await self.get(name)
            if data is not None:
                return data
            flight = self._flights.get(name)
            if flight is None:
                break
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
        return await self._lead(name, make)

    async def _lead(self, name: str, make: Callable[[str], Awaitable[object]]) -> bytes:
        flight = self._flights[name] = _Flight()
        self.misses += 1
        temp = str(self.directory / TEMP_DIR / f"{secrets.token_hex(8)}.part")
        try:
            await make(temp)
            with anyio.CancelScope(shield=True):  # made: kept, even if its caller was cancelled meanwhile
                data = await asyncify(self._commit, limiter=io_limiter())(temp, name)
            flight.finished = True
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await asyncify(_unlink, limiter=io_limiter())(temp)
            del self._flights[name]
            flight.done.set()
        self._forget(name)
        self._entries[name] = len(data)
        self.total += len(data)
        await self._evict()
        return data

    def _forget(self, name: str) -> None:
        self.total -= self._entries.pop(name, 0)

    async def _evict(self) -> None:
        victims = []
        while self.total > self.max_bytes and len(self._entries) > 1:
            name, size = self._entries.popitem(last=False)
            self.total -= size
            victims.append(name)
        if victims:
            await asyncify(self._unlink_all, limiter=io_limiter())(victims)

    async def _start(self) -> None:
        if not self._ready:
            entries = await asyncify(self._scan, limiter=io_limiter())()
            if not self._ready:
                self._ready = True
                for name, size in entries:
                    self._entries[name] = size
                    self.total += size
                await self._evict()

    def _scan(self) -> list[tuple[str, int]]:
        """Blocking. Make the directories, drop temporary files a crash left, index what is there (oldest first)."""
        (self.directory / TEMP_DIR).mkdir(parents=True, exist_ok=True)
        for leftover in (self.directory / TEMP_DIR).iterdir():
            _unlink(str(leftover))
        found = []
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found.append((st.st_mtime_ns, entry.name, st.st_size))
        return [(name, size) for _, name, size in sorted(found)]

    def _read(self, name: str) -> bytes | None:
        try:
            with open(self.directory / name, "rb") as file:
                return file.read()
        except FileNotFoundError:
            return None

    def _commit(self, temp: str, name: str) -> bytes:
        with open(temp, "rb") as file:
            data = file.read()
        os.replace(temp, self.directory / name)
        return data

    def _unlink_all(self, names: list[str]) -> None:
        for name in names:
            _unlink(str(self.directory / name))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
