"""The open-file cache against real files and real inotify: every change drops the entry, nothing leaks."""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from streamer.sources.filecache import Lease, OpenFileCache
from streamer.sources.file import FileSource, open_file_source, resolve_in_root


def cache_or_skip(**limits: float) -> OpenFileCache:
    cache = OpenFileCache.create(**limits)
    if cache is None:
        pytest.skip("no inotify on this system")
    return cache


class Harness:
    """A cache over ``root``, filled the way MediaFiles fills it: watch the folder, then open."""

    def __init__(self, root: Path, **limits: float) -> None:
        self.root = str(root.resolve())
        self.cache = cache_or_skip(**limits)
        self.opened: list[FileSource] = []

    def lease(self, *names: str) -> Lease:
        cached = self.cache.lease((self.root, *names))
        if cached is not None:
            return cached
        resolved = resolve_in_root(self.root, names)
        wd = self.cache.watch_folder(resolved)
        source, st = open_file_source(self.root, names)
        self.opened.append(source)
        return self.cache.add((self.root, *names), source, st, resolved, wd)

    def hit(self, *names: str) -> bool:
        """Whether ``names`` is served from the cache now (the lease is released at once)."""
        lease = self.cache.lease((self.root, *names))
        if lease is None:
            return False
        assert lease.release() is None
        return True


def run(test: Callable[[], Awaitable[None]]) -> None:
    anyio.run(test)


def test_a_second_request_gets_the_same_open_file(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path)
        first = h.lease("a.bin")
        assert first.release() is None
        second = h.lease("a.bin")
        assert second.source is first.source and len(h.opened) == 1
        assert second.source.read_at(0, 3) == b"abc"
        assert second.release() is None
        await h.cache.aclose()
        assert first.source.closed

    run(main)


def write(path: Path, mode: str, data: bytes) -> None:
    with path.open(mode) as f:
        f.write(data)


CHANGES: list[tuple[str, Callable[[Path], None]]] = [
    ("append", lambda p: write(p, "ab", b"more")),
    ("overwrite-in-place", lambda p: write(p, "r+b", b"X")),
    ("truncate", lambda p: os.truncate(p, 1)),
    ("chmod", lambda p: p.chmod(0o600)),
    ("touch", lambda p: os.utime(p, (1, 1))),
    ("delete", lambda p: p.unlink()),
    ("rename-away", lambda p: p.rename(p.with_name("elsewhere.bin"))),
    ("replace-by-rename", lambda p: (p.with_name("new.tmp").write_bytes(b"new"), p.with_name("new.tmp").replace(p))),
    ("folder-removed", lambda p: shutil.rmtree(p.parent)),
    ("folder-renamed", lambda p: p.parent.rename(p.parent.with_name("moved"))),
]


@pytest.mark.parametrize("change", [c for _, c in CHANGES], ids=[name for name, _ in CHANGES])
def test_any_change_to_the_file_drops_it_before_the_next_request(tmp_path: Path, change: Callable[[Path], None]) -> None:
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path)
        h.lease("sub", "a.bin").release()
        assert h.hit("sub", "a.bin")
        change(folder / "a.bin")
        assert not h.hit("sub", "a.bin")
        await h.cache.sweep()
        assert h.opened[0].closed
        await h.cache.aclose()

    run(main)


def test_a_change_to_another_file_in_the_folder_keeps_the_entry(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path)
        h.lease("a.bin").release()
        (tmp_path / "b.bin").write_bytes(b"other")
        assert h.hit("a.bin")
        await h.cache.aclose()

    run(main)


def test_a_file_in_use_when_it_changes_stays_open_for_its_readers(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path)
        streaming = h.lease("a.bin")
        (tmp_path / "a.bin").unlink()
        assert not h.hit("a.bin")
        await h.cache.sweep()
        assert not streaming.source.closed and streaming.source.read_at(0, 3) == b"abc"
        to_close = streaming.release()
        assert to_close is streaming.source  # the last reader closes it
        to_close.close()
        await h.cache.aclose()

    run(main)


def test_a_change_between_watch_and_open_is_not_cached(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path)
        names = ("a.bin",)
        resolved = resolve_in_root(h.root, names)
        wd = h.cache.watch_folder(resolved)
        source, st = open_file_source(h.root, names)
        (tmp_path / "a.bin").write_bytes(b"changed")  # after the fstat, before the cache has it
        lease = h.cache.add((h.root, *names), source, st, resolved, wd)
        assert not h.hit("a.bin")
        assert lease.release() is source
        source.close()
        await h.cache.aclose()

    run(main)


def test_an_idle_file_is_closed_after_the_idle_time(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path, inactive_s=0.1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.cache.run)
            h.lease("a.bin").release()
            await anyio.sleep(0.05)
            assert h.hit("a.bin")
            await anyio.sleep(0.3)
            assert len(h.cache) == 0 and h.opened[0].closed
            tg.cancel_scope.cancel()
        await h.cache.aclose()

    run(main)


def test_a_file_in_use_is_never_closed_for_idleness(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path, inactive_s=0.05)
        streaming = h.lease("a.bin")
        await anyio.sleep(0.1)
        await h.cache.sweep()
        assert not streaming.source.closed
        assert streaming.release() is None
        await anyio.sleep(0.1)
        await h.cache.sweep()
        assert streaming.source.closed
        await h.cache.aclose()

    run(main)


