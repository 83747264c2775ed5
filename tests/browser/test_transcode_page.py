"""A video browsers cannot decode (MPEG-4 Part 2 with MP3 in AVI) on the page, in Chromium: with
``--transcode on`` it plays through hls.js as H.264 (frames decoded and advancing); without it the
page says it cannot play and how the server would convert it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from streamer import Settings
from tests.browser.test_library_page import CURRENT_MEDIA, PLAYING_PAST
from tests.conftest import ServerThread, require_program, start_server
from tests.hlsclips import make_transcode_clips

NAME = "xvid.avi"
FRAMES = f"() => {{ const v = {CURRENT_MEDIA}; return v ? [v.videoWidth, v.getVideoPlaybackQuality().totalVideoFrames] : null; }}"


def _server(tmp_path_factory: pytest.TempPathFactory, transcode: str) -> ServerThread:
    require_program("ffmpeg", "ffmpeg")
    root = tmp_path_factory.mktemp(f"transcode-page-{transcode}")
    os.link(make_transcode_clips(tmp_path_factory.getbasetemp())[NAME], root / NAME)
    return start_server(Settings(media_dir=root, cache_dir=tmp_path_factory.mktemp("transcode-page-cache"), transcode=transcode))


@pytest.fixture(scope="module", params=["on", "off"])
def served(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    running = _server(tmp_path_factory, request.param)
    yield running
    running.stop()


def test_the_page_plays_a_converted_avi_or_says_why_not(browser, served: ServerThread) -> None:
    context = browser.new_context(viewport={"width": 900, "height": 600})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{served.base_url}/#/")
        page.get_by_role("button", name=NAME, exact=True).click()
        if served.settings.transcode == "off":
            alert = page.locator("#player .notice")
            alert.wait_for()
            assert "cannot be played" in alert.inner_text() and "--transcode on" in alert.inner_text()
            assert page.locator("#player video").count() == 0
            return
        page.wait_for_function(PLAYING_PAST, arg=0.5)
        width, frames = page.evaluate(FRAMES)
        assert width == 320 and frames > 0, "the picture is decoded: H.264, not MPEG-4 Part 2"
        page.wait_for_function(f"() => {CURRENT_MEDIA}.getVideoPlaybackQuality().totalVideoFrames > {frames}")
        assert "converted to H.264" in page.locator("#player .notice").inner_text()
    finally:
        context.close()
