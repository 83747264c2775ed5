"""The library page with what the server knows of the media: posters, covers, durations, subtitles,
conversion through HLS, and plain words for what cannot play, in a real browser."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from streamer import Settings
from tests.browser.test_library_page import CURRENT_MEDIA, PLAYING_PAST, open_entry
from tests.conftest import ServerThread, require_program, start_server

CARD_IMAGE = """(name) => {
  const button = Array.from(document.querySelectorAll('#entries .entry')).find((b) => b.getAttribute('aria-label') === name);
  const image = button && button.querySelector('.thumb img');
  return !!image && image.complete && image.naturalWidth > 0 ? image.currentSrc : null;
}"""


def card_text(page, name: str) -> str:
    return page.locator(f"#entries .entry[aria-label='{name}']").inner_text()


def test_the_grid_shows_posters_durations_and_photos(page, library: ServerThread) -> None:
    page.goto(library.base_url + "/")
    poster = page.wait_for_function(CARD_IMAGE, arg="bars-faststart.mp4").json_value()
    assert "thumbs/bars-faststart.mp4?size=" in poster
    page.wait_for_function("() => document.querySelector(\"#entries .entry[aria-label='bars-faststart.mp4'] .duration\")")
    assert "0:04" in card_text(page, "bars-faststart.mp4")
    assert "320×180" in card_text(page, "bars-faststart.mp4")
    page.goto(library.base_url + "/#/photos")
    for name in ("dawn.jpg", "noon.jpg", "dusk.jpg"):
        assert "size=" in page.wait_for_function(CARD_IMAGE, arg=name).json_value()
    page.screenshot(path=str(__import__("tests.browser.conftest", fromlist=["artifact"]).artifact(f"grid-{library.io}.png")))


def test_a_phone_heic_photo_shows_through_its_thumbnail(page, library: ServerThread) -> None:
    page.goto(library.base_url + "/#/images")  # Chromium cannot show HEIC itself: the card is the server's rendition
    assert "thumbs/images/phone.heic?size=" in page.wait_for_function(CARD_IMAGE, arg="phone.heic").json_value()


def test_music_is_a_list_with_titles_artists_and_the_cover(page, library: ServerThread) -> None:
    page.goto(library.base_url + "/#/album")
    page.wait_for_function("() => document.querySelector('#entries').className === 'list'")
    page.wait_for_function("(name) => document.querySelector(`#entries .entry[aria-label='${name}']`).innerText.includes('Morning')", arg="01 Morning.mp3")
    assert "The Sine Waves" in card_text(page, "01 Morning.mp3")
    open_entry(page, library, "album", "01 Morning.mp3")
    page.wait_for_function("() => { const c = document.querySelector('#player .cover'); return c && c.complete && c.naturalWidth > 0; }")


def test_a_subtitle_file_beside_a_video_is_a_track(page, library: ServerThread) -> None:
    open_entry(page, library, "", "bars-faststart.mp4")
    page.wait_for_function(PLAYING_PAST, arg=0.2)
    track = page.locator("#player video track")
    assert track.get_attribute("srclang") == "en" and track.get_attribute("kind") == "subtitles"
    page.wait_for_function(f"() => {{ const t = {CURRENT_MEDIA}.textTracks[0]; t.mode = 'showing'; return t.cues && t.cues.length === 2; }}")
    assert page.evaluate(f"() => {CURRENT_MEDIA}.textTracks[0].cues[0].text") == "Colour bars"


def test_a_file_browsers_cannot_decode_is_explained_in_plain_words(page, library: ServerThread) -> None:
    open_entry(page, library, "legacy", "old-camera.avi")
    alert = page.get_by_role("alert")
    alert.wait_for()
    text = alert.inner_text()
    assert "old-camera.avi cannot be played in a browser" in text and "MPEG-4 Part 2" in text
    assert "moov" not in text and "codec" not in text.lower().split("mpeg-4")[0]


def test_a_matroska_episode_is_converted_and_plays(page, library: ServerThread) -> None:
    open_entry(page, library, "series", "Episode 2.mkv")
    page.wait_for_function(PLAYING_PAST, arg=0.3)
    assert page.evaluate(f"() => {CURRENT_MEDIA}.videoWidth") == 160
    assert "converted" in page.locator("#player .notice").inner_text()


def test_folders_show_how_many_entries_they_hold(page, library: ServerThread) -> None:
    page.goto(library.base_url + "/")
    page.get_by_role("button", name="photos").wait_for()
    assert "3 items" in card_text(page, "photos") and "3 items" in card_text(page, "album")
    assert "won't play" not in card_text(page, "bars-faststart.en.srt")  # not media: no verdict shown


@pytest.fixture(scope="module")
def inband(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A VP9 WebM with a WebVTT stream inside (made by ffmpeg), and nothing beside it."""
    require_program("ffmpeg", "Debian package ffmpeg")
    root, work = tmp_path_factory.mktemp("inband"), tmp_path_factory.mktemp("inband-sources")
    (work / "cues.srt").write_text("1\n00:00:00,100 --> 00:00:05,000\nInside the file\n\n2\n00:00:05,000 --> 00:00:06,000\nTwo\n")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=d=6:s=160x120:r=10", "-i", str(work / "cues.srt"),
                    "-map", "0", "-map", "1", "-c:v", "libvpx-vp9", "-c:s", "webvtt", "-metadata:s:s:0", "language=fra",
                    str(root / "film.webm")], check=True, timeout=120)
    server = start_server(Settings(media_dir=root, cache_dir=tmp_path_factory.mktemp("inband-cache")))
    deadline = time.monotonic() + 20
    while httpx.get(server.base_url + "/api/media").json()["pending"] and time.monotonic() < deadline:
        time.sleep(0.1)  # the probe that finds the stream, done before the page asks
    yield server
    server.stop()


def test_a_subtitle_stream_inside_a_video_is_a_track(browser, inband: ServerThread) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        open_entry(page, inband, "", "film.webm")
        page.wait_for_function(PLAYING_PAST, arg=0.2)
        track = page.locator("#player video track")
        assert track.get_attribute("src").endswith("subtitles/film.webm?stream=1") and track.get_attribute("srclang") == "fra"
        cues = "() => { const t = document.querySelector('#player video track').track; t.mode = 'showing'; return t.cues && t.cues.length === 2; }"
        page.wait_for_function(cues)
        assert page.evaluate("() => document.querySelector('#player video track').track.cues[0].text") == "Inside the file"
    finally:
        context.close()
