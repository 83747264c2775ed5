"""Closing is idempotent and safe in any order: a descriptor number is never closed twice.

A second close of a number that another file has reused by then would close that
file. Each test reopens something right after the first close, so that it takes the
freed number, and checks that it is still open after every later close.
"""

from __future__ import annotations

import copy
import gc
import os
import pickle
from pathlib import Path

import anyio
import pytest
from fastapi.encoders import jsonable_encoder

from streamer import LagMonitor, MediaFile, MediaFiles, OpenFileCache, running
from streamer.sources.base import MemorySource
from streamer.sources.file import FileSource, open_file_source


def cache_or_skip() -> OpenFileCache:
    cache = OpenFileCache.create()
    if cache is None:
        pytest.skip("no inotify on this system")
    return cache


def still_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_second_cache_close_leaves_a_reused_descriptor_alone() -> None:
    async def main() -> None:
        cache = cache_or_skip()
        await cache.aclose()
        reused = os.open(os.devnull, os.O_RDONLY)  # the lowest free number: the inotify one
        try:
            await cache.aclose()
            assert cache.lease(("/", "x")) is None  # a closed cache reads no events from anyone's descriptor
            assert still_open(reused)
        finally:
            os.close(reused)

    anyio.run(main)


@pytest.mark.parametrize("order", ["files-then-cache", "cache-then-files", "twice-each"])
def test_dependencies_sharing_a_cache_close_it_once_in_any_order(tmp_path: Path, order: str) -> None:
    async def main() -> None:
        cache = cache_or_skip()
        first, second = MediaFiles(tmp_path, cache=cache), MediaFiles(tmp_path, cache=cache)
        closes = {
            "files-then-cache": [first.aclose, second.aclose, cache.aclose],
            "cache-then-files": [cache.aclose, first.aclose, second.aclose],
            "twice-each": [first.aclose, first.aclose, second.aclose, second.aclose],
        }[order]
        await closes[0]()
        reused = os.open(os.devnull, os.O_RDONLY)
        try:
            for close in closes[1:]:
                await close()
            assert still_open(reused)
        finally:
            os.close(reused)

    anyio.run(main)


def test_closing_while_the_sweeper_runs_stops_it_without_touching_the_descriptor(tmp_path: Path) -> None:
    """The README's old recipe: ``aclose()`` in the lifespan while ``cache.run`` was still running."""

    async def main() -> None:
        cache = OpenFileCache.create(inactive_s=0.02, valid_s=0.02)
        if cache is None:
            pytest.skip("no inotify on this system")
        files = MediaFiles(tmp_path, cache=cache)
        with anyio.fail_after(2):
            async with anyio.create_task_group() as tg:
                tg.start_soon(files.run)
                tg.start_soon(files.run)  # a second dependency's sweeper: waits, never sweeps twice
                await anyio.sleep(0.05)
                await files.aclose()  # run() returns by itself now

    anyio.run(main)


def test_running_runs_every_part_once_and_closes_it(tmp_path: Path) -> None:
    async def main() -> None:
        cache = cache_or_skip()
        videos, music = MediaFiles(tmp_path, cache=cache), MediaFiles(tmp_path, cache=cache)
        lag = LagMonitor(interval=0.01)
        async with running(videos, music, lag, lag):
            await anyio.sleep(0.1)
        assert lag.snapshot().samples > 0
        assert cache.closed and videos.cache is None and music.cache is None

    anyio.run(main)


def test_file_source_closes_once(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")
    source, _ = open_file_source(str(tmp_path.resolve()), ("a.bin",))
    source.close()
    reused = os.open(os.devnull, os.O_RDONLY)
    try:
        source.close()
        assert still_open(reused)
    finally:
        os.close(reused)


@pytest.mark.parametrize("copier", [pickle.dumps, copy.copy, copy.deepcopy, jsonable_encoder], ids=lambda f: f.__name__)
def test_a_media_file_returned_from_an_endpoint_says_what_to_do(tmp_path: Path, copier: object) -> None:
    """FastAPI serialises whatever an endpoint returns; a MediaFile holds an open file."""
    (tmp_path / "a.bin").write_bytes(b"abc")
    source, _ = open_file_source(str(tmp_path.resolve()), ("a.bin",))
    try:
        for media in (MediaFile(source, ()), MediaFile(MemorySource(b"abc"), ())):
            target = media if copier is jsonable_encoder else media.source
            with pytest.raises(TypeError, match=r"Stream it instead: `yield from media.iter_chunks\(\)`"):
                copier(target)  # type: ignore[operator]
    finally:
        source.close()
    gc.collect()  # no half-made FileSource whose __del__ fails (filterwarnings=error would catch it)


def test_a_half_made_file_source_is_collected_quietly() -> None:
    FileSource.__new__(FileSource).__del__()


def test_a_missing_media_root_fails_at_once_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"media root 'nope' is not a folder .*: create it, or pass the path"):
        MediaFiles("nope")
