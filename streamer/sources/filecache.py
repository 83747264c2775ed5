"""An open-file cache, like nginx's ``open_file_cache``, invalidated when a file changes.

A request for a file the cache holds needs no path resolution, ``open`` or
``fstat``, and so no worker-thread hop: it leases the open ``FileSource`` and
the ``fstat`` taken when it was opened. Readers share the descriptor (reads are
positional). An entry is dropped, and its file closed once its last lease is
released, when:

- the file changes: inotify watches the folder of every cached file, and the
  events are read before every lookup, so a change that completed before a
  request arrived is always seen (a write, a truncate, a chmod, a delete, a
  rename over it);
- the path no longer names it, for what inotify cannot see (a rename of a parent
  folder, a symlink retargeted along the path, a network file system): the
  sweeper checks every entry at least every ``valid`` seconds, in a worker
  thread, and an entry not confirmed for longer is not used;
- nobody used it for ``inactive`` seconds, or ``max_entries`` is exceeded (the
  least recently used goes first).

Everything here runs on the event-loop thread (reading inotify events is a
non-blocking read of its descriptor) except ``watch_folder``, which the thread
opening a file calls, and the sweeper's checks and closes, which run in worker
threads. Linux only: without inotify, ``OpenFileCache.create`` returns ``None``
and every request opens its file.
"""

from __future__ import annotations

import errno
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from streamer.sources.base import io_limiter
from streamer.sources.file import FileSource
from streamer.sources.inotify import IN_DELETE_SELF, IN_IGNORED, IN_MOVE_SELF, IN_Q_OVERFLOW, Inotify, libc

MAX_ENTRIES = 1000
INACTIVE_S = 10.0
VALID_S = 5.0

Key = tuple[str, ...]  # the root, then the request's path segments: os.path.join(*key) is the path


def identity(st: os.stat_result) -> tuple[int, ...]:
    """What changes when a path names another file, or the file is changed."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def still_names(path: str, resolved: str, st: os.stat_result) -> bool:
    """Blocking: whether ``path`` still resolves to ``resolved``, the same unchanged file."""
    try:
        return os.path.realpath(path) == resolved and identity(os.stat(resolved)) == identity(st)
    except OSError:
        return False


@dataclass(eq=False)
class CachedFile:
    """One open file: its source, the ``fstat`` taken at open, and who holds it."""

    source: FileSource
    stat: os.stat_result
    folder: str
    name: str
    checked_at: float  # when the path was last known to name this file
    used_at: float
    users: int = 0
    dropped: bool = False


@dataclass(eq=False)
class Lease:
    """A request's hold on an open file; ``release()`` exactly once, when the response is done."""

    source: FileSource
    stat: os.stat_result
    _entry: CachedFile | None = None
    _release: Callable[[Lease], FileSource | None] | None = field(default=None, repr=False)

    @property
    def cached(self) -> bool:
        """Whether the cache owns the file (else the holder closes what ``release`` returns)."""
        return self._entry is not None

    def release(self) -> FileSource | None:
        """The source the caller must now close (in a thread), or ``None`` while the cache keeps it."""
        if self._release is None:
            return None
        release, self._release = self._release, None
        return release(self)


