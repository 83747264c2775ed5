"""inotify through libc: the few calls the open-file cache needs; reading never blocks.

No dependency and no thread: the descriptor is non-blocking, so the event loop drains
it before each lookup. ``add_watch`` resolves a path and so belongs in a worker thread.
"""

from __future__ import annotations

import ctypes
import os
import struct

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED = 0x400, 0x800, 0x4000, 0x8000
IN_ONLYDIR, IN_NONBLOCK, IN_CLOEXEC = 0x01000000, os.O_NONBLOCK, os.O_CLOEXEC
WATCH_MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
    | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
)
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then len bytes of name

def libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch  # noqa: B018 - present?
    except (OSError, AttributeError):
        return None
    return libc


class Inotify:
    """The few inotify calls the cache needs, through libc. Reading never blocks."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._libc = libc
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    def add_watch(self, folder: str) -> int:
        """Blocking (it resolves a path): call it from a worker thread."""
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(folder), WATCH_MASK)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), folder)
        return wd

    def read_events(self) -> list[tuple[int, int, str]]:
        """Every queued ``(wd, mask, name)``; an empty list when there is none."""
        events: list[tuple[int, int, str]] = []
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return events
            offset = 0
            while offset < len(data):
                wd, mask, _, size = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + size].rstrip(b"\0")
                events.append((wd, mask, os.fsdecode(name)))
                offset += _EVENT.size + size

    def close(self) -> None:
        """Idempotent: the descriptor number is closed once, never again after another file reuses it."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)
