"""streamer.media.keyframes on real files: the container's index agrees with ffprobe and with a demux; cached."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from streamer.media.keyframes import KeyframeCache, _from_demux, read_keyframes
from tests.conftest import require_program
from tests.hlsclips import ffprobe_keyframes, make_clips

FRAME_S = 1 / 24


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_program("ffmpeg", "ffmpeg")
    return make_clips(tmp_path_factory.mktemp("hls-clips"))


@pytest.mark.parametrize(
    ("name", "origin"),
    [
        ("bframes.mp4", "moov"), ("bframes.mov", "moov"), ("bframes.mkv", "cues"), ("longgop.mp4", "moov"),
        ("longgop.mkv", "cues"), ("audiofirst.mp4", "moov"), ("audiofirst.mkv", "cues"), ("hevc.mkv", "cues"),
    ],
)
def test_index_agrees_with_ffprobe_and_demux(clips: dict[str, Path], name: str, origin: str) -> None:
    index = read_keyframes(clips[name])
    demuxed = _from_demux(os.fspath(clips[name]))
    assert index is not None and demuxed is not None
    assert index.origin == origin
    assert index.times == pytest.approx(ffprobe_keyframes(clips[name]), abs=1e-6)
    assert index.times == pytest.approx(demuxed.times, abs=1e-6)
    assert index.duration == pytest.approx(demuxed.duration, abs=FRAME_S)


def test_file_without_an_index_is_demuxed(clips: dict[str, Path], tmp_path: Path) -> None:
    ts = tmp_path / "clip.ts"
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clips["bframes.mp4"]), "-c", "copy", str(ts)], check=True)
    index = read_keyframes(ts)
    assert index is not None and index.origin == "demux"
    assert [round(t - index.times[0], 3) for t in index.times] == [0, 2, 4, 6, 8, 10, 12]
    start = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0", str(ts)],
        check=True, capture_output=True, text=True,
    ).stdout
    assert index.start == pytest.approx(float(start), abs=1e-6) and index.start > 1, "MPEG-TS starts its clock at 1.4 s"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"", None, id="empty-file"),
        pytest.param(b"\x1a\x45\xdf\xa3\x80garbage", None, id="ebml-magic-then-garbage"),
        pytest.param(b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00\xff\xff\xff\xffmoov", None, id="moov-size-lies"),
    ],
)
def test_unreadable_files_give_none(tmp_path: Path, content: bytes, expected: None) -> None:
    (tmp_path / "bad.mp4").write_bytes(content)
    assert read_keyframes(tmp_path / "bad.mp4") is expected


def test_cache_answers_for_the_same_file_and_rereads_a_changed_one(clips: dict[str, Path], tmp_path: Path) -> None:
    clip = tmp_path / "clip.mkv"
    shutil.copy(clips["bframes.mkv"], clip)
    cache = KeyframeCache(tmp_path / "cache")
    first = cache.get(os.fspath(clip), clip.stat())
    clip.write_bytes(b"not a video any more")  # same path, new size and mtime: a new key
    assert cache.get(os.fspath(clip), clip.stat()) is None
    shutil.copy(clips["bframes.mkv"], clip)
    os.utime(clip, ns=(0, 1))
    assert cache.get(os.fspath(clip), clip.stat()) == first
    assert KeyframeCache(tmp_path / "cache").get(os.fspath(clip), clip.stat()) == first  # from the SQLite file
