"""File sources: the only code that opens, stats, reads and closes media files.

Every call here blocks, so the shells run them in worker threads (``io_limiter``),
with one exception: ``FileSource.read_cached`` reads with ``RWF_NOWAIT``, which
the kernel answers from the page cache or refuses at once, so the event loop may
call it and hop to a thread only when it returns ``None``. Reads are positional
(``os.pread``), so ``(offset, length)`` fully describes a chunk and threads
share no seek pointer. ``FileSource.close`` is idempotent and
waits for the reads in flight, so a descriptor is never closed under a reader.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import warnings
from collections.abc import Callable

from streamer.http.paths import is_served_name
from streamer.sources.base import SourceClosedError, SourceTruncatedError

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW


class FileSource:
    """An open regular file read by position, by any number of readers at once; one owner closes it."""

    blocking = True

    def __init__(self, fd: int, name: str) -> None:
        self._fd = fd
        self._lock = threading.Condition()  # guards the two fields below; never held during a read
        self._readers = 0
        self._closed = False
        self.name = name

    @property
    def closed(self) -> bool:
        return self._closed

    def __del__(self) -> None:
        if not self._closed:  # an owner forgot to close: say so, as an unclosed file does
            warnings.warn(f"unclosed FileSource {self.name!r}", ResourceWarning, stacklevel=1)
            self.close()

    def read_at(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``; raises rather than return fewer."""
        self._enter(wait=True)
        try:
            data = os.pread(self._fd, length, offset)
            while len(data) < length:
                more = os.pread(self._fd, length - len(data), offset + len(data))
                if not more:
                    raise SourceTruncatedError(f"{self.name}: ended at {offset + len(data)}")
                data += more
            return data
        finally:
            self._exit()

    def read_cached(self, offset: int, length: int) -> bytes | None:
        """Exactly ``length`` bytes at ``offset`` if all of them are in the page cache, else ``None``.

        Never waits, so the event loop may call it: not on the disk (``RWF_NOWAIT``: the
        kernel refuses what it would have to fetch), and not on the lock (held by another
        thread this instant: ``None``). ``None`` also for a short answer, which may be
        the end of a truncated file: ``read_at``, in a thread, reads or raises.
        """
        if _read_nowait is None or not self._enter(wait=False):
            return None
        try:
            return _read_nowait(self._fd, offset, length)
        finally:
            self._exit()

    def _enter(self, *, wait: bool) -> bool:
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            if self._closed:
                raise SourceClosedError(self.name)
            self._readers += 1
            return True
        finally:
            self._lock.release()

    def _exit(self) -> None:
        with self._lock:
            self._readers -= 1
            if self._readers == 0:
                self._lock.notify_all()

    def close(self) -> None:
        """Close the descriptor once the reads in flight are done; later reads fail."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.wait_for(lambda: self._readers == 0)
            os.close(self._fd)


class _LoopBuffer(threading.local):
    """One read buffer per thread, reused: a fresh one would cost a page fault per 4 KiB."""

    data = bytearray()


_loop_buffer = _LoopBuffer()


def _preadv_nowait(fd: int, offset: int, length: int) -> bytes | None:
    """``pread`` that only takes what the page cache holds: all ``length`` bytes, or ``None``."""
    if len(_loop_buffer.data) < length:
        _loop_buffer.data = bytearray(length)
    view = memoryview(_loop_buffer.data)[:length]
    try:
        got = os.preadv(fd, [view], offset, os.RWF_NOWAIT)
    except (BlockingIOError, InterruptedError):
        return None  # some of it would come from the disk
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            return None  # a file system without RWF_NOWAIT: every read in a thread
        raise
    return bytes(view) if got == length else None


# Linux 4.14+; elsewhere every read of a blocking source goes to a thread.
_read_nowait: Callable[[int, int, int], bytes | None] | None = (
    _preadv_nowait if hasattr(os, "preadv") and hasattr(os, "RWF_NOWAIT") else None
)


def _not_found(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)


def resolve_in_root(root: str, names: tuple[str, ...]) -> str:
    """The real path of ``root/names``, if it lies inside ``root`` and no part of it is hidden.

    Symlinks are followed, so a link inside the root that points outside it, or
    into a dot-directory, is refused. Raises ``FileNotFoundError`` otherwise.
    """
    resolved = os.path.realpath(os.path.join(root, *names))
    if resolved == root:
        return resolved
    relative = os.path.relpath(resolved, root)
    if relative.startswith(os.pardir) or not all(map(is_served_name, relative.split(os.sep))):
        raise _not_found("/".join(names))
    return resolved


def open_file_source(root: str, names: tuple[str, ...]) -> tuple[FileSource, os.stat_result]:
    """Open ``root/names`` if it resolves to a regular, non-hidden file inside ``root``.

    ``root`` must already be a real path. Returns the source and the ``fstat``
    of its descriptor, so headers and bytes describe the same file. Raises
    ``FileNotFoundError`` for anything that may not be served.
    """
    return open_resolved(resolve_in_root(root, names), names)


def open_resolved(resolved: str, names: tuple[str, ...]) -> tuple[FileSource, os.stat_result]:
    """``open_file_source`` for a path ``resolve_in_root`` already gave."""
    try:
        mode = os.stat(resolved).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink loop names nothing
            raise _not_found("/".join(names)) from exc
        raise
    if not stat.S_ISREG(mode):  # never open a FIFO or a device
        raise _not_found("/".join(names))
    fd = os.open(resolved, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_found("/".join(names))
    except BaseException:
        os.close(fd)
        raise
    return FileSource(fd, "/".join(names)), st
