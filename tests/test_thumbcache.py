"""The thumbnail cache on a real directory: single flight, shared errors, LRU by bytes, atomic writes, restart."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from streamer.media.thumbcache import TEMP_DIR, ThumbCache, cache_name

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def writer(data: bytes, calls: list[str], delay: float = 0.0):  # type: ignore[no-untyped-def]
    async def make(path: str) -> None:
        calls.append(path)
        await anyio.sleep(delay)
        Path(path).write_bytes(data)

    return make


async def test_concurrent_misses_make_once(tmp_path: Path) -> None:
    cache, calls, got = ThumbCache(tmp_path), [], []

    async def ask() -> None:
        got.append(await cache.get_or_make("a", writer(b"image", calls, 0.1)))

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(ask)
    assert got == [b"image"] * 8 and len(calls) == 1
    assert await cache.get_or_make("a", writer(b"other", calls)) == b"image" and len(calls) == 1  # a hit


async def test_waiters_share_the_makers_error_and_nothing_is_left(tmp_path: Path) -> None:
    cache, errors = ThumbCache(tmp_path), []

    async def fail(path: str) -> None:
        Path(path).write_bytes(b"half")
        await anyio.sleep(0.1)
        raise ValueError("bad input")

    async def ask() -> None:
        try:
            await cache.get_or_make("a", fail)
        except ValueError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(ask)
    assert len(errors) == 3 and len({id(e) for e in errors}) == 1
    assert list((tmp_path / TEMP_DIR).iterdir()) == [] and await cache.get("a") is None


async def test_a_cancelled_maker_hands_over_to_a_waiter(tmp_path: Path) -> None:
    cache, calls = ThumbCache(tmp_path), []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: cache.get_or_make("a", writer(b"x", calls, 5)))
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()  # the maker's client left
    assert await cache.get_or_make("a", writer(b"y", calls)) == b"y" and len(calls) == 2


async def test_least_recently_used_goes_first_when_over_the_bound(tmp_path: Path) -> None:
    cache, calls = ThumbCache(tmp_path, max_bytes=250), []
    for name in ("a", "b"):
        await cache.get_or_make(name, writer(b"x" * 100, calls))
    await cache.get("a")  # now b is the least recently used
    await cache.get_or_make("c", writer(b"x" * 100, calls))
    assert await cache.get("b") is None
    assert await cache.get("a") is not None and await cache.get("c") is not None
    assert cache.total == 200 and len(cache) == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["a", "c"]


async def test_a_new_cache_indexes_what_is_there_and_drops_leftovers(tmp_path: Path) -> None:
    first = ThumbCache(tmp_path)
    await first.get_or_make("a", writer(b"x" * 10, []))
    (tmp_path / TEMP_DIR / "crashed.part").write_bytes(b"half")
    second = ThumbCache(tmp_path, max_bytes=1000)
    assert await second.get("a") == b"x" * 10
    assert second.total == 10 and list((tmp_path / TEMP_DIR).iterdir()) == []


def test_cache_name_changes_with_every_part_of_the_key() -> None:
    base = ("/m/a.jpg", 100, 1_000, 320, "webp")
    names = {cache_name(*base)} | {cache_name(*base[:i], "changed", *base[i + 1 :]) for i in range(len(base))}
    assert len(names) == len(base) + 1
