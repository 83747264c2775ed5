"""File sources: the only code that opens, stats, reads and closes media files.

Every call here blocks, so the shells run them in worker threads (``io_limiter``),
with one exception: ``FileSource.read_cached`` reads with ``RWF_NOWAIT``, which
the kernel answers from the page cache or refuses at once, so the event loop may
call it and hop to a thread only when it returns ``None``; ``FileSource.send_cached``
likewise ``sendfile``s only a span the page cache holds whole (``cachestat``). Reads are positional
(``os.pread``), so ``(offset, length)`` fully describes a chunk and threads
share no seek pointer. ``FileSource.close`` is idempotent and
waits for the reads in flight, so a descriptor is never closed under a reader.
A file is opened beneath the root's descriptor along a path free of symlinks
(``openat2`` with ``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS``, or a walk of
``openat`` with ``O_NOFOLLOW`` where the kernel lacks it): a folder swapped for
a symlink after the path was checked makes the open fail, never escape the root.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import threading
import warnings
from collections.abc import Callable

from streamer.http.paths import is_served_name
from streamer.sources.base import SourceClosedError, SourceTruncatedError, refuse_copy

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW
SYS_OPENAT2 = 437  # the same number on every Linux architecture (the unified syscall table)
SYS_CACHESTAT = 451  # likewise
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
OPENAT2_RETRIES = 3  # EAGAIN: a rename raced the lookup; the kernel asks for a retry


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

    def fileno(self) -> int:
        """The descriptor: a child process reopens the same file as ``/proc/<pid>/fd/<n>``, wherever it moved."""
        return self._fd

    def __reduce_ex__(self, protocol: object) -> object:
        raise refuse_copy(f"FileSource {self.name!r}")

    def __del__(self) -> None:
        # An owner forgot to close: say so, as an unclosed file does. A half-made object (its
        # __init__ failed) holds nothing.
        if not getattr(self, "_closed", True):
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

    def send_cached(self, out_fd: int, offset: int, count: int) -> int | None:
        """``sendfile`` of up to ``count`` bytes at ``offset`` to ``out_fd`` if all are in the page cache, else ``None``.

        Never waits on the disk, so the event loop may call it: the kernel's page-cache
        count for the span (``cachestat``) is checked first, and a span not wholly resident,
        a kernel without ``cachestat`` or a lock held this instant answer ``None`` (then
        ``send_at``, in a thread). Returns what the kernel took (0 at end of file);
        raises ``BlockingIOError`` when ``out_fd`` (non-blocking) is full.
        """
        if _cached_pages is None or not self._enter(wait=False):
            return None
        try:
            if _cached_pages(self._fd, offset, count) < _pages_spanned(offset, count):
                return None
            return os.sendfile(out_fd, self._fd, offset, count)
        finally:
            self._exit()

    def prefetch(self, offset: int, count: int) -> None:
        """Have the kernel start reading the span into the page cache (``POSIX_FADV_WILLNEED``); waits for no read."""
        if not self._enter(wait=False):
            return
        try:
            os.posix_fadvise(self._fd, offset, count, os.POSIX_FADV_WILLNEED)
        finally:
            self._exit()

    def ready(self, offset: int, count: int) -> bool:
        """Whether every byte of the span can be read now, without the disk (pages cached *and* read in). Never waits."""
        if _read_nowait is None or not self._enter(wait=False):
            return False
        try:
            return _read_nowait(self._fd, offset, count, copy=False) is not None
        finally:
            self._exit()

    def send_at(self, out_fd: int, offset: int, count: int) -> int:
        """Blocking (it may read the disk): one ``sendfile`` of up to ``count`` bytes; 0 at end of file."""
        self._enter(wait=True)
        try:
            return os.sendfile(out_fd, self._fd, offset, count)
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


def _preadv_nowait(fd: int, offset: int, length: int, copy: bool = True) -> bytes | None:
    """``pread`` that only takes what the page cache holds: all ``length`` bytes, or ``None``.

    ``copy=False``: only whether it could (the bytes answered are then empty).
    """
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
    if got != length:
        return None
    return bytes(view) if copy else b""


# Linux 4.14+; elsewhere every read of a blocking source goes to a thread.
_read_nowait: Callable[..., bytes | None] | None = (
    _preadv_nowait if hasattr(os, "preadv") and hasattr(os, "RWF_NOWAIT") else None
)


class _CachestatRange(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Cachestat(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")]


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _pages_spanned(offset: int, count: int) -> int:
    return (offset + count - 1) // PAGE_SIZE - offset // PAGE_SIZE + 1 if count > 0 else 0


def _cachestat(fd: int, offset: int, count: int) -> int:
    """How many pages of ``[offset, offset + count)`` are in the page cache (Linux 6.5+ ``cachestat``). Never waits."""
    span, result = _CachestatRange(offset, count), _Cachestat()
    if _libc.syscall(SYS_CACHESTAT, fd, ctypes.byref(span), ctypes.byref(result), 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return int(result.cache)


def _has_cachestat() -> bool:
    try:
        _cachestat(-1, 0, 1)
    except OSError as exc:
        return exc.errno == errno.EBADF  # implemented (it looked at the descriptor); ENOSYS/EPERM: not here
    return True


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_has_openat2 = True  # until the kernel (or a seccomp filter) says otherwise
# Linux 6.5+; elsewhere nothing is sent from a file on the event loop (send_cached says None).
_cached_pages: Callable[[int, int, int], int] | None = _cachestat if _has_cachestat() else None


def sendfile_on_loop() -> bool:
    """Whether ``FileSource.send_cached`` can ever send (the kernel tells what the page cache holds)."""
    return _cached_pages is not None


def _openat2(dir_fd: int, relative: str) -> int:
    how = _OpenHow(_OPEN_FLAGS, 0, _RESOLVE)
    args = (ctypes.c_int(dir_fd), ctypes.c_char_p(os.fsencode(relative)), ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    for _ in range(OPENAT2_RETRIES):
        fd = _libc.syscall(SYS_OPENAT2, *args)
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code != errno.EAGAIN:
            raise OSError(code, os.strerror(code), relative)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), relative)


def _openat_walk(dir_fd: int, relative: str) -> int:
    """What ``openat2`` does, one component at a time, each opened with ``O_NOFOLLOW``."""
    *folders, name = relative.split(os.sep)
    current = dir_fd
    try:
        for folder in folders:
            parent, current = current, os.open(folder, _DIR_FLAGS, dir_fd=current)
            if parent != dir_fd:
                os.close(parent)
        return os.open(name, _OPEN_FLAGS, dir_fd=current)
    finally:
        if current != dir_fd:
            os.close(current)


def open_beneath(root: str, relative: str) -> int:
    """A descriptor for ``root/relative``, reached without following any symlink and without leaving ``root``.

    A symlink anywhere on the way is ``ELOOP``, an escape ``EXDEV``: the caller
    passes a path ``os.path.realpath`` already resolved, so either means it changed.
    """
    global _has_openat2
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        if _has_openat2:
            try:
                return _openat2(root_fd, relative)
            except OSError as exc:
                if exc.errno not in (errno.ENOSYS, errno.EPERM):  # EPERM: a seccomp filter refused it
                    raise
                _has_openat2 = False
        return _openat_walk(root_fd, relative)
    finally:
        os.close(root_fd)


def open_real_path(resolved: str) -> int:
    """A descriptor for ``resolved`` (a path ``resolve_in_root`` gave: absolute, free of symlinks),
    opened without following any symlink, so a folder on the way swapped for one since is ``ELOOP``."""
    if not os.path.isabs(resolved):
        raise ValueError(f"not an absolute path: {resolved!r}")
    return open_beneath("/", resolved.lstrip("/"))


def _not_found(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)


def resolve_in_root(root: str, names: tuple[str, ...]) -> str:
    """The real path of ``root/names``, if it lies inside ``root`` and no part of it is hidden.

    Symlinks are followed, so a link inside the root that points outside it, or
    into a dot-directory, is refused. Raises ``FileNotFoundError`` otherwise.
    """
    try:
        resolved = os.path.realpath(os.path.join(root, *names))
    except OSError as exc:  # a link replaced by a folder while realpath read it (EINVAL): the path is changing
        raise _not_found("/".join(names)) from exc
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
    return open_resolved(root, resolve_in_root(root, names), names)


def open_resolved(root: str, resolved: str, names: tuple[str, ...]) -> tuple[FileSource, os.stat_result]:
    """``open_file_source`` for a path ``resolve_in_root(root, names)`` already gave."""
    try:
        mode = os.stat(resolved).st_mode
        if not stat.S_ISREG(mode):  # never open a FIFO or a device
            raise _not_found("/".join(names))
        fd = open_beneath(root, os.path.relpath(resolved, root))
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR):  # a symlink loop, or the path changed since checked
            raise _not_found("/".join(names)) from exc
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_found("/".join(names))
    except BaseException:
        os.close(fd)
        raise
    return FileSource(fd, "/".join(names)), st
