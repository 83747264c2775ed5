"""Request paths: which URL paths may name a file under the media root.

No I/O in this module. A path is accepted only as a tuple of plain names:
no empty, ``.`` or ``..`` segment, no dotfile or dot-directory, no backslash,
NUL or control character, nothing absolute, and bounded lengths. Symlinks are
checked where the filesystem is, in ``sources.open_file_source``.
"""

from __future__ import annotations

MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255  # NAME_MAX on Linux


def is_served_name(name: str) -> bool:
    """A single path segment that may be served: non-empty, not hidden, bounded, printable."""
    return (
        bool(name)
        and not name.startswith(".")
        and len(name.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES
        and all(ch.isprintable() and ch != "\\" for ch in name)
    )


def parse_media_path(raw: str) -> tuple[str, ...] | None:
    """Split a decoded URL path relative to the media root, or ``None`` if it may not be served."""
    if not raw or raw.startswith("/") or len(raw.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return None
    names = tuple(raw.split("/"))
    return names if all(is_served_name(name) for name in names) else None
