"""The library page of a streamer mounted under a prefix in a developer's own FastAPI app, in Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from streamer import Settings, create_app, running
from tests.browser.test_library_page import CURRENT_MEDIA, PLAYING_PAST
from tests.conftest import REPO
from tests.integration.test_servers import serve_app


def test_the_page_lists_plays_and_shows_pictures_under_a_prefix(browser, tmp_path: Path) -> None:
    library = create_app(Settings(media_dir=REPO / "media", cache_dir=tmp_path / "cache", secret_file=tmp_path / "secret"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(library):
            yield

    app = FastAPI(lifespan=lifespan)
    app.mount("/library", library)
    with serve_app(app) as base_url:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(20_000)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(base_url + "/library")  # without the slash: redirected to /library/
        page.get_by_role("button", name="bars.webm").wait_for()
        page.get_by_role("button", name="bars-faststart.mp4").click()
        page.wait_for_function(PLAYING_PAST, arg=0.3)
        assert page.evaluate(f"() => {CURRENT_MEDIA}.currentSrc") == base_url + "/library/media/bars-faststart.mp4"
        page.get_by_role("button", name="photos").click()
        page.get_by_role("button", name="dawn.jpg").click()
        page.wait_for_function("() => { const i = document.querySelector('#viewer-image'); return i.complete && i.naturalWidth > 0; }")
        context.close()
        outside = [url for url in requested[1:] if not url.startswith(base_url + "/library/")]  # after the redirect
        assert outside == [], outside  # every request stays under the prefix
