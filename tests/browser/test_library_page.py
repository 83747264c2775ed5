"""The library page in a real browser: it lists, plays and seeks, in both io forms."""

from __future__ import annotations

import pytest

from tests.browser.conftest import AccessLog, artifact
from tests.conftest import REPO, ServerThread

CURRENT_MEDIA = "document.querySelector('#player video, #player audio')"
PLAYING_PAST = f"(t) => {{ const m = {CURRENT_MEDIA}; return m && !m.paused && m.currentTime > t; }}"
SEEK_TO = f"""async (fraction) => {{
  const m = {CURRENT_MEDIA};
  const target = m.duration * fraction;
  await new Promise((resolve) => {{ m.addEventListener('seeked', resolve, {{ once: true }}); m.currentTime = target; }});
  return [target, m.currentTime];
}}"""
VIDEO_STATE = f"""() => {{
  const v = {CURRENT_MEDIA};
  return {{ width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames, seekable: v.seekable.length ? v.seekable.end(0) : 0 }};
}}"""


ENTRY_NAMES = "Array.from(document.querySelectorAll('#entries .entry'), (b) => b.getAttribute('aria-label'))"
ROOT_LISTING = [
    "album", "images", "legacy", "long", "photos", "series", "tones",
    "bars-faststart.en.srt", "bars-faststart.mp4", "bars-moov-at-end.mp4", "bars.webm",
]


def open_entry(page, library: ServerThread, folder: str, name: str) -> None:
    page.goto(f"{library.base_url}/#/{folder}")
    page.get_by_role("button", name=name, exact=True).click()


def test_page_lists_the_bundled_media_and_browses_folders_by_keyboard(page, library: ServerThread) -> None:
    page.goto(library.base_url + "/")
    page.get_by_role("button", name="bars.webm").wait_for()
    assert page.evaluate(ENTRY_NAMES) == ROOT_LISTING
    assert page.get_by_role("status").inner_text() == f"{len(ROOT_LISTING)} items"
    assert page.get_by_role("link", name="Download bars.webm").get_attribute("href").endswith("media/bars.webm?download=1")
    page.get_by_role("button", name="tones").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="a440.mp3").wait_for()
    assert page.evaluate(ENTRY_NAMES) == ["a440.mp3", "c523.wav", "e659.opus"]
    assert page.get_by_role("navigation", name="Folder").get_by_role("link", name="tones").get_attribute("aria-current") == "page"
    assert page.get_by_role("button", name="List").get_attribute("aria-pressed") == "true"  # a folder of music is a list
    page.go_back()
    page.get_by_role("button", name="bars.webm").wait_for()
    assert page.get_by_role("button", name="Grid").get_attribute("aria-pressed") == "true"


@pytest.mark.parametrize("name", ["bars-faststart.mp4", "bars-moov-at-end.mp4", "bars.webm"])
def test_video_plays_decodes_frames_and_seeks_to_the_middle(page, library: ServerThread, name: str) -> None:
    open_entry(page, library, "", name)
    page.wait_for_function(PLAYING_PAST, arg=0.3)
    before = page.evaluate(VIDEO_STATE)
    assert before["width"] == 320 and before["frames"] > 0
    assert before["seekable"] > 3.5  # the whole clip is seekable: the server answered with ranges
    target, landed = page.evaluate(SEEK_TO, 0.5)
    assert abs(landed - target) < 0.5
    page.wait_for_function(PLAYING_PAST, arg=target + 0.4)
    assert page.evaluate(VIDEO_STATE)["frames"] > before["frames"]


@pytest.mark.parametrize("name", ["a440.mp3", "e659.opus", "c523.wav"])
def test_audio_plays_and_seeks(page, library: ServerThread, name: str) -> None:
    open_entry(page, library, "tones", name)
    page.wait_for_function(PLAYING_PAST, arg=0.2)
    target, landed = page.evaluate(SEEK_TO, 0.5)
    assert abs(landed - target) < 0.5
    page.wait_for_function(PLAYING_PAST, arg=target + 0.2)


