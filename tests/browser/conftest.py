"""Headless Debian Chromium driven by Playwright, against streamer serving the bundled media."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer import Settings
from tests.conftest import REPO, ServerThread, require_program, start_server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM_ARGS = [
    # The machine's network is closed: no background connections, no component updates.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]


# Module scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, which would break later tests that start their own loop.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require_program("chromium", "Debian package chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module", params=["sync", "sendfile"])
def library(request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    """The sample library, copying bodies (def generator) or sending them with sendfile (the default)."""
    io, sendfile = ("async", "on") if request.param == "sendfile" else ("sync", "off")
    running = start_server(Settings(media_dir=REPO / "media", io=io, sendfile=sendfile))
    yield running
    running.stop()


@pytest.fixture
def page(browser, library: ServerThread) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


class AccessLog(logging.Handler):
    """Collects streamer's own record of each media answer, on the server's side."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.answers: list[tuple[str, str, int, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.answers.append(record.args)  # type: ignore[arg-type]


@pytest.fixture
def access_log() -> Iterator[AccessLog]:
    logger = logging.getLogger("streamer.access")
    handler, level = AccessLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