class OpenFileCache:
    """Open files by the request path that named them; see the module docstring."""

    def __init__(
        self, inotify: Inotify, *, max_entries: int = MAX_ENTRIES, inactive_s: float = INACTIVE_S, valid_s: float = VALID_S
    ) -> None:
        if max_entries < 1 or inactive_s <= 0 or valid_s <= 0:
            raise ValueError(f"max_entries, inactive_s and valid_s must be positive, not {max_entries}, {inactive_s}, {valid_s}")
        self.max_entries = max_entries
        self.inactive_s = inactive_s
        self.valid_s = valid_s
        self._inotify = inotify
        self._entries: OrderedDict[Key, CachedFile] = OrderedDict()  # least recently used first
        self._keys_by_file: dict[tuple[str, str], set[Key]] = {}  # (folder, name) -> keys naming it
        self._watches: dict[str, int] = {}  # folder -> watch descriptor
        self._folders: dict[int, str] = {}  # watch descriptor -> folder
        self._to_close: list[FileSource] = []  # dropped with no users: for the next sweep, in a thread
        self._draining: set[FileSource] = set()  # dropped while in use: the last release closes it
        self._running = False  # one sweeper, however many MediaFiles share this cache
        self.closed = False

    @classmethod
    def create(cls, **limits: float) -> OpenFileCache | None:
        """A cache, or ``None`` where inotify is missing (the cache could not see changes)."""
        found = libc()
        if found is None:
            return None
        try:
            return cls(Inotify(found), **limits)  # type: ignore[arg-type]
        except OSError:
            return None

    def __len__(self) -> int:
        return len(self._entries)

    def lease(self, key: Key) -> Lease | None:
        """The open file for ``key`` if the cache holds a valid one; never blocks."""
        if self.closed:
            return None
        self._apply_changes()
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = anyio.current_time()
        if now - entry.checked_at > self.valid_s:  # the sweeper fell behind: do not trust it
            self._drop(key)
            return None
        entry.users += 1
        entry.used_at = now
        self._entries.move_to_end(key)
        return Lease(entry.source, entry.stat, entry, self._released)

    def add(self, key: Key, source: FileSource, st: os.stat_result, resolved: str, wd: int) -> Lease:
        """Lease a file just opened in a thread after ``watch_folder`` gave ``wd``; keep it for later requests."""
        if self.closed:  # closed while the file was being opened: the request alone owns it
            return Lease(source, st, None, lambda lease: lease.source)
        folder, name = os.path.split(resolved)
        self._watches[folder] = wd
        self._folders[wd] = folder
        if key in self._entries:  # opened twice at once: this one is the request's alone
            return Lease(source, st, None, lambda lease: lease.source)
        now = anyio.current_time()
        entry = CachedFile(source, st, folder, name, checked_at=now, used_at=now, users=1)
        self._entries[key] = entry
        self._keys_by_file.setdefault((folder, name), set()).add(key)
        # A change between the watch and the open is queued by now: if there was one, the entry
        # is dropped at once, and this request alone reads the file it opened.
        self._apply_changes()
        while len(self._entries) > self.max_entries and self._evict_one():
            pass
        return Lease(source, st, entry, self._released)

    def watch_folder(self, resolved: str) -> int:
        """Blocking: watch the folder of a file, before opening it. Call from the opening thread.

        Watching a folder again returns the same descriptor, so this needs no lock.
        Once the cache is closed, raises as for a folder that cannot be watched.
        """
        if self.closed:
            raise OSError(errno.ENOENT, "the open-file cache is closed", resolved)
        return self._inotify.add_watch(os.path.dirname(resolved))

    def _released(self, lease: Lease) -> FileSource | None:
        entry = lease._entry
        assert entry is not None
        entry.users -= 1
        entry.used_at = anyio.current_time()
        if entry.dropped and entry.users == 0:
            self._draining.discard(entry.source)
            return entry.source
        return None

    def _apply_changes(self) -> None:
        if self.closed:
            return
        events = self._inotify.read_events()
        if not events:
            return
        for wd, mask, name in events:
            if mask & IN_Q_OVERFLOW:  # events were lost: trust nothing
                for key in list(self._entries):
                    self._drop(key)
                continue
            folder = self._folders.get(wd)
            if folder is None:
                continue
            if mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED):  # the folder itself: rare
                keys = [key for key, entry in self._entries.items() if entry.folder == folder]
            else:  # one file: looked up, since a folder being written to sends many events
                keys = list(self._keys_by_file.get((folder, name), ()))
            for key in keys:
                self._drop(key)
            if mask & IN_IGNORED:  # the kernel removed the watch (the folder is gone)
                self._forget_watch(folder)

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key)
        keys = self._keys_by_file[(entry.folder, entry.name)]
        keys.discard(key)
        if not keys:
            del self._keys_by_file[(entry.folder, entry.name)]
        entry.dropped = True
        if entry.users == 0:
            self._to_close.append(entry.source)
        else:
            self._draining.add(entry.source)

    def _evict_one(self) -> bool:
        for key, entry in self._entries.items():  # least recently used first
            if entry.users == 0:
                self._drop(key)
                return True
        return False  # every entry is in use: allow more for now

    def _forget_watch(self, folder: str) -> None:
        wd = self._watches.pop(folder, None)
        if wd is not None:
            self._folders.pop(wd, None)

    def _take_expired(self) -> list[FileSource]:
        """Drop idle and outdated entries; the sources to close.

        Watches stay until the server stops (or their folder goes): one per folder ever
        served, and removing one could race a thread that is adding it back.
        """
        self._apply_changes()
        now = anyio.current_time()
        for key, entry in list(self._entries.items()):
            if entry.users == 0 and now - entry.used_at > self.inactive_s:
                self._drop(key)
        to_close, self._to_close = self._to_close, []
        return to_close

    async def sweep(self) -> None:
        """Close what was dropped or idle, and check the entries due (each in one worker-thread hop)."""
        due = [(key, entry) for key, entry in self._entries.items()
               if anyio.current_time() - entry.checked_at > self.valid_s / 2]
        if due:
            started = anyio.current_time()
            checks = [(os.path.join(*key), os.path.join(entry.folder, entry.name), entry.stat) for key, entry in due]
            verdicts = await anyio.to_thread.run_sync(_check_all, checks, limiter=io_limiter())
            for (key, entry), same in zip(due, verdicts):
                if self._entries.get(key) is not entry:
                    continue  # dropped or replaced meanwhile
                if same:
                    entry.checked_at = started
                else:
                    self._drop(key)
        to_close = self._take_expired()
        if to_close:  # shielded from the start: a cancel before the thread starts would lose them
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close_all, to_close, limiter=io_limiter())

    async def run(self) -> None:
        """Sweep until cancelled or closed, often enough that an idle file closes about ``inactive_s`` after its last use.

        A second ``run`` at the same time (two dependencies sharing this cache) waits
        instead of sweeping too.
        """
        if self._running:
            while not self.closed:
                await anyio.sleep(self.inactive_s)
            return
        self._running = True
        interval = min(self.inactive_s, self.valid_s) / 4
        try:
            while not self.closed:
                await anyio.sleep(interval)
                if not self.closed:
                    await self.sweep()
        finally:
            self._running = False

    async def aclose(self) -> None:
        """Close every file, in use or not, and stop watching: for server shutdown.

        Streams still running were cancelled by then; a read they still attempt fails
        (``SourceClosedError``), and a close by their late release does nothing.
        Idempotent and safe in any order with ``run``: once closed, the cache holds
        nothing, sweeps nothing and never touches the inotify descriptor again.
        """
        if self.closed:
            return
        self.closed = True
        sources = [entry.source for entry in self._entries.values()] + self._to_close + list(self._draining)
        self._entries.clear()
        self._keys_by_file.clear()
        self._to_close = []
        self._draining.clear()
        self._watches.clear()
        self._folders.clear()
        self._inotify.close()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close_all, sources, limiter=io_limiter())


def _check_all(checks: list[tuple[str, str, os.stat_result]]) -> list[bool]:
    return [still_names(path, resolved, st) for path, resolved, st in checks]


def _close_all(sources: list[FileSource]) -> None:
    for source in sources:
        source.close()


def is_missing_watch(exc: OSError) -> bool:
    """A folder that could not be watched (gone, or too many watches): serve it uncached."""
    return exc.errno in (errno.ENOENT, errno.ENOSPC, errno.ENOTDIR, errno.EACCES)
