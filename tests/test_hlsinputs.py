"""The pool of opened sources: reused only for the same file as it was, closed on every other path.

Descriptors are counted in /proc/self/fd; segments from a reused container are compared
byte for byte with segments from a fresh open, for every test clip, in an order that
seeks backwards and forwards.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from streamer.media.hlsaudio import AudioChunk, AudioError
from streamer.media.hlsinputs import Identity, InputPool
from streamer.media.hlsmux import make_init, make_segment
from streamer.media.hlspackets import SegmentAbandoned, SegmentTimeout
from streamer.media.hlsplan import plan_segments
from streamer.media.keyframes import read_keyframes
from tests.conftest import fd_targets, require_program
from tests.hlsclips import make_clips


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_program("ffmpeg", "ffmpeg")
    return make_clips(tmp_path_factory.mktemp("hls-clips"))


@pytest.fixture
def clip(clips: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "clip.mkv"
    shutil.copyfile(clips["bframes.mkv"], target)
    return target


def held(path: Path) -> int:
    return fd_targets(under=os.path.realpath(path)).count(os.path.realpath(path))


def identity(path: Path) -> Identity:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns)


def use(pool: InputPool, path: Path) -> None:
    with pool.checkout(identity(path), str(path)) as container:
        assert container.streams.video


@pytest.mark.parametrize(
    "name",
    ["bframes.mkv", "bframes.mp4", "bframes.mov", "longgop.mkv", "audiofirst.mkv", "audiofirst.mp4", "hevc.mkv",
     "vp9.mkv", "av1.mkv", "ac3.mkv", "pcm.mov"],
)
def test_a_segment_from_a_reused_container_is_the_same_bytes(clips: dict[str, Path], name: str) -> None:
    clip = clips[name]
    index = read_keyframes(clip)
    assert index is not None
    plan = plan_segments(index.times, index.duration)
    assert plan is not None and len(plan) > 1
    fresh = [make_segment(clip, span) for span in plan]
    pool = InputPool()
    reused = partial(pool.checkout, identity(clip))
    order = [*reversed(range(len(plan))), *range(len(plan)), 0, len(plan) - 1]  # seeks back, forward and far
    assert make_init(clip, opener=reused) == make_init(clip)
    assert all(make_segment(clip, plan[n], opener=reused) == fresh[n] for n in order)
    assert (pool.opened, pool.reused) == (1, len(order))
    pool.close()
    assert held(clip) == 0


def test_a_container_goes_back_and_is_closed_at_close(clip: Path) -> None:
    pool = InputPool()
    use(pool, clip)
    use(pool, clip)
    assert (pool.opened, pool.reused, len(pool)) == (1, 1, 1) and held(clip) == 1
    assert pool.idle_names() == [os.path.realpath(clip)]
    pool.close()
    assert len(pool) == 0 and held(clip) == 0


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        pytest.param(AudioError("the sound cannot be read"), False, id="failed-closed"),
        pytest.param(SegmentTimeout("past its deadline"), True, id="deadline-stop-kept"),
        pytest.param(SegmentAbandoned("its client left"), True, id="client-left-kept"),
    ],
)
def test_a_container_whose_segment_failed_is_closed_one_stopped_goes_back(
    clips: dict[str, Path], error: Exception, kept: bool
) -> None:
    clip = clips["ac3.mkv"]  # its sound is asked for once the source is open and read from
    index = read_keyframes(clip)
    assert index is not None
    plan = plan_segments(index.times, index.duration)

    def no_sound(stream_index: int, number: int) -> AudioChunk:
        assert held(clip) == 1
        raise error

    pool = InputPool()
    reused = partial(pool.checkout, identity(clip))
    with pytest.raises(type(error)):
        make_segment(clip, plan[1], no_sound, opener=reused)
    assert (pool.opened, len(pool), held(clip)) == (1, int(kept), int(kept))
    assert make_segment(clip, plan[2], opener=reused) == make_segment(clip, plan[2]), "a stopped source serves as a fresh one"
    assert pool.reused == int(kept)
    pool.close()
    assert held(clip) == 0


def test_a_changed_file_is_opened_afresh_and_the_old_container_closed(clip: Path) -> None:
    pool = InputPool()
    use(pool, clip)
    os.utime(clip, ns=(0, os.stat(clip).st_mtime_ns + 1_000_000_000))  # same path, new contents as far as fstat tells
    use(pool, clip)
    assert (pool.opened, pool.reused, len(pool)) == (2, 0, 1) and held(clip) == 1
    pool.close()


def test_containers_beyond_the_size_are_closed_oldest_first(clips: dict[str, Path], tmp_path: Path) -> None:
    copies = []
    for n in range(3):
        copies.append(tmp_path / f"{n}.mkv")
        shutil.copyfile(clips["bframes.mkv"], copies[-1])
    pool = InputPool(size=2)
    for path in copies:
        use(pool, path)
    assert [held(path) for path in copies] == [0, 1, 1]
    use(pool, copies[1])
    assert pool.reused == 1
    pool.close()
    assert [held(path) for path in copies] == [0, 0, 0]


def test_an_idle_container_is_closed_after_its_time(clip: Path, clips: dict[str, Path]) -> None:
    pool = InputPool(idle_s=0.0)
    use(pool, clip)
    assert held(clip) == 1
    time.sleep(0.01)
    use(pool, clips["bframes.mp4"])  # any checkout sweeps the pool
    assert held(clip) == 0 and pool.reused == 0
    pool.close()


def test_a_reader_is_opened_and_closed_as_usual_never_kept(clip: Path) -> None:
    pool = InputPool()
    with open(clip, "rb") as reader:
        with pool.checkout(identity(clip), reader) as container:
            assert container.streams.video
        assert (pool.opened, len(pool)) == (0, 0) and not reader.closed, "the reader is its caller's"
    assert held(clip) == 0


def test_a_container_given_back_after_close_is_closed(clip: Path) -> None:
    pool = InputPool()
    with pool.checkout(identity(clip), str(clip)):
        pool.close()
    assert len(pool) == 0 and held(clip) == 0


def test_a_source_stopped_in_the_middle_of_its_packets_serves_the_next_segment_as_a_fresh_one(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamer.media import hlsmux, hlspackets

    clip = clips["bframes.mkv"]
    index = read_keyframes(clip)
    assert index is not None
    plan = plan_segments(index.times, index.duration)
    stop, calls, real = threading.Event(), [0], hlspackets.check

    def stopping(deadline: float, event: threading.Event | None) -> None:
        calls[0] += 1
        if calls[0] == 10:  # the tenth packet read
            stop.set()
        real(deadline, event)

    pool = InputPool()
    reused = partial(pool.checkout, identity(clip))
    monkeypatch.setattr(hlspackets, "check", stopping)  # between packets, read and muxed
    monkeypatch.setattr(hlsmux, "check", stopping)
    with pytest.raises(SegmentAbandoned):
        make_segment(clip, plan[1], opener=reused, stop=stop)
    monkeypatch.setattr(hlspackets, "check", real)
    monkeypatch.setattr(hlsmux, "check", real)
    assert calls[0] == 10 and (pool.opened, len(pool)) == (1, 1)
    assert all(make_segment(clip, span, opener=reused) == make_segment(clip, span) for span in (plan[1], plan[0], plan[2]))
    assert pool.reused == 3
    pool.close()
