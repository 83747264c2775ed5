"""ProbeCache on real files and a real SQLite file: restart survival, invalidation, single flight, deadlines, closing."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from streamer.media.probe import probe_file
from streamer.media.probecache import ProbeCache, ProbeKey
from tests.conftest import fd_targets
from tests.media.factory import make_av


class SlowProbe:
    """The real probe, delayed, recording which thread ran each call."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[str] = []
        self.threads: set[int] = set()

    def __call__(self, path: str) -> dict[str, Any]:
        self.calls.append(path)
        self.threads.add(threading.get_ident())
        time.sleep(self.delay_s)
        return probe_file(path)


def key_of(path: Path) -> ProbeKey:
    st = path.stat()
    return ProbeKey(str(path), st.st_size, st.st_mtime_ns)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_av(tmp_path_factory.mktemp("clips") / "clip.mp4", "mp4", "libx264", "aac")


def run(func: Callable[[], Awaitable[Any]]) -> Any:
    return anyio.run(func)


def test_results_survive_a_restart(tmp_path: Path, clip: Path) -> None:
    db, probe = tmp_path / "cache" / "probes.sqlite3", SlowProbe()

    async def once() -> dict[str, Any] | None:
        cache = ProbeCache(db, probe)
        try:
            return await cache.get(key_of(clip))
        finally:
            await cache.aclose()

    first, second = run(once), run(once)
    assert first == second and first is not None and first["ok"]
    assert probe.calls == [str(clip)]  # the second cache read the first one's row
    assert threading.get_ident() not in probe.threads


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 1_000_000_000)), id="touched"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes() + b"\0"), id="rewritten-longer"),
    ],
)
def test_a_changed_file_is_probed_again(tmp_path: Path, clip: Path, change: Callable[[Path], object]) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip.read_bytes())
    probe = SlowProbe()

    async def main() -> None:
        cache = ProbeCache(tmp_path / "probes.sqlite3", probe)
        try:
            await cache.get(key_of(path))
            await cache.get(key_of(path))
            assert len(probe.calls) == 1
            change(path)
            assert (await cache.get(key_of(path)) or {}).get("ok")
            assert len(probe.calls) == 2
        finally:
            await cache.aclose()

    run(main)


def test_concurrent_requests_probe_once(tmp_path: Path, clip: Path) -> None:
    probe = SlowProbe(0.2)

    async def main() -> list[Any]:
        cache = ProbeCache(tmp_path / "probes.sqlite3", probe)
        results: list[Any] = []

        async def ask() -> None:
            results.append(await cache.get(key_of(clip)))

        try:
            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(ask)
        finally:
            await cache.aclose()
        return results

    results = run(main)
    assert len(probe.calls) == 1 and len(results) == 8 and all(r == results[0] for r in results)


def test_deadline_leaves_slow_probes_pending_and_running(tmp_path: Path, clip: Path) -> None:
    probe = SlowProbe(0.3)

    async def main() -> None:
        cache = ProbeCache(tmp_path / "probes.sqlite3", probe)
        try:
            start = time.monotonic()
            found, pending = await cache.get_many([key_of(clip)], deadline_s=0.05)
            assert time.monotonic() - start < 0.25
            assert (found, pending) == ({}, [key_of(clip)])
            await anyio.sleep(0.5)  # nobody waits, yet the probe finishes and is stored
            found, pending = await cache.get_many([key_of(clip)], deadline_s=0)
            assert pending == [] and found[key_of(clip)]["ok"]
            assert len(probe.calls) == 1
        finally:
            await cache.aclose()

    run(main)


def test_a_file_changing_during_its_probe_is_not_stored(tmp_path: Path, clip: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip.read_bytes())
    stale = key_of(path)
    path.write_bytes(clip.read_bytes() + b"more")
    probe = SlowProbe()

    async def main() -> None:
        cache = ProbeCache(tmp_path / "probes.sqlite3", probe)
        try:
            await cache.get(stale)
            await cache.get(stale)
        finally:
            await cache.aclose()

    run(main)
    assert len(probe.calls) == 2


def test_close_is_idempotent_and_releases_the_database(tmp_path: Path, clip: Path) -> None:
    async def main() -> None:
        cache = ProbeCache(tmp_path / "probes.sqlite3", SlowProbe())
        await cache.get(key_of(clip))
        assert fd_targets(under=tmp_path)
        await cache.aclose()
        await cache.aclose()
        assert fd_targets(under=tmp_path) == []
        assert await cache.get_many([key_of(clip)], deadline_s=0) == ({}, [key_of(clip)])

    run(main)


def test_close_stops_queued_probes(tmp_path: Path, clip: Path) -> None:
    probe = SlowProbe(0.1)
    others = []
    for index in range(6):
        other = tmp_path / f"clip{index}.mp4"
        other.write_bytes(clip.read_bytes())
        others.append(key_of(other))

    async def main() -> None:
        cache = ProbeCache(tmp_path / "probes.sqlite3", probe, concurrency=1)
        await cache.get_many(others, deadline_s=0)
        assert cache.inflight == len(others)
        await cache.aclose()
        assert cache.inflight == 0

    run(main)
    assert len(probe.calls) < len(others)