def test_an_entry_the_sweeper_has_not_confirmed_within_valid_is_opened_afresh(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path, valid_s=0.1, inactive_s=10)
        h.lease("a.bin").release()
        assert h.hit("a.bin")
        await anyio.sleep(0.15)  # no sweep ran
        assert not h.hit("a.bin")
        await h.cache.sweep()
        assert h.opened[0].closed
        await h.cache.aclose()

    run(main)


def test_the_sweeper_keeps_an_unchanged_entry_valid(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path, valid_s=0.2, inactive_s=10)
        h.lease("a.bin").release()
        for _ in range(4):
            await anyio.sleep(0.12)
            await h.cache.sweep()
        assert h.hit("a.bin") and len(h.opened) == 1
        await h.cache.aclose()

    run(main)


def test_the_sweeper_drops_an_entry_whose_path_now_names_another_file(tmp_path: Path) -> None:
    """A symlink along the path retargeted: no inotify event reaches the cached file's folder."""
    for folder, data in (("one", b"first"), ("two", b"second")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.bin").write_bytes(data)
    (tmp_path / "current").symlink_to("one")

    async def main() -> None:
        h = Harness(tmp_path, valid_s=0.1, inactive_s=10)
        h.lease("current", "a.bin").release()
        (tmp_path / "next").symlink_to("two")
        (tmp_path / "next").replace(tmp_path / "current")
        assert h.hit("current", "a.bin")  # inotify saw nothing: the folder "one" did not change
        await anyio.sleep(0.06)
        await h.cache.sweep()
        assert not h.hit("current", "a.bin")
        assert h.lease("current", "a.bin").source.read_at(0, 6) == b"second"
        await h.cache.aclose()

    run(main)


def test_beyond_max_entries_the_least_recently_used_idle_file_goes(tmp_path: Path) -> None:
    for name in "abcd":
        (tmp_path / f"{name}.bin").write_bytes(name.encode())

    async def main() -> None:
        h = Harness(tmp_path, max_entries=2)
        busy = h.lease("a.bin")  # in use: never evicted
        h.lease("b.bin").release()
        h.lease("c.bin").release()  # evicts b, the least recently used idle one
        assert [h.hit("a.bin"), h.hit("b.bin"), h.hit("c.bin")] == [True, False, True]
        await h.cache.sweep()
        assert h.opened[1].closed and not h.opened[0].closed
        busy.release()
        await h.cache.aclose()
        assert all(source.closed for source in h.opened)

    run(main)


def test_two_requests_opening_one_file_at_once_keep_one_and_close_the_other(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path)
        names = ("a.bin",)
        resolved = resolve_in_root(h.root, names)
        opened = []
        for _ in range(2):  # both missed the cache, both opened in their own thread
            wd = h.cache.watch_folder(resolved)
            opened.append((*open_file_source(h.root, names), wd))
        kept = h.cache.add((h.root, *names), opened[0][0], opened[0][1], resolved, opened[0][2])
        extra = h.cache.add((h.root, *names), opened[1][0], opened[1][1], resolved, opened[1][2])
        assert extra.release() is opened[1][0]  # the request's alone: it closes it
        opened[1][0].close()
        assert kept.release() is None
        await h.cache.aclose()
        assert opened[0][0].closed

    run(main)


def test_a_sweep_cancelled_as_it_starts_still_closes_what_it_took(tmp_path: Path) -> None:
    """The lifespan cancels the sweeper at shutdown: what it had taken to close must not be lost."""
    (tmp_path / "a.bin").write_bytes(b"abc")

    async def main() -> None:
        h = Harness(tmp_path)
        h.lease("a.bin").release()
        (tmp_path / "a.bin").unlink()
        with anyio.CancelScope() as scope:
            scope.cancel()
            await h.cache.sweep()
        assert h.opened[0].closed
        await h.cache.aclose()

    run(main)


def test_aclose_at_shutdown_closes_files_still_in_use_too(tmp_path: Path) -> None:
    """The server cancelled its streams: their files close now, not when (or if) they release."""
    for name in "ab":
        (tmp_path / f"{name}.bin").write_bytes(name.encode())

    async def main() -> None:
        h = Harness(tmp_path)
        streaming = h.lease("a.bin")
        draining = h.lease("b.bin")
        (tmp_path / "b.bin").unlink()  # dropped while in use
        assert not h.hit("b.bin")
        await h.cache.aclose()
        assert streaming.source.closed and draining.source.closed
        late = streaming.release()
        assert late is None or late.closed

    run(main)


def test_aclose_closes_every_idle_file_and_the_inotify_descriptor(tmp_path: Path) -> None:
    for name in "ab":
        (tmp_path / f"{name}.bin").write_bytes(name.encode())
    fds_before = len(os.listdir("/proc/self/fd"))

    async def main() -> None:
        h = Harness(tmp_path)
        h.lease("a.bin").release()
        h.lease("b.bin").release()
        await h.cache.aclose()
        assert all(source.closed for source in h.opened)

    run(main)
    assert len(os.listdir("/proc/self/fd")) == fds_before


@pytest.mark.parametrize(
    "limits",
    [{"max_entries": 0}, {"inactive_s": 0}, {"valid_s": -1}],
    ids=["no-entries", "no-idle-time", "negative-validity"],
)
def test_limits_must_be_positive(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        cache_or_skip(**limits)
