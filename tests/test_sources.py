"""FileSource: exact positional reads, errors as named exceptions, and a close that waits for reads."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import streamer.sources.file
from streamer.sources.base import SourceClosedError, SourceTruncatedError
from streamer.sources.file import FileSource, open_file_source

DATA = bytes(range(256)) * 40


@pytest.fixture
def source(tmp_path: Path) -> FileSource:
    (tmp_path / "f.bin").write_bytes(DATA)
    opened, st = open_file_source(str(tmp_path.resolve()), ("f.bin",))
    assert st.st_size == len(DATA)
    yield opened
    opened.close()


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        pytest.param(0, 10, id="start"),
        pytest.param(1000, 4096, id="middle"),
        pytest.param(len(DATA) - 1, 1, id="last-byte"),
        pytest.param(0, len(DATA), id="whole"),
    ],
)
def test_read_at_returns_exactly_the_slice(source: FileSource, offset: int, length: int) -> None:
    assert source.read_at(offset, length) == DATA[offset : offset + length]


def test_reading_past_the_end_raises_rather_than_returning_less(source: FileSource) -> None:
    with pytest.raises(SourceTruncatedError):
        source.read_at(len(DATA) - 5, 10)


def test_a_file_truncated_after_open_is_never_padded(source: FileSource, tmp_path: Path) -> None:
    os.truncate(tmp_path / "f.bin", 100)
    with pytest.raises(SourceTruncatedError):
        source.read_at(50, 100)


def test_close_is_idempotent_and_reads_after_it_fail(source: FileSource) -> None:
    source.close()
    source.close()
    assert source.closed
    with pytest.raises(SourceClosedError):
        source.read_at(0, 1)


class OsWithPread:
    """Stands in for the ``os`` of streamer.sources.file: ``pread`` runs ``before`` first, the rest is ``os``."""

    def __init__(self, before: Callable[[], None]) -> None:
        self._before = before

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def pread(self, fd: int, length: int, offset: int) -> bytes:
        self._before()
        return os.pread(fd, length, offset)


def test_close_waits_for_a_read_in_flight(source: FileSource, monkeypatch: pytest.MonkeyPatch) -> None:
    in_read, events = threading.Event(), []

    def slowly() -> None:
        in_read.set()
        time.sleep(0.2)
        events.append("read done")

    monkeypatch.setattr(streamer.sources.file, "os", OsWithPread(slowly))
    reader = threading.Thread(target=lambda: events.append(source.read_at(0, 10)))
    reader.start()
    assert in_read.wait(1)
    source.close()
    events.append("closed")
    reader.join()
    assert events.index("read done") < events.index("closed")
    assert DATA[:10] in events


def test_readers_of_one_source_do_not_wait_for_each_other(source: FileSource, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests share a cached file: a slow read must not hold up the others."""
    inside, both_inside = [0], threading.Event()

    def until_both_are_inside() -> None:
        inside[0] += 1
        if inside[0] == 2:
            both_inside.set()
        both_inside.wait(1.0)

    monkeypatch.setattr(streamer.sources.file, "os", OsWithPread(until_both_are_inside))
    readers = [threading.Thread(target=source.read_at, args=(0, 10)) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert both_inside.is_set(), "the second read waited for the first"


def test_a_leaked_source_warns(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"x")
    leaked, _ = open_file_source(str(tmp_path.resolve()), ("f.bin",))
    with pytest.warns(ResourceWarning, match="unclosed FileSource"):
        del leaked
        gc.collect()


@pytest.mark.parametrize(
    ("names", "make"),
    [
        pytest.param(("loop",), lambda root: os.symlink("loop", root / "loop"), id="symlink-loop"),
        pytest.param(("dir",), lambda root: (root / "dir").mkdir(), id="directory"),
        pytest.param(("fifo",), lambda root: os.mkfifo(root / "fifo"), id="fifo"),
        pytest.param(("out",), lambda root: os.symlink("/etc/hostname", root / "out"), id="symlink-out-of-root"),
        pytest.param(("missing",), lambda root: None, id="missing"),
    ],
)
def test_what_may_not_be_served_is_not_found(tmp_path: Path, names: tuple[str, ...], make: object) -> None:
    make(tmp_path)  # type: ignore[operator]
    with pytest.raises(FileNotFoundError):
        open_file_source(str(tmp_path.resolve()), names)


def evict(path: Path) -> None:
    """Drop the file's clean pages from the page cache, as if it had never been read."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        pytest.param(0, 10, id="start"),
        pytest.param(1000, 4096, id="across-a-page"),
        pytest.param(0, len(DATA), id="whole"),
    ],
)
def test_read_cached_returns_exactly_the_slice_the_page_cache_holds(source: FileSource, offset: int, length: int) -> None:
    source.read_at(0, len(DATA))  # now in the page cache
    assert source.read_cached(offset, length) == DATA[offset : offset + length]


def test_read_cached_refuses_what_only_the_disk_has(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(4 * 1024 * 1024))
    evict(big)
    opened, _ = open_file_source(str(tmp_path.resolve()), ("big.bin",))
    try:
        assert opened.read_cached(2 * 1024 * 1024, 65536) is None
        data = opened.read_at(2 * 1024 * 1024, 65536)  # in a thread, from the disk: now cached
        assert opened.read_cached(2 * 1024 * 1024, 65536) == data
    finally:
        opened.close()


def test_read_cached_leaves_a_short_answer_to_read_at(source: FileSource) -> None:
    source.read_at(0, len(DATA))
    assert source.read_cached(len(DATA) - 5, 10) is None  # maybe truncated: read_at decides
    with pytest.raises(SourceTruncatedError):
        source.read_at(len(DATA) - 5, 10)


def test_read_cached_never_waits_for_the_lock(source: FileSource) -> None:
    source.read_at(0, len(DATA))
    holder = threading.Thread(target=lambda: (source._lock.acquire(), time.sleep(0.3), source._lock.release()))
    holder.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert source.read_cached(0, 10) is None  # a read or a close in flight: go to a thread
    assert time.monotonic() - started < 0.1
    holder.join()
    assert source.read_cached(0, 10) == DATA[:10]


def test_read_cached_after_close_fails_as_read_at_does(source: FileSource) -> None:
    source.close()
    with pytest.raises(SourceClosedError):
        source.read_cached(0, 1)


def test_read_cached_on_a_platform_without_rwf_nowait_always_defers(
    source: FileSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streamer.sources.file, "_read_nowait", None)
    source.read_at(0, len(DATA))
    assert source.read_cached(0, 10) is None


@pytest.mark.parametrize(
    ("offset", "count", "pages"),
    [
        pytest.param(0, 0, 0, id="nothing"),
        pytest.param(0, 1, 1, id="one-byte"),
        pytest.param(0, 4096, 1, id="one-page-exactly"),
        pytest.param(100, 4096, 2, id="a-page-straddling-two"),
        pytest.param(4095, 2, 2, id="two-bytes-across-a-boundary"),
        pytest.param(8192, 3 * 4096, 3, id="aligned-pages"),
    ],
)
def test_pages_spanned(offset: int, count: int, pages: int) -> None:
    assert streamer.sources.file.PAGE_SIZE == 4096
    assert streamer.sources.file._pages_spanned(offset, count) == pages


def sent_through_a_pipe(send: Callable[[int], int | None]) -> tuple[int | None, bytes]:
    """What ``send(out_fd)`` answered, and the bytes that reached the other end."""
    read_end, write_end = os.pipe()
    try:
        answer = send(write_end)
        os.set_blocking(read_end, False)
        try:
            got = os.read(read_end, 1 << 20)
        except BlockingIOError:
            got = b""
        return answer, got
    finally:
        os.close(read_end)
        os.close(write_end)


def test_send_cached_sends_what_the_page_cache_holds_and_refuses_the_rest(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    data = os.urandom(4 * 1024 * 1024)
    big.write_bytes(data)
    evict(big)
    opened, _ = open_file_source(str(tmp_path.resolve()), ("big.bin",))
    try:
        assert sent_through_a_pipe(lambda fd: opened.send_cached(fd, 2 * 1024 * 1024, 8192)) == (None, b"")
        sent, got = sent_through_a_pipe(lambda fd: opened.send_at(fd, 2 * 1024 * 1024, 8192))  # from the disk
        assert (sent, got) == (8192, data[2 * 1024 * 1024 : 2 * 1024 * 1024 + 8192])
        assert sent_through_a_pipe(lambda fd: opened.send_cached(fd, 2 * 1024 * 1024, 8192)) == (8192, got)
    finally:
        opened.close()


def test_send_cached_past_the_end_sends_nothing(source: FileSource) -> None:
    source.read_at(0, len(DATA))
    assert sent_through_a_pipe(lambda fd: source.send_cached(fd, len(DATA), 10))[0] in (None, 0)
    assert sent_through_a_pipe(lambda fd: source.send_at(fd, len(DATA), 10)) == (0, b"")


def test_send_cached_after_close_fails_as_read_at_does(source: FileSource) -> None:
    source.close()
    with pytest.raises(SourceClosedError):
        sent_through_a_pipe(lambda fd: source.send_cached(fd, 0, 1))
