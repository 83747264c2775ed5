"""/api/media over HTTP on real media made here: probes, verdicts, the pending policy, the probe cache across restarts."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

import streamer.web.library as library
from streamer.media.samples import make_png
from tests.conftest import ServerThread, fd_targets, settings_for, start_server
from tests.media.factory import TAGS, make_corpus

POLL_S = 15.0


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("media-api")
    make_corpus(root)
    (root / "faststart.en.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    make_png(root / "cover.png")
    return root


def serve(media: Path, cache: Path) -> ServerThread:
    return start_server(replace(settings_for(media, "async"), cache_dir=cache))


def listing(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/media", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def settled(client: httpx.Client, **params: Any) -> dict[str, Any]:
    """Poll as the page does until nothing is pending."""
    deadline = time.monotonic() + POLL_S
    while (body := listing(client, **params))["pending"]:
        assert time.monotonic() < deadline, body["pending"]
        time.sleep(0.1)
    return body


VERDICTS = {
    "faststart.mp4": ("direct", 'video/mp4; codecs="avc1.64000a, mp4a.40.2"', False),
    "moov-at-end.mp4": ("direct", 'video/mp4; codecs="avc1.64000a, mp4a.40.2"', False),
    "rotated.mp4": ("direct", 'video/mp4; codecs="avc1.64000a"', False),
    "h264.mkv": ("hls", 'video/mp4; codecs="avc1.64000a, mp4a.40.2"', False),
    "hevc.mp4": ("direct", 'video/mp4; codecs="hvc1.1.6.L30.90, mp4a.40.2"', True),
    "vp9.webm": ("direct", 'video/webm; codecs="vp09.00.10.08, opus"', False),
    "av1.mp4": ("direct", 'video/mp4; codecs="av01.0.00M.08"', True),
    "divx.avi": ("transcode", None, False),
    "dolby.mkv": ("hls", 'video/mp4; codecs="avc1.64000a, mp4a.40.2"', False),
    "song.mp3": ("direct", 'audio/mpeg; codecs="mp3"', False),
    "song.flac": ("direct", 'audio/flac; codecs="flac"', False),
    "notes.mp4": ("unsupported", None, False),
    "truncated.mp4": ("unsupported", None, False),
}


def test_every_entry_gets_its_probe_and_verdict(media: Path, tmp_path: Path) -> None:
    running = serve(media, tmp_path / "cache")
    try:
        with running.client() as client:
            body = settled(client)
            runtime = client.get("/debug/runtime").json()
    finally:
        running.stop()
    entries = {e["name"]: e for e in body["entries"]}
    assert body["total"] == len(entries) == len(VERDICTS) + 2
    for name, (verdict, mime, ask) in VERDICTS.items():
        playback = entries[name]["playback"]
        assert (playback["verdict"], playback["mime"], playback["ask_browser"]) == (verdict, mime, ask), name
        assert entries[name]["probe"]["ok"] is (verdict != "unsupported"), name
        quoted = name.replace(" ", "%20")
        assert entries[name]["hls"] == (f"hls/{quoted}/index.m3u8" if verdict == "hls" else None), name
        assert entries[name]["thumb"] == "thumbs/" + quoted
    assert entries["song.mp3"]["probe"]["tags"] == TAGS and entries["song.mp3"]["probe"]["cover_art"] is True
    assert entries["faststart.mp4"]["subtitles"] == [{"url": "subtitles/faststart.en.srt", "language": "en", "label": "English"}]
    assert entries["faststart.mp4"]["url"] == "media/faststart.mp4"
    image = entries["cover.png"]
    assert (image["probe"], image["playback"], image["thumb"]) == (None, None, "thumbs/cover.png")
    srt = entries["faststart.en.srt"]
    assert srt["probe"] is None and srt["playback"]["verdict"] == "unsupported" and srt["thumb"] is None
    assert runtime["probes_inflight"] == 0


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Listings answer without waiting for any probe, so every uncached entry shows as pending."""
    monkeypatch.setattr(library, "PROBE_DEADLINE_S", 0)


def test_pending_entries_are_probed_in_the_background_and_kept_across_restarts(media: Path, tmp_path: Path, no_waiting: None) -> None:
    cache = tmp_path / "cache"
    running = serve(media, cache)
    try:
        with running.client() as client:
            first = listing(client)
            assert set(first["pending"]) == set(VERDICTS)
            pending = [e for e in first["entries"] if e["path"] in first["pending"]]
            assert all(e["probe"] is None and e["playback"] is None for e in pending)
            settled(client)  # nobody waits, yet the probes finish
    finally:
        running.stop()
    restarted = serve(media, cache)
    try:
        with restarted.client() as client:
            again = listing(client)
            assert again["pending"] == [] and all(e["probe"] for e in again["entries"] if e["name"] in VERDICTS)
            assert restarted.server.config.app.state.probes.probes_run == 0  # every answer came from the database
            path = media / "song.flac"
            os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
            assert listing(client)["pending"] == ["song.flac"]  # a changed file is probed again
            assert settled(client)["pending"] == []
            assert restarted.server.config.app.state.probes.probes_run == 1
    finally:
        restarted.stop()


def test_no_file_stays_open_after_probing(media: Path, tmp_path: Path) -> None:
    running = serve(media, tmp_path / "cache")
    try:
        with running.client() as client:
            settled(client)
            time.sleep(0.5)  # cached media files close after their idle time
            assert fd_targets(under=media) == []
    finally:
        running.stop()
    assert fd_targets(under=tmp_path) == []  # the database closed with the app


@pytest.mark.parametrize(
    ("params", "status"),
    [
        pytest.param({"sort": "colour"}, 422, id="unknown-sort"),
        pytest.param({"order": "up"}, 422, id="unknown-order"),
    ],
)
def test_bad_sort_is_refused(client: httpx.Client, params: dict[str, str], status: int) -> None:
    assert client.get("/api/media", params=params).status_code == status


def test_a_cursor_of_another_sort_is_refused(server_factory, tmp_path: Path) -> None:
    for index in range(3):
        (tmp_path / f"f{index}.txt").write_bytes(b"x" * index)
    running = server_factory(media_dir=tmp_path)
    with running.client() as client:
        cursor = listing(client, sort="size", limit=1)["next_cursor"]
        assert cursor is not None
        assert client.get("/api/media", params={"sort": "size", "limit": 1, "cursor": cursor}).status_code == 200
        refused = client.get("/api/media", params={"sort": "name", "limit": 1, "cursor": cursor})
        assert refused.status_code == 400 and "same sort and order" in refused.json()["detail"]
        refused = client.get("/api/media", params={"sort": "size", "order": "desc", "limit": 1, "cursor": cursor})
        assert refused.status_code == 400
