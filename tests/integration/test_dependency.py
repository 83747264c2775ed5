"""The ``media_file`` dependency in a developer's own app answers exactly as the server's ``/media`` does.

The server's route is served by ``MediaEndpoint`` (below FastAPI's dependency
machinery); a developer's route by ``Depends(media_file(...))`` and a generator
endpoint. Both share ``MediaFiles.planned``, and this holds them to the same
status, headers and bytes, in both endpoint forms, with and without the
open-file cache, and checks that the dependency closes every file it opened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI

from streamer import MediaFile, MediaResponse, media_file, running
from streamer.sources.filecache import OpenFileCache
from tests.conftest import ServerThread, fd_targets
from tests.integration.test_resources import wait_until
from tests.integration.test_servers import serve_app

IGNORED = {"date", "server", "vary"}  # vary: the server's CORS middleware, not the route


def developer_app(root: Path, io: str, *, cached: bool) -> FastAPI:
    """The README's range app, in the ``def`` or the ``async def`` form, with or without the cache."""
    cache = OpenFileCache.create(inactive_s=0.2) if cached else None
    files = media_file(root, chunk_size=64 * 1024, cache=cache, allow_rate=True, allow_download=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(files):
            yield

    app = FastAPI(lifespan=lifespan)

    if io == "sync":

        def endpoint(media: MediaFile = Depends(files)) -> Iterator[bytes]:
            yield from media.iter_chunks()

    else:

        async def endpoint(media: MediaFile = Depends(files)) -> AsyncIterator[bytes]:  # type: ignore[misc]
            async for chunk in media.aiter_chunks():
                yield chunk

    for method in ("GET", "HEAD"):
        app.add_api_route("/media/{path:path}", endpoint, methods=[method], response_class=MediaResponse,
                          name=f"media_{method.lower()}")
    return app


REQUESTS = [
    pytest.param("GET", "/media/big.bin", {}, id="whole-file-in-many-chunks"),
    pytest.param("GET", "/media/small.bin", {}, id="small-file-read-at-once"),
    pytest.param("HEAD", "/media/big.bin", {}, id="head"),
    pytest.param("GET", "/media/big.bin", {"range": "bytes=100-199"}, id="one-range"),
    pytest.param("GET", "/media/big.bin", {"range": "bytes=-500"}, id="suffix-range"),
    pytest.param("GET", "/media/big.bin", {"range": "bytes=0-9,5000000-"}, id="several-ranges-multipart"),
    pytest.param("GET", "/media/big.bin", {"range": "bytes=999999999-"}, id="unsatisfiable-416"),
    pytest.param("GET", "/media/big.bin", {"if-none-match": "*"}, id="not-modified-304"),
    pytest.param("GET", "/media/big.bin", {"if-match": '"other"'}, id="precondition-failed-412"),
    pytest.param("GET", "/media/big.bin?download=1", {}, id="download-attachment"),
    pytest.param("GET", "/media/big.bin?download=maybe&rate=x", {}, id="invalid-query-422"),
    pytest.param("GET", "/media/big.bin?rate=0", {}, id="rate-out-of-bounds-400"),
    pytest.param("GET", "/media/nope.bin", {}, id="missing-404"),
    pytest.param("GET", "/media/../secret", {}, id="traversal-404"),
]


def comparable(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in IGNORED}
    body = response.content
    if "multipart/byteranges" in headers.get("content-type", ""):  # each answer draws its own boundary
        boundary = headers["content-type"].split("boundary=")[1].encode()
        body = body.replace(boundary, b"BOUNDARY")
        headers["content-type"] = headers["content-type"].split("boundary=")[0]
        headers.pop("content-length")
    return response.status_code, headers, body


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "uncached"])
@pytest.mark.parametrize(("method", "target", "headers"), REQUESTS)
def test_the_dependency_answers_as_the_server_does(
    server: ServerThread, media_root: Path, cached: bool, method: str, target: str, headers: dict[str, str]
) -> None:
    app = developer_app(media_root, server.io, cached=cached)
    with serve_app(app) as base_url, httpx.Client(base_url=base_url) as mine, server.client() as theirs:
        ours = mine.request(method, target, headers=headers)
        reference = theirs.request(method, target, headers=headers)
    assert comparable(ours) == comparable(reference)
    if method == "GET" and ours.status_code == 200:
        assert ours.content == (media_root / target.split("?")[0].removeprefix("/media/")).read_bytes()


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "uncached"])
@pytest.mark.parametrize("io", ["sync", "async"])
def test_the_dependency_closes_every_file_it_opened(media_root: Path, io: str, cached: bool) -> None:
    app = developer_app(media_root, io, cached=cached)
    with serve_app(app) as base_url, httpx.Client(base_url=base_url) as client:
        for target in ("/media/big.bin", "/media/small.bin"):
            assert client.get(target).status_code == 200
            assert client.get(target, headers={"range": "bytes=0-99"}).status_code == 206
            assert client.head(target).status_code == 200
        with client.stream("GET", "/media/big.bin") as response:  # left after one chunk
            next(response.iter_raw())
        assert wait_until(lambda: fd_targets(under=media_root) == [], timeout=2.0)
