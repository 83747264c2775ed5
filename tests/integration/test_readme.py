"""The README's promises: both snippets run as shown, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, payload
from tests.integration.test_servers import serve_app

README = (REPO / "README.md").read_text()


def snippet(name: str) -> str:
    match = re.search(rf"```python\n# readme: {name}[^\n]*\n(.*?)```", README, re.DOTALL)
    assert match, f"README snippet {name!r} not found"
    return match.group(1)


def load_app(name: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(snippet(name), f"README:{name}", "exec"), namespace)
    return namespace["app"]


def test_in_memory_image_is_one_response_with_its_media_type() -> None:
    app = load_app("in-memory-image")
    with serve_app(app) as base_url:
        response = httpx.get(base_url + "/chart.png")
        schema = httpx.get(base_url + "/openapi.json").json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(response.content))
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    content = schema["paths"]["/chart.png"]["get"]["responses"]["200"]["content"]
    assert "image/png" in content and "application/json" not in content


def test_streaming_bytesio_is_chunked_and_split_at_newlines() -> None:
    """The README's reason not to stream a BytesIO, shown on the wire."""
    import io

    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    app = FastAPI()
    data = b"line\n" * 1000

    @app.get("/naive.png")
    def naive() -> StreamingResponse:
        return StreamingResponse(io.BytesIO(data), media_type="image/png")

    with serve_app(app) as base_url, httpx.Client() as client:
        with client.stream("GET", base_url + "/naive.png") as response:
            chunks = list(response.iter_raw())
            headers = response.headers
    assert "content-length" not in headers and headers["transfer-encoding"] == "chunked"
    assert b"".join(chunks) == data


def test_range_app_serves_ranges_from_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "videos").mkdir()
    data = payload(600_000, 7)
    (tmp_path / "videos" / "clip.mp4").write_bytes(data)
    monkeypatch.chdir(tmp_path)
    app = load_app("range-app")
    (tmp_path / "videos" / "clip.webm").write_bytes(data[:1000])
    with serve_app(app) as base_url, httpx.Client(base_url=base_url) as client:
        whole = client.get("/videos/clip.mp4")
        part = client.get("/videos/clip.mp4", headers={"range": "bytes=300000-300009"})
        head = client.head("/videos/clip.mp4")
        webm = client.get("/videos/clip.webm")
        missing = client.get("/videos/nope.mp4")
        not_modified = client.get("/videos/clip.mp4", headers={"if-none-match": whole.headers["etag"]})
        schema = client.get("/openapi.json").json()
    assert (whole.status_code, whole.content, whole.headers["content-type"]) == (200, data, "video/mp4")
    assert (part.status_code, part.content, part.headers["content-range"]) == (206, data[300000:300010], "bytes 300000-300009/600000")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "600000")
    assert webm.headers["content-type"] == "video/webm"  # the file's own type, exactly once
    assert not_modified.status_code == 304
    assert missing.status_code == 404
    operations = schema["paths"]["/videos/{path}"]
    assert set(operations) == {"get", "head"}
    assert "video/mp4" in operations["get"]["responses"]["200"]["content"]


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```sh\n(.*?)\n```", README, re.DOTALL)
    assert len(commands) == 2, "the README opens with exactly two commands"
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1] in ci.splitlines()


def test_generator_snippet_regenerates_what_bytes_serves() -> None:
    from streamer.sources.synthetic import expected_bytes

    namespace: dict[str, Any] = {"seed": 42, "offset": (1 << 20) - 5, "length": 40}
    exec(compile(snippet("generator"), "README:generator", "exec"), namespace)
    assert namespace["expected"] == expected_bytes(42, (1 << 20) - 5, 40)


def test_thumbs_app_serves_planned_thumbnails_and_reaps_its_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from PIL import Image

    (tmp_path / "photos").mkdir()
    Image.new("RGB", (900, 600), (10, 120, 200)).save(tmp_path / "photos" / "beach.jpg")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(snippet("thumbs-app"), "README:thumbs-app", "exec"), namespace)
    app, pool = namespace["app"], namespace["pool"]
    with serve_app(app) as base_url, httpx.Client(base_url=base_url) as client:
        image = client.get("/thumbs/beach.jpg?size=640", headers={"accept": "image/webp"})
        again = client.get("/thumbs/beach.jpg?size=640", headers={"accept": "image/webp", "if-none-match": image.headers["etag"]})
        head = client.head("/thumbs/beach.jpg?size=640", headers={"accept": "image/webp"})
        schema = client.get("/openapi.json").json()
        pids = pool.processes
    assert (image.status_code, image.headers["content-type"]) == (200, "image/webp")
    assert Image.open(io.BytesIO(image.content)).size == (640, 427)
    assert again.status_code == 304 and head.headers["content-length"] == str(len(image.content))
    assert set(schema["paths"]["/thumbs/{path}"]["get"]["responses"]["200"]["content"]) == {"image/webp", "image/jpeg"}
    assert len(pids) == 1 and pool.processes == [] and not Path(f"/proc/{pids[0]}").exists()  # reaped by the lifespan
