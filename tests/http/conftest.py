"""Fixtures for the end-to-end HTTP tests: a client that fails on any 5xx, and a server-log guard.

``client`` overrides the top-level fixture only to add the 5xx hook. The
autouse guard fails a test during which the server logged an error (such as
uvicorn's "Exception in ASGI application"), which a client may never see when
the exception happens after the headers were sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.register_assert_rewrite("tests.http.wire")

from tests.conftest import ServerThread  # noqa: E402
from tests.http.wire import fail_on_server_error  # noqa: E402

SERVER_LOGGERS = ("uvicorn.error", "streamer")


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_server_errors() -> Iterator[None]:
    handler = _ErrorRecords()
    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    yield
    for logger in loggers:
        logger.removeHandler(handler)
    assert not handler.records, [handler.format(record) for record in handler.records]


def checked_client(server: ServerThread) -> httpx.Client:
    """A client on ``server`` that fails the test on any 5xx response."""
    return server.client(event_hooks={"response": [fail_on_server_error]})


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with checked_client(server) as c:
        yield c


@pytest.fixture(scope="session")
def small(media_root: Path) -> bytes:
    return (media_root / "small.bin").read_bytes()


@pytest.fixture(scope="session")
def big(media_root: Path) -> bytes:
    return (media_root / "big.bin").read_bytes()
