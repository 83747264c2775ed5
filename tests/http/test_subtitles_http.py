"""GET|HEAD /subtitles/{path}: SRT and VTT beside a video, as WebVTT, planned like any body."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import time
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


def _pgs_sup() -> bytes:
    """A two-display-set PGS file (composition and end segments): enough for FFmpeg to mux a picture subtitle stream."""
    def segment(pts: int, kind: int, body: bytes) -> bytes:
        return b"PG" + struct.pack(">IIBH", pts, 0, kind, len(body)) + body

    composition = struct.pack(">HHBHBBBB", 160, 120, 0x10, 0, 0x80, 0, 0, 0)
    return segment(45000, 0x16, composition) + segment(45000, 0x80, b"")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """Videos with subtitle streams inside, made by ffmpeg: SubRip and ASS in MKV, mov_text in MP4, WebVTT in WebM, PGS."""
    require_program("ffmpeg", "Debian package ffmpeg")
    root = tmp_path_factory.mktemp("embedded")
    work = tmp_path_factory.mktemp("embedded-sources")
    (work / "cues.srt").write_text(SRT, encoding="utf-8")
    (work / "pgs.sup").write_bytes(_pgs_sup())
    video = ["-f", "lavfi", "-i", "testsrc=d=5:s=160x120:r=10"]
    made = {
        "film.mkv": ["-i", work / "cues.srt", "-map", "0", "-map", "1", "-map", "1", "-c:v", "libx264", "-c:s:0", "srt",
                     "-c:s:1", "ass", "-metadata:s:s:0", "language=eng", "-metadata:s:s:1", "title=Signs"],
        "film.mp4": ["-i", work / "cues.srt", "-map", "0", "-map", "1", "-c:v", "libx264", "-c:s", "mov_text"],
        "film.webm": ["-i", work / "cues.srt", "-map", "0", "-map", "1", "-c:v", "libvpx-vp9", "-c:s", "webvtt"],
        "pictures.mkv": ["-i", work / "pgs.sup", "-map", "0", "-map", "1", "-c:v", "libx264", "-c:s", "copy"],
    }
    for name, arguments in made.items():
        subprocess.run(["ffmpeg", "-v", "error", "-y", *video, *map(str, arguments), str(root / name)], check=True, timeout=60)
    (root / "film.srt").write_text(SRT, encoding="utf-8")
    server = start_server(Settings(media_dir=root, io="async", cache_dir=tmp_path_factory.mktemp("embedded-cache")))
    yield server
    server.stop()


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/subtitles/film.mkv?stream=1", id="subrip-in-matroska"),
        pytest.param("/subtitles/film.mkv?stream=2", id="ass-in-matroska"),
        pytest.param("/subtitles/film.mp4?stream=1", id="mov-text-in-mp4"),
        pytest.param("/subtitles/film.webm?stream=1", id="webvtt-in-webm"),
    ],
)
def test_embedded_text_streams_arrive_as_webvtt(embedded: ServerThread, target: str) -> None:
    got = wire.request(embedded.port, "GET", target)
    assert got.status == 200, got.body
    assert got.header("content-type") == "text/vtt; charset=utf-8"
    assert got.body.decode("utf-8") == VTT
    assert got.header("content-length") == str(len(got.body))
    etag = got.header("etag")
    assert wire.request(embedded.port, "GET", target, [("If-None-Match", etag)]).status == 304
    head = wire.request(embedded.port, "HEAD", target)
    assert head.status == 200 and head.body == b"" and head.header("etag") == etag
    part = wire.request(embedded.port, "GET", target, [("Range", "bytes=0-5")])
    assert part.status == 206 and part.body == b"WEBVTT"


@pytest.mark.parametrize(
    ("target", "status", "says"),
    [
        pytest.param("/subtitles/film.mkv?stream=0", 404, "not a subtitle stream", id="a-video-stream"),
        pytest.param("/subtitles/film.mkv?stream=9", 404, "its subtitle streams: 1, 2", id="no-such-stream"),
        pytest.param("/subtitles/film.mkv?stream=x", 400, "stream index", id="not-a-number"),
        pytest.param("/subtitles/film.mkv?stream=-1", 400, "stream index", id="negative"),
        pytest.param("/subtitles/film.mkv?stream=99999", 400, "stream index", id="too-long"),
        pytest.param("/subtitles/pictures.mkv?stream=1", 415, "pictures, not text", id="pgs-bitmaps"),
        pytest.param("/subtitles/film.srt?stream=1", 404, "Not a video", id="stream-of-a-subtitle-file"),
        pytest.param("/subtitles/missing.mkv?stream=1", 404, "", id="missing-video"),
    ],
)
def test_embedded_refusals_say_why(embedded: ServerThread, target: str, status: int, says: str) -> None:
    got = wire.request(embedded.port, "GET", target)
    assert got.status == status, got.body
    assert says in json.loads(got.body)["detail"]


def test_the_catalog_lists_embedded_text_tracks(embedded: ServerThread) -> None:
    entries = {e["name"]: e for e in json.loads(wire.request(embedded.port, "GET", "/api/media").body)["entries"]}
    for _ in range(50):  # probes the listing did not wait for finish in the background
        if all(entries[n]["probe"] for n in ("film.mkv", "pictures.mkv", "film.mp4")):
            break
        time.sleep(0.1)
        entries = {e["name"]: e for e in json.loads(wire.request(embedded.port, "GET", "/api/media").body)["entries"]}
    film = entries["film.mkv"]
    assert film["subtitles"] == [
        {"url": "subtitles/film.srt", "language": None, "label": "Subtitles"},
        {"url": "subtitles/film.mkv?stream=1", "language": "eng", "label": "eng"},
        {"url": "subtitles/film.mkv?stream=2", "language": None, "label": "Signs"},
    ]
    assert [(s["index"], s["codec"], s["text"]) for s in film["probe"]["subtitles"]] == [(1, "subrip", True), (2, "ass", True)]
    pictures = entries["pictures.mkv"]
    assert [(s["index"], s["codec"], s["text"]) for s in pictures["probe"]["subtitles"]] == [(1, "hdmv_pgs_subtitle", False)]
    assert pictures["subtitles"] == []
    assert entries["film.mp4"]["subtitles"][-1]["url"] == "subtitles/film.mp4?stream=1"


def test_a_changed_video_gets_its_subtitle_stream_extracted_again(embedded: ServerThread) -> None:
    path = Path(embedded.settings.media_dir) / "film.webm"
    before = wire.request(embedded.port, "GET", "/subtitles/film.webm?stream=1")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = wire.request(embedded.port, "GET", "/subtitles/film.webm?stream=1")
    assert after.status == 200 and after.body == before.body and after.header("etag") != before.header("etag")
    stale = wire.request(embedded.port, "GET", "/subtitles/film.webm?stream=1", [("If-None-Match", before.header("etag"))])
    assert stale.status == 200
