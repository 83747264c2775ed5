"""FileSource: exact positional reads, errors as named exceptions, and a close that waits for reads."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

import pytest

import streamer.sources
from streamer.sources import FileSource, SourceClosedError, SourceTruncatedError, open_file_source

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


def test_close_waits_for_a_read_in_flight(source: FileSource, monkeypatch: pytest.MonkeyPatch) -> None:
    in_read, events = threading.Event(), []
    real_pread = os.pread

    class SlowOs:
        def __getattr__(self, name: str) -> object:
            return getattr(os, name)

        @staticmethod
        def pread(fd: int, length: int, offset: int) -> bytes:
            in_read.set()
            time.sleep(0.2)
            events.append("read done")
            return real_pread(fd, length, offset)

    monkeypatch.setattr(streamer.sources, "os", SlowOs())
    reader = threading.Thread(target=lambda: events.append(source.read_at(0, 10)))
    reader.start()
    assert in_read.wait(1)
    source.close()
    events.append("closed")
    reader.join()
    assert events.index("read done") < events.index("closed")
    assert DATA[:10] in events


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
