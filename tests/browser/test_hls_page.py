"""Films converted on the fly, played through the page with hls.js in Chromium: picture and sound
decoded, a seek to 75 % plays on, and the server made only the segments near where it was asked.

Three 2-minute clips (160x90, a keyframe every 2 s, so 20 segments of 6 s): H.264 with AAC in MKV
(copied), H.264 with 5.1 AC-3 in MKV (converted to 5.1 AAC in the worker pool) and H.264 with MP3 in
MKV (converted too: copied into fMP4, MP3 did not play through hls.js here).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from streamer import Settings
from tests.browser.conftest import AccessLog
from tests.browser.test_library_page import CURRENT_MEDIA, PLAYING_PAST
from tests.conftest import ServerThread, require_program, start_server

SECONDS = 120
SEGMENTS = SECONDS // 6
VIDEO = ["-f", "lavfi", "-i", f"testsrc2=s=160x90:r=24:d={SECONDS}"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "48", "-sc_threshold", "0"]
CLIPS = {
    "film.mkv": [*VIDEO, "-f", "lavfi", "-i", f"sine=f=440:r=48000:d={SECONDS}", *X264, "-c:a", "aac", "-b:a", "64k"],
    "surround.mkv": [*VIDEO, "-f", "lavfi", "-i", f"sine=f=330:r=48000:d={SECONDS}", *X264, "-ac", "6", "-c:a", "ac3"],
    "mp3.mkv": [*VIDEO, "-f", "lavfi", "-i", f"sine=f=550:r=44100:d={SECONDS}", *X264, "-c:a", "libmp3lame", "-b:a", "64k"],
}
STATE = f"""() => {{
  const v = {CURRENT_MEDIA};
  return {{ time: v.currentTime, duration: v.duration, width: v.videoWidth,
           frames: v.getVideoPlaybackQuality().totalVideoFrames, sound: v.webkitAudioDecodedByteCount }};
}}"""
WARM = (0, 1, 2, 3, 13, 14, 15, 16, 17)  # where the film starts, and around 75 %
SEEK_TO = f"""async (fraction) => {{
  const m = {CURRENT_MEDIA};
  const target = m.duration * fraction;
  const seeked = new Promise((resolve) => {{ m.addEventListener('seeked', resolve, {{ once: true }}); m.currentTime = target; }});
  await Promise.race([seeked, new Promise((resolve) => setTimeout(resolve, 30000))]);  // never hang the suite
  return [target, m.currentTime];
}}"""
SEGMENT = re.compile(r"/hls/.*/([0-9]+)\.m4s$")


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    require_program("ffmpeg", "ffmpeg")
    root = tmp_path_factory.mktemp("films")
    makers = [subprocess.Popen(["ffmpeg", "-v", "error", "-y", *args, str(root / name)]) for name, args in CLIPS.items()]
    assert not any([maker.wait(timeout=120) for maker in makers]), "ffmpeg could not make the films"
    running = start_server(Settings(media_dir=root, cache_dir=tmp_path_factory.mktemp("films-cache")))
    # The 5.1 sound of the segments played is converted beforehand (503 and Retry-After until it is):
    # on a loaded machine a cold 5.1 chunk takes seconds, and its cost is bench.hls_audio's business.
    with httpx.Client(base_url=running.base_url, timeout=60) as client:
        for n in WARM:
            for _ in range(10):
                if client.get(f"/hls/surround.mkv/{n}.m4s").status_code == 200:
                    break
                time.sleep(1)
    yield running
    running.stop()


@pytest.fixture
def film_page(browser, films: ServerThread) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 900, "height": 600})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def made_segments(log: AccessLog) -> list[int]:
    return [int(match.group(1)) for _, path, status, *_ in log.answers if status in (200, 206) and (match := SEGMENT.search(path))]


@pytest.mark.parametrize("name", ["film.mkv", "surround.mkv", "mp3.mkv"])
def test_a_converted_film_plays_with_sound_and_seeks_to_three_quarters(
    film_page, films: ServerThread, access_log: AccessLog, name: str
) -> None:
    page = film_page
    page.goto(f"{films.base_url}/#/")
    page.get_by_role("button", name=name, exact=True).click()
    page.wait_for_function(PLAYING_PAST, arg=0.5)
    before = page.evaluate(STATE)
    assert before["width"] == 160 and before["frames"] > 0 and abs(before["duration"] - SECONDS) < 0.1
    page.wait_for_function(f"() => {CURRENT_MEDIA}.webkitAudioDecodedByteCount > 0")  # the sound is decoded
    early = set(made_segments(access_log))
    target, landed = page.evaluate(SEEK_TO, 0.75)
    assert abs(landed - target) < 0.5
    page.wait_for_function(PLAYING_PAST, arg=target + 1)
    after = page.evaluate(STATE)
    assert after["frames"] > before["frames"] and after["sound"] > before["sound"]
    late = set(made_segments(access_log)) - early
    first_after_seek = int(target // 6)
    assert first_after_seek in late, f"the segment at the seek point was made: {sorted(late)}"
    skipped = set(range(max(early) + 1, first_after_seek - 1))  # hls.js may fetch the one before the seek point too
    assert skipped and not skipped & set(made_segments(access_log)), f"only segments near the seek: {sorted(early)} then {sorted(late)}"
