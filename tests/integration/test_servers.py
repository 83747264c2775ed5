"""Serving any ASGI app for a test, and the OpenAPI schema of streamer's own app."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.conftest import ServerThread


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on 127.0.0.1 for the duration of the block."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_openapi_documents_media_types_and_every_status(server: ServerThread) -> None:
    import httpx

    schema = httpx.get(server.base_url + "/openapi.json").json()
    operation = schema["paths"]["/media/{path}"]["get"]
    responses = operation["responses"]
    assert {"200", "206", "304", "404", "412", "416"} <= set(responses)
    for status in ("200", "206"):
        content = responses[status]["content"]
        assert {"video/*", "audio/*", "image/*", "application/octet-stream"} <= set(content)
        assert "application/json" not in content
    assert "multipart/byteranges" in responses["206"]["content"]
    assert "content" not in responses["304"]
    params = {p["name"] for p in operation["parameters"]}
    assert {"path", "download"} <= params
