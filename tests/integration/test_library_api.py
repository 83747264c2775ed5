"""The library as a developer meets it: what a route gets by default, what fails early, what bytes get."""

from __future__ import annotations

from collections.abc import Iterator
import re
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from streamer import ImageResponse, MediaFile, MediaResponse, media_file, planned_bytes
from tests.conftest import ServerThread, payload
from tests.integration.test_servers import serve_app


def app_serving(root: Path, **options: object) -> FastAPI:
    files = media_file(root, **options)
    app = FastAPI()

    @app.get("/files/{path:path}", response_class=MediaResponse)
    def serve(media: MediaFile = Depends(files)) -> Iterator[bytes]:
        yield from media.iter_chunks()

    return app


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "clip.bin").write_bytes(payload(300_000, 3))
    return tmp_path


def test_rate_and_download_are_not_on_a_developers_route_unless_asked_for(folder: Path) -> None:
    with serve_app(app_serving(folder)) as base_url, httpx.Client(base_url=base_url, timeout=5) as client:
        answer = client.get("/files/clip.bin?rate=1&download=1")
        params = client.get("/openapi.json").json()["paths"]["/files/{path}"]["get"]["parameters"]
    assert answer.status_code == 200 and len(answer.content) == 300_000  # neither paced nor refused
    assert answer.headers["content-disposition"].startswith("inline")
    assert [p["name"] for p in params] == ["path"]


def test_rate_and_download_when_asked_for(folder: Path) -> None:
    app = app_serving(folder, allow_rate=True, allow_download=True, max_paced_s=2)
    with serve_app(app) as base_url, httpx.Client(base_url=base_url, timeout=5) as client:
        download = client.get("/files/clip.bin?download=1")
        paced = client.get("/files/clip.bin?rate=200000")
        too_slow = client.get("/files/clip.bin?rate=2")
        params = client.get("/openapi.json").json()["paths"]["/files/{path}"]["get"]["parameters"]
    assert download.headers["content-disposition"].startswith("attachment")
    assert paced.status_code == 200 and len(paced.content) == 300_000
    assert too_slow.status_code == 400
    assert too_slow.json()["detail"] == (
        "rate=2 would take 150000 s to send these 300000 bytes; a paced stream may last at most 2 s, "
        "so ask for at least rate=150000"
    )
    assert [p["name"] for p in params] == ["path", "download", "rate"]


def test_the_server_bounds_a_paced_stream_by_max_duration(server: ServerThread) -> None:
    with server.client() as client:
        answer = client.get("/media/big.bin?rate=2")
    assert answer.status_code == 400
    assert "a paced stream may last at most 60 s" in answer.json()["detail"]


def test_a_route_without_a_path_parameter_is_refused_when_it_is_made(folder: Path) -> None:
    files = media_file(folder)
    app = FastAPI()
    with pytest.raises(TypeError, match=r"the route '/clips/\{name\}' has none: declare it with one"):

        @app.get("/clips/{name}", response_class=MediaResponse)
        def clip(media: MediaFile = Depends(files)) -> Iterator[bytes]:
            yield from media.iter_chunks()


@pytest.mark.parametrize("response_class", [MediaResponse, ImageResponse])
def test_bytes_given_to_a_response_class_send_content_length(response_class: type[MediaResponse]) -> None:
    app = FastAPI()

    @app.get("/image")
    def image() -> MediaResponse:
        return response_class(b"\x89PNG" + bytes(1000))

    with serve_app(app) as base_url:
        answer = httpx.get(base_url + "/image")
    assert answer.headers["content-length"] == "1004" and "transfer-encoding" not in answer.headers


def test_planned_bytes_answers_as_a_file_would() -> None:
    app = FastAPI()
    data = b"\x89PNG" + bytes(range(256)) * 10

    @app.get("/chart.png", response_class=ImageResponse)
    @app.head("/chart.png", response_class=ImageResponse)
    def chart(request: Request) -> MediaResponse:
        return planned_bytes(request, data, filename="chart.png")

    with serve_app(app) as base_url, httpx.Client(base_url=base_url) as client:
        whole = client.get("/chart.png")
        again = client.get("/chart.png", headers={"if-none-match": whole.headers["etag"]})
        head = client.head("/chart.png")
        part = client.get("/chart.png", headers={"range": "bytes=4-7"})
    assert (whole.status_code, whole.content, whole.headers["content-type"]) == (200, data, "image/png")
    assert whole.headers["content-length"] == str(len(data)) and whole.headers["etag"].startswith('"')
    assert (again.status_code, again.content) == (304, b"")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", str(len(data)))
    assert (part.status_code, part.content) == (206, data[4:8])


def test_docs_work_offline(server: ServerThread) -> None:
    """/docs names no other host, and everything it loads comes from this server."""
    with server.client() as client:
        page = client.get("/docs")
        assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
        answers = {url: client.get(url) for url in assets}
        schema = client.get("/openapi.json")
    assert page.status_code == 200 and "//" not in page.text.replace("<!DOCTYPE", "")
    assert "'validatorUrl': null" in page.text or '"validatorUrl": null' in page.text
    assert {url.rsplit("/", 1)[1] for url in assets} == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}
    for url, answer in answers.items():
        assert answer.status_code == 200 and answer.headers["content-length"] == str(len(answer.content)), url
    assert answers["docs-assets/swagger-ui-bundle.js"].headers["content-type"].startswith("text/javascript")
    assert schema.status_code == 200 and "/docs" not in schema.json()["paths"]
