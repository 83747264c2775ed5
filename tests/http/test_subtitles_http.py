"""GET|HEAD /subtitles/{path}: SRT and VTT beside a video, as WebVTT, planned like any body."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer import Settings
from streamer.web.subtitles import MAX_SUBTITLE_BYTES
from tests.conftest import ServerThread, require_program, start_server
from tests.http import wire

SRT = "1\r\n00:00:01,000 --> 00:00:02,500\r\nCaf\xe9 <i>cr\xe8me</i>\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nTwo\r\n"
VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nCafé <i>crème</i>\n\n00:00:03.000 --> 00:00:04.000\nTwo\n\n"


@pytest.fixture(scope="module")
def subtitled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    root = tmp_path_factory.mktemp("subtitled")
    (root / "film.latin1.srt").write_bytes(SRT.encode("latin-1"))
    (root / "film.en.srt").write_bytes(SRT.encode("utf-8-sig"))
    (root / "film.fr.vtt").write_text(VTT, encoding="utf-8")
    (root / "broken.vtt").write_text("not webvtt", encoding="utf-8")
    (root / "huge.srt").write_bytes(b"\n" * (MAX_SUBTITLE_BYTES + 1))
    (root / "film.txt").write_text("1\n00:00:01,000 --> 00:00:02,000\nx\n", encoding="utf-8")
    (root / ".hidden.srt").write_text(SRT, encoding="utf-8")
    server = start_server(Settings(media_dir=root, io="async"))
    yield server
    server.stop()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("film.en.srt", id="utf-8-srt-converted"),
        pytest.param("film.latin1.srt", id="latin-1-srt-converted"),
        pytest.param("film.fr.vtt", id="vtt-passed-through"),
    ],
)
def test_subtitles_arrive_as_webvtt(subtitled: ServerThread, name: str) -> None:
    got = wire.request(subtitled.port, "GET", f"/subtitles/{name}")
    assert got.status == 200, got.body
    assert got.header("content-type") == "text/vtt; charset=utf-8"
    assert got.body.decode("utf-8") == VTT
    assert got.header("content-length") == str(len(got.body))
    etag = got.header("etag")
    assert wire.request(subtitled.port, "GET", f"/subtitles/{name}", [("If-None-Match", etag)]).status == 304
    head = wire.request(subtitled.port, "HEAD", f"/subtitles/{name}")
    assert head.status == 200 and head.body == b"" and head.header("etag") == etag
    part = wire.request(subtitled.port, "GET", f"/subtitles/{name}", [("Range", "bytes=0-5")])
    assert part.status == 206 and part.body == b"WEBVTT"


def test_a_changed_file_gets_a_new_etag(subtitled: ServerThread) -> None:
    path = Path(subtitled.settings.media_dir) / "film.en.srt"
    before = wire.request(subtitled.port, "GET", "/subtitles/film.en.srt").header("etag")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = wire.request(subtitled.port, "GET", "/subtitles/film.en.srt")
    assert after.status == 200 and after.header("etag") != before


@pytest.mark.parametrize(
    ("target", "status"),
    [
        pytest.param("/subtitles/missing.srt", 404, id="missing"),
        pytest.param("/subtitles/film.txt", 404, id="not-a-subtitle-extension"),
        pytest.param("/subtitles/.hidden.srt", 404, id="hidden"),
        pytest.param("/subtitles/../film.en.srt", 404, id="dot-dot"),
        pytest.param("/subtitles/broken.vtt", 422, id="vtt-without-header"),
        pytest.param("/subtitles/huge.srt", 413, id="too-large"),
    ],
)
def test_refusals_say_why(subtitled: ServerThread, target: str, status: int) -> None:
    got = wire.request(subtitled.port, "GET", target)
    assert got.status == status
    assert json.loads(got.body)["detail"]


def test_ffmpeg_reads_the_converted_cues(subtitled: ServerThread) -> None:
    require_program("ffprobe", "Debian package ffmpeg")
    shown = subprocess.run(
        ["ffprobe", "-v", "error", "-f", "webvtt", "-show_entries", "packet=pts_time,duration_time", "-of", "json",
         f"{subtitled.base_url}/subtitles/film.latin1.srt"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    packets = json.loads(shown.stdout)["packets"]
    assert [(float(p["pts_time"]), float(p["duration_time"])) for p in packets] == [(1.0, 1.5), (3.0, 1.0)]
