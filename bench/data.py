"""The files every server serves: random bytes of fixed sizes, made once and reused.

A file of the right size is kept from an earlier run; anything else is written
afresh (through a temporary name, so a broken run never leaves a short file
that looks finished). Every file is then read once so the page cache is warm.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.config import GIB, KIB, MIB, BenchConfig

WRITE_CHUNK_BYTES = 16 * MIB
READ_CHUNK_BYTES = 8 * MIB


@dataclass(frozen=True)
class DataFiles:
    folder: Path
    big: Path  # (a), (c), (e), (g): 1 GiB, or 10 MiB in smoke runs
    mid: Path  # (b): 10 MiB
    small: Path  # (d): 100 KiB


def file_name(size: int) -> str:
    """``1GiB.bin``, ``10MiB.bin``, ``100KiB.bin``, or ``<bytes>.bin`` for other sizes."""
    for unit, name in ((GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
        if size % unit == 0:
            return f"{size // unit}{name}.bin"
    return f"{size}.bin"


def ensure_random_file(path: Path, size: int) -> bool:
    """Make ``path`` hold ``size`` random bytes; True if it had to be written."""
    if path.is_file() and path.stat().st_size == size:
        return False
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        remaining = size
        while remaining:
            block = os.urandom(min(WRITE_CHUNK_BYTES, remaining))
            out.write(block)
            remaining -= len(block)
    os.replace(partial, path)
    return True


def warm_page_cache(path: Path) -> None:
    """Read the whole file once so every server finds it in memory."""
    with open(path, "rb", buffering=0) as f:
        while f.read(READ_CHUNK_BYTES):
            pass


def prepare_data(config: BenchConfig) -> DataFiles:
    """The three files, in ``config.data_dir``, page cache warm."""
    folder = config.data_dir
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role, size in (("big", config.big_file_bytes), ("mid", config.mid_file_bytes), ("small", config.small_file_bytes)):
        path = folder / file_name(size)
        ensure_random_file(path, size)
        warm_page_cache(path)
        paths[role] = path
    return DataFiles(folder, **paths)


def remove_data(files: DataFiles) -> None:
    """Delete the data files, and the folder if nothing else is left in it."""
    for path in {files.big, files.mid, files.small}:
        path.unlink(missing_ok=True)
    if files.folder.is_dir() and not any(files.folder.iterdir()):
        shutil.rmtree(files.folder, ignore_errors=True)