def test_throttled_seek_asks_the_server_for_a_mid_file_range(page, library: ServerThread, access_log: AccessLog) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": 50 * 1024, "uploadThroughput": 50 * 1024},
    )
    open_entry(page, library, "long", "seek-test.mp4")
    page.wait_for_function(f"() => {CURRENT_MEDIA}.readyState >= 1")
    size = (REPO / "media" / "long" / "seek-test.mp4").stat().st_size
    target, landed = page.evaluate(SEEK_TO, 0.8)
    assert abs(landed - target) < 0.5
    seeks = [
        answer for answer in access_log.answers
        if answer[1] == "/media/long/seek-test.mp4" and answer[2] == 206 and answer[4].startswith("bytes ")
    ]
    starts = [int(answer[4].split()[1].split("-")[0]) for answer in seeks]
    assert any(start > size // 2 for start in starts), access_log.answers


def test_page_fits_a_phone_and_is_captured(page, library: ServerThread) -> None:
    open_entry(page, library, "", "bars-faststart.mp4")
    page.wait_for_function(PLAYING_PAST, arg=0.5)
    page.screenshot(path=artifact(f"library-{library.io}.png"))
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=artifact(f"library-{library.io}-phone.png"), full_page=True)


VIEWER_IMAGE = "() => { const i = document.querySelector('#viewer-image'); return i.complete && i.naturalWidth > 0; }"


def test_photos_open_large_and_page_by_keyboard_and_swipe(page, library: ServerThread) -> None:
    open_entry(page, library, "photos", "dawn.jpg")
    viewer = page.get_by_role("dialog", name="Photo")
    viewer.wait_for()
    page.wait_for_function(VIEWER_IMAGE)
    assert page.locator("#viewer-caption").inner_text() == "dawn.jpg · 1 / 3"
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('#viewer-caption').textContent.startsWith('dusk.jpg')")
    page.wait_for_function(VIEWER_IMAGE)
    box = page.locator("#viewer .stage").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.8, y)  # a swipe to the left: the next photo
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, y, steps=5)
    page.mouse.up()
    assert page.locator("#viewer-caption").inner_text() == "noon.jpg · 3 / 3"
    assert page.get_by_role("button", name="Next photo").is_disabled()
    assert page.get_by_role("link", name="Original").get_attribute("href").endswith("media/photos/noon.jpg")
    page.screenshot(path=artifact(f"viewer-{library.io}.png"))
    page.keyboard.press("Escape")
    viewer.wait_for(state="hidden")


def test_an_album_plays_through_in_order(page, library: ServerThread) -> None:
    open_entry(page, library, "album", "01 Morning.mp3")
    page.wait_for_function(PLAYING_PAST, arg=0.1)
    page.evaluate(f"() => {{ const m = {CURRENT_MEDIA}; m.currentTime = m.duration - 0.3; }}")
    page.wait_for_function(f"() => {CURRENT_MEDIA}.getAttribute('aria-label') === '02 Evening.mp3'")
    page.wait_for_function(PLAYING_PAST, arg=0.2)
    assert page.locator("#entries li.current .entry").get_attribute("aria-label") == "02 Evening.mp3"


def test_a_video_this_browser_cannot_play_is_explained(page, library: ServerThread) -> None:
    open_entry(page, library, "legacy", "old-camera.avi")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "old-camera.avi" in alert.inner_text()


HLS_PLAY = """async (url) => {
  await new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = 'static/hls.light.min.js';
    script.onload = resolve; script.onerror = reject;
    document.head.append(script);
  });
  if (!Hls.isSupported()) return 'hls.js is not supported here';
  const video = document.createElement('video');
  video.muted = true;
  video.id = 'hls-under-test';
  document.body.append(video);
  const hls = new Hls();
  hls.loadSource(url);
  hls.attachMedia(video);
  await new Promise((resolve) => hls.on(Hls.Events.MANIFEST_PARSED, resolve));
  await video.play();
  return 'playing';
}"""
HLS_STATE = """() => {
  const v = document.getElementById('hls-under-test');
  return { time: v.currentTime, width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames, duration: v.duration };
}"""


def test_hls_js_plays_a_matroska_file_converted_on_the_fly(page, library: ServerThread) -> None:
    page.goto(library.base_url + "/")
    assert page.evaluate(HLS_PLAY, "hls/series/Episode%201.mkv/index.m3u8") == "playing"
    page.wait_for_function("() => document.getElementById('hls-under-test').currentTime > 0.5")
    state = page.evaluate(HLS_STATE)
    assert state["width"] == 160 and state["frames"] > 0
    assert abs(state["duration"] - 1.0) < 0.1
