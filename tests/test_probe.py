"""probe_file on real files made here with PyAV: every field, codec strings checked against ffprobe, bad files, descriptors."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from streamer.media.probe import probe_file, rotation_of
from tests.conftest import require_program
from tests.media.factory import TAGS, make_corpus

NO_TAGS = dict.fromkeys(TAGS)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_corpus(tmp_path_factory.mktemp("probe-corpus"))


def probe(corpus: dict[str, Path], name: str) -> dict[str, Any]:
    return probe_file(str(corpus[name]))


AAC_STEREO = {"codec": "aac", "codec_string": "mp4a.40.2", "channels": 2, "sample_rate": 48000, "language": None}
H264_64 = {"codec": "h264", "codec_string": "avc1.64000a", "profile": "High", "level": 10, "width": 64, "height": 64,
           "fps": 24.0, "bit_depth": 8}


@pytest.mark.parametrize(
    ("name", "container", "video", "audio"),
    [
        pytest.param("faststart", "mp4", [{**H264_64, "rotation": 0}], [AAC_STEREO], id="h264-aac-mp4-faststart"),
        pytest.param("moov-at-end", "mp4", [{**H264_64, "rotation": 0}], [AAC_STEREO], id="h264-aac-mp4-moov-at-end"),
        pytest.param("rotated", "mp4", [{**H264_64, "rotation": 90}], [], id="display-matrix-rotation"),
        pytest.param("mkv", "matroska", [{**H264_64, "rotation": None}], [{**AAC_STEREO, "language": "fra"}], id="h264-mkv-language"),
        pytest.param(
            "hevc", "mp4",
            [{**H264_64, "codec": "hevc", "codec_string": "hvc1.1.6.L30.90", "profile": "Main", "level": 30, "rotation": 0}],
            [AAC_STEREO], id="hevc-tagged-hvc1",
        ),
        pytest.param(
            "webm", "webm",
            [{**H264_64, "codec": "vp9", "codec_string": "vp09.00.10.08", "profile": "Profile 0", "level": None, "rotation": None}],
            [{**AAC_STEREO, "codec": "opus", "codec_string": "opus"}], id="vp9-opus-webm",
        ),
        pytest.param(
            "av1", "mp4",
            [{**H264_64, "codec": "av1", "codec_string": "av01.0.00M.08", "profile": "Main", "level": 0, "rotation": 0}],
            [], id="av1-mp4",
        ),
        pytest.param(
            "avi", "avi",
            [{**H264_64, "codec": "mpeg4", "codec_string": "mp4v.20.1", "profile": "Simple Profile", "level": 1, "rotation": None}],
            [{**AAC_STEREO, "codec": "mp3", "codec_string": "mp3", "sample_rate": 44100}], id="mpeg4-part2-avi",
        ),
        pytest.param("ac3", "matroska", [{**H264_64, "rotation": None}], [{**AAC_STEREO, "codec": "ac3", "codec_string": "ac-3"}], id="ac3-audio"),
    ],
)
def test_streams(corpus: dict[str, Path], name: str, container: str, video: list[dict[str, Any]], audio: list[dict[str, Any]]) -> None:
    found = probe(corpus, name)
    assert (found["ok"], found["error"], found["container"]) == (True, None, container)
    assert (found["video"], found["audio"], found["subtitles"]) == (video, audio, [])
    assert 0.05 < found["duration"] < 1.0 and found["bitrate"] > 0
    assert (found["tags"], found["cover_art"]) == (NO_TAGS, False)


@pytest.mark.parametrize(
    ("name", "container", "codec", "cover"),
    [
        pytest.param("mp3", "mp3", "mp3", True, id="mp3-tags-and-cover-art"),
        pytest.param("flac", "flac", "flac", False, id="flac-vorbis-comments"),
    ],
)
def test_music_tags(corpus: dict[str, Path], name: str, container: str, codec: str, cover: bool) -> None:
    found = probe(corpus, name)
    assert (found["ok"], found["container"], found["cover_art"]) == (True, container, cover)
    assert found["video"] == []  # the cover picture is not a video stream
    assert [a["codec"] for a in found["audio"]] == [codec]
    assert found["tags"] == TAGS


@pytest.mark.parametrize(
    ("name", "error"),
    [
        pytest.param("text", "it is damaged, cut short, or not in an audio or video format", id="text-named-mp4"),
        pytest.param("truncated", "it holds no sound or picture; it may be damaged or cut short", id="truncated-before-the-index"),
    ],
)
def test_unreadable_files_say_so(corpus: dict[str, Path], name: str, error: str) -> None:
    found = probe(corpus, name)
    assert found["ok"] is False
    assert found["error"] == error
    assert (found["video"], found["audio"], found["cover_art"]) == ([], [], False)


def test_missing_file_and_folder_say_so(tmp_path: Path) -> None:
    assert probe_file(str(tmp_path / "gone.mp4"))["error"] == "the file is gone"
    assert probe_file(str(tmp_path))["ok"] is False


@pytest.mark.parametrize(
    ("matrix", "degrees"),
    [
        pytest.param((65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30), 0, id="identity"),
        pytest.param((0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30), 90, id="quarter-turn"),
        pytest.param((0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30), -90, id="quarter-turn-back"),
        pytest.param((-65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30), -180, id="half-turn-as-ffprobe-says"),
        pytest.param((0,) * 9, 0, id="degenerate-matrix"),
    ],
)
def test_rotation_of(matrix: tuple[int, ...], degrees: int) -> None:
    assert rotation_of(matrix) == degrees


def ffprobe_streams(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)["streams"]


def ffprobe_rotation(stream: dict[str, Any]) -> int | None:
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(side["rotation"])
    return None


@pytest.mark.clients
@pytest.mark.parametrize("name", ["faststart", "rotated", "mkv", "hevc", "webm", "av1", "avi", "ac3", "mp3", "flac"])
def test_agrees_with_ffprobe(corpus: dict[str, Path], name: str) -> None:
    """Codec, profile, level, size and rotation as ffprobe (Debian's FFmpeg, not PyAV's) reads them."""
    require_program("ffprobe", "ffmpeg")
    found = probe(corpus, name)
    theirs = [s for s in ffprobe_streams(corpus[name]) if not s.get("disposition", {}).get("attached_pic")]
    ours = found["video"] + found["audio"]
    assert [s["codec"] for s in ours] == [s["codec_name"] for s in theirs if s["codec_type"] in ("video", "audio")]
    for mine, stream in zip(found["video"], [s for s in theirs if s["codec_type"] == "video"]):
        assert (mine["width"], mine["height"]) == (stream["width"], stream["height"])
        assert mine["level"] == (stream.get("level") if stream.get("level", -99) >= 0 else None)
        assert (mine["rotation"] or 0) == (ffprobe_rotation(stream) or 0)
        string = mine["codec_string"]
        if mine["codec"] == "h264":
            assert int(string[-2:], 16) == stream["level"] and stream["codec_tag_string"] in ("avc1", "[0][0][0][0]")
        if mine["codec"] == "hevc":
            assert string.startswith(stream["codec_tag_string"]) and f".L{stream['level']}." in string
    for mine, stream in zip(found["audio"], [s for s in theirs if s["codec_type"] == "audio"]):
        assert (mine["channels"], mine["sample_rate"]) == (stream["channels"], int(stream["sample_rate"]))


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_every_container_is_closed(corpus: dict[str, Path]) -> None:
    for path in corpus.values():  # warm up: lazy library loads may open descriptors once
        probe_file(str(path))
    before = open_fds()
    for _ in range(3):
        for path in corpus.values():
            probe_file(str(path))
    assert open_fds() <= before


def test_probing_in_threads_leaves_the_loop_free(corpus: dict[str, Path]) -> None:
    """PyAV releases the GIL while FFmpeg reads and parses, so probes in worker threads barely delay the loop.

    The median lateness of a 1 ms sleep stays well under Python's 5 ms switch interval, which is what a
    thread holding the GIL would cost every wake-up; so probes need no worker process.
    """
    paths = [str(p) for p in corpus.values()]

    async def main() -> list[float]:
        stop = time.monotonic() + 1.0
        lateness: list[float] = []

        def probe_all() -> None:
            while time.monotonic() < stop:
                for path in paths:
                    probe_file(path)

        async def watch() -> None:
            while time.monotonic() < stop:
                start = time.perf_counter()
                await asyncio.sleep(0.001)
                lateness.append(time.perf_counter() - start - 0.001)

        async with anyio.create_task_group() as tg:
            for _ in range(2):
                tg.start_soon(anyio.to_thread.run_sync, probe_all)
            tg.start_soon(watch)
        return sorted(lateness)

    lateness = asyncio.run(main())
    assert lateness[len(lateness) // 2] < 0.002, f"median loop lateness {lateness[len(lateness) // 2] * 1000:.2f} ms"


@pytest.mark.parametrize("name", ["faststart", "moov-at-end", "rotated", "mkv", "mp3", "text", "truncated"])
def test_a_file_object_probes_like_its_path(corpus: dict[str, Path], name: str) -> None:
    """What a bucket's objects are probed through (``probe_stream``): the same record, rotations read from
    the same file object (its position put back for the demuxer)."""
    from streamer.media.probe import probe_stream

    with open(corpus[name], "rb") as file:
        assert probe_stream(file, corpus[name].name) == probe(corpus, name)
