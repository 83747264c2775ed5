"""Opened PyAV input containers kept for the next segment of the same file: a small bounded pool.

Opening a source makes FFmpeg probe its streams (it decodes frames: about half of a
1080p segment's time); each segment seeks anyway, so a container can serve the next one.
A container is checked out by one segment at a time and goes back only when that
segment succeeded or stopped on purpose between packets (``StoppedBetweenPackets``: its
deadline passed or its client left; the next segment seeks anyway), and is closed on any
other error. Idle containers are closed when evicted (least recently used beyond
``size``), when idle for ``idle_s`` (looked at on the next checkout), when a checkout finds
their file changed (another version under the same name), and by ``close()``. Containers
opened from a path are kept; one opened from a reader only when its caller gives the reader
up (``keep_reader``: an object's reader, pinned to one version, holds no descriptor).
Blocking; thread-safe.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from streamer.media.hlsaudio import Input, open_input

POOL_SIZE = 4  # idle containers kept, over all files
IDLE_S = 60.0  # an idle container is closed after this long unused (a deleted file is let go)
# A file's version: its name (a real path) first, then what tells its contents apart (size, mtime)
Identity = tuple[Hashable, ...]


class StoppedBetweenPackets(Exception):
    """Work stopped on purpose between two packets: the container it used is sound and may serve again."""


class _Idle(NamedTuple):
    identity: Identity
    since: float  # time.monotonic() when it was given back
    container: Any


class InputPool:
    """Idle input containers by file identity; ``checkout`` one for a segment."""

    def __init__(self, size: int = POOL_SIZE, idle_s: float = IDLE_S) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self.size = size
        self.idle_s = idle_s
        self._idle: list[_Idle] = []  # least recently given back first
        self._lock = threading.Lock()
        self._closed = False
        self.opened = 0  # containers opened afresh
        self.reused = 0  # checkouts served by an idle container

    def __len__(self) -> int:
        return len(self._idle)

    def idle_names(self) -> list[Hashable]:
        """The names (real paths) of the files idle containers hold open."""
        with self._lock:
            return [entry.identity[0] for entry in self._idle]

    @contextmanager
    def checkout(self, identity: Identity, source: Input, *, keep_reader: bool = False) -> Iterator[Any]:
        """A container of the file version ``identity`` names: an idle one, else ``source`` opened.

        ``source`` must be that very version (e.g. ``/proc/self/fd/N`` of a descriptor whose
        ``fstat`` gave ``identity``). The container goes back to the pool when the block ends
        normally or by ``StoppedBetweenPackets``, and is closed if anything else is raised. A
        reader (not a path) is opened and closed as usual, unless ``keep_reader``: then the
        container keeps it, and an idle one may serve instead.
        """
        if not isinstance(source, (str, os.PathLike)) and not keep_reader:
            with open_input(source) as container:
                yield container
            return
        container = self._take(identity)
        if container is None:
            container = open_input(source)
            self.opened += 1
        try:
            yield container
        except StoppedBetweenPackets:
            self._give_back(identity, container)
            raise
        except BaseException:
            container.close()
            raise
        self._give_back(identity, container)

    def close(self) -> None:
        """Close every idle container; containers given back later are closed then."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        _close_all(entry.container for entry in idle)

    def _take(self, identity: Identity) -> Any | None:
        now = time.monotonic()
        found = None
        with self._lock:
            keep, drop = [], []
            for entry in self._idle:
                stale = now - entry.since > self.idle_s or (entry.identity[0] == identity[0] and entry.identity != identity)
                (drop if stale else keep).append(entry)
            mine = [i for i, entry in enumerate(keep) if entry.identity == identity]
            if mine:
                found = keep.pop(mine[-1]).container  # the most recently used
                self.reused += 1
            self._idle = keep
        _close_all(entry.container for entry in drop)
        return found

    def _give_back(self, identity: Identity, container: Any) -> None:
        with self._lock:
            if self._closed:
                drop = [container]
            else:
                self._idle.append(_Idle(identity, time.monotonic(), container))
                drop = [entry.container for entry in self._idle[: max(0, len(self._idle) - self.size)]]
                del self._idle[: len(drop)]
        _close_all(drop)


def _close_all(containers: Any) -> None:
    for container in containers:
        container.close()
