"""Sharing for real: `streamer serve --access token` in its own process, its printed address, signed links
made by `streamer sign`, followed by Chromium, ffprobe and an HTTP client."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO, require_program

MEDIA = REPO / "media"
PRINTED = re.compile(r"open the library at (http://\S+/\?token=\S+)")


def sign(secret: Path, port: int, path: str, ttl: str = "1h") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "streamer", "sign", path, "--ttl", ttl, "--secret-file", str(secret),
         "--port", str(port), "--media-dir", str(MEDIA)],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return done.stdout.strip()


def test_a_token_server_shared_by_its_printed_address_and_signed_links(browser, spawn_server, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    server = spawn_server(str(MEDIA), "--access", "token", "--secret-file", str(secret))
    printed = PRINTED.search(server.output())
    assert printed is not None, server.output()
    token = printed.group(1).rsplit("=", 1)[1]

    # Every route but /healthz refuses without the cookie; the operator routes take the token.
    for target in ("/", "/api/media", "/media/bars.webm", "/metrics", "/debug/runtime"):
        assert httpx.get(server.base_url + target).status_code == 401, target
    assert httpx.get(server.base_url + "/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert httpx.get(server.base_url + "/bytes/10", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    # The page works after following the printed address.
    context = browser.new_context()
    page = context.new_page()
    page.goto(printed.group(1))
    page.get_by_role("button", name="bars.webm").wait_for()
    assert "token" not in page.url
    context.close()

    # A signed file link plays: Range and HEAD.
    file_link = sign(secret, server.port, "bars-faststart.mp4")
    size = (MEDIA / "bars-faststart.mp4").stat().st_size
    ranged = httpx.get(file_link, headers={"Range": "bytes=0-1"})
    assert ranged.status_code == 206 and ranged.headers["content-range"] == f"bytes 0-1/{size}"
    head = httpx.head(file_link)
    assert head.status_code == 200 and head.headers["content-length"] == str(size)
    require_program("ffprobe", "Debian package ffmpeg")
    probed = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", file_link],
                            capture_output=True, text=True, timeout=30, check=True)
    assert abs(float(json.loads(probed.stdout)["format"]["duration"]) - 4.0) < 0.2

    # A signed folder link browses in the page, shows posters and plays HLS through its playlist's relative URLs.
    folder_link = sign(secret, server.port, "series")
    context = browser.new_context()
    page = context.new_page()
    page.goto(folder_link)
    page.get_by_role("button", name="Episode 10.mkv").wait_for()
    context.close()
    base = folder_link.split("#")[0]
    playlist = base + "hls/series/Episode%201.mkv/index.m3u8"
    probed = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", playlist],
                            capture_output=True, text=True, timeout=30, check=True)
    assert "h264" in probed.stdout
    poster = httpx.get(base + "thumbs/series/Episode%2010.mkv?size=160")
    assert poster.status_code == 200 and poster.headers["content-type"] in ("image/webp", "image/jpeg")
    assert httpx.get(base + "api/media?path=").status_code == 403
    assert httpx.get(base + "media/bars.webm").status_code == 403

    # An expired link: the player under way keeps seeking; a new visitor gets 410.
    short = sign(secret, server.port, "long/seek-test.mp4", ttl="2s")
    with httpx.Client() as player:
        assert player.get(short, headers={"Range": "bytes=0-1"}).status_code == 206
        time.sleep(3.1)
        assert player.get(short, headers={"Range": "bytes=100000-100099"}).status_code == 206
    assert httpx.get(short).status_code == 410
    assert token not in server.output().split("open the library at")[1].split("\n", 1)[1]  # the log never repeats it
