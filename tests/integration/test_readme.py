"""The README's promises: both snippets run as shown, and CI runs the README's test command."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BIG_SIZE, GRACE_EXCEEDED, REPO, fd_targets, free_port, payload
from tests.integration.test_resources import abort, start_download, wait_until
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


def test_in_memory_image_is_planned_like_a_file() -> None:
    app = load_app("in-memory-image")
    with serve_app(app) as base_url, httpx.Client(base_url=base_url) as client:
        chart = client.get("/chart.png?width=300")
        again = client.get("/chart.png?width=300", headers={"if-none-match": chart.headers["etag"]})
        other = client.get("/chart.png?width=10", headers={"if-none-match": chart.headers["etag"]})
        head = client.head("/badge.png")
        badge = client.get("/badge.png")
        schema = client.get("/openapi.json").json()
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.headers["content-length"] == str(len(chart.content)) and chart.content.startswith(b"\x89PNG")
    assert (again.status_code, again.content) == (304, b"")
    assert other.status_code == 200  # other bytes, another ETag
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", str(len(badge.content)))
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


def test_own_app_serves_ranges_from_its_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in ("videos", "music"):
        (tmp_path / folder).mkdir()
    data = payload(600_000, 7)
    (tmp_path / "videos" / "clip.mp4").write_bytes(data)
    (tmp_path / "music" / "song.mp3").write_bytes(data[:5000])
    monkeypatch.chdir(tmp_path)
    app = load_app("own-app")
    (tmp_path / "videos" / "clip.webm").write_bytes(data[:1000])
    with serve_app(app) as base_url, httpx.Client(base_url=base_url) as client:
        whole = client.get("/videos/clip.mp4")
        part = client.get("/videos/clip.mp4", headers={"range": "bytes=300000-300009"})
        head = client.head("/videos/clip.mp4")
        webm = client.get("/videos/clip.webm")
        song = client.get("/music/song.mp3", headers={"range": "bytes=-10"})
        missing = client.get("/videos/nope.mp4")
        not_modified = client.get("/videos/clip.mp4", headers={"if-none-match": whole.headers["etag"]})
        lag = client.get("/debug/lag").json()
        schema = client.get("/openapi.json").json()
    assert (whole.status_code, whole.content, whole.headers["content-type"]) == (200, data, "video/mp4")
    assert (part.status_code, part.content, part.headers["content-range"]) == (206, data[300000:300010], "bytes 300000-300009/600000")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "600000")
    assert webm.headers["content-type"] == "video/webm"  # the file's own type, exactly once
    assert (song.status_code, song.content, song.headers["content-type"]) == (206, data[4990:5000], "audio/mpeg")
    assert not_modified.status_code == 304
    assert missing.status_code == 404
    assert set(lag) == {"samples", "p50_ms", "p99_ms", "max_ms"}
    operations = schema["paths"]["/videos/{path}"]
    assert set(operations) == {"get", "head"}
    responses = operations["get"]["responses"]
    assert {"200", "206", "304", "400", "404", "412", "416", "503"} <= set(responses)
    assert "video/mp4" in responses["200"]["content"]
    assert [p["name"] for p in operations["get"]["parameters"]] == ["path"]  # no ?rate= or ?download= unless asked for
    assert "--" not in json.dumps(responses)  # no server-only option named to a developer's clients


def test_media_router_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.bin").write_bytes(b"abcdef")
    monkeypatch.chdir(tmp_path)
    with serve_app(load_app("media-router")) as base_url, httpx.Client(base_url=base_url) as client:
        part = client.get("/files/media/a.bin", headers={"range": "bytes=1-2"})
        head = client.head("/files/media/a.bin")
        schema = client.get("/openapi.json").json()
    assert (part.status_code, part.content) == (206, b"bc")
    assert head.headers["content-length"] == "6"
    responses = schema["paths"]["/files/media/{path}"]["get"]["responses"]
    assert {"200", "206", "304", "404", "412", "416", "503"} <= set(responses)
    assert "--" not in json.dumps(responses)


def test_own_generators_close_on_abort_and_are_not_started_for_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "recording.wav").write_bytes(payload(8 << 20, 1))
    (tmp_path / "server.log").write_bytes(payload(8 << 20, 2))
    monkeypatch.chdir(tmp_path)
    app = load_app("own-generators")
    with serve_app(app) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        for name in ("recording.wav", "server.log"):
            sock = start_download(port, "/" + name)
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
            assert wait_until(lambda: fd_targets(under=tmp_path) != [], 5)  # the generator has it open
            abort(sock, reset=False)
            assert wait_until(lambda: fd_targets(under=tmp_path) == [], 2), "the file stayed open after the abort"
        (tmp_path / "recording.wav").unlink()  # a generator started now would fail before its first byte
        head = httpx.head(base_url + "/recording.wav")
        wav = httpx.head(base_url + "/server.log")
    assert (head.status_code, head.headers["content-type"]) == (200, "audio/wav")
    assert wav.headers["content-type"] == "text/plain; charset=utf-8"


def test_a_mounted_server_runs_its_lifespan_and_serves_under_the_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "media" / "sub").mkdir(parents=True)
    (tmp_path / "media" / "sub" / "a.mp4").write_bytes(payload(10_000, 3))
    monkeypatch.chdir(tmp_path)
    app = load_app("mount")
    with serve_app(app) as base_url, httpx.Client(base_url=base_url) as client:
        bare = client.get("/library")
        page = client.get("/library/")
        listing = client.get("/library/api/media", params={"path": "sub"})
        part = client.get("/library/media/sub/a.mp4", headers={"range": "bytes=0-1"})
        cached = client.get("/library/debug/runtime").json()["cached_files"]  # the cache its lifespan made
        sampled = wait_until(lambda: client.get("/library/debug/lag").json()["samples"] > 0, 3)
    assert bare.status_code in (307, 308) and bare.headers["location"].endswith("/library/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    entry = listing.json()["entries"][0]
    assert entry["name"] == "a.mp4" and not entry["url"].startswith("/")  # relative: resolves under /library/
    assert (part.status_code, part.content) == (206, payload(10_000, 3)[:2])
    assert cached == 1 and sampled  # the mounted app's lifespan ran: its open-file cache and lag monitor


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
    app, pool = namespace["app"], namespace["thumbnails"].pool
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


def test_an_app_made_from_the_readme_streams_and_survives_sigterm_with_the_cache_on(tmp_path: Path) -> None:
    """The issue's "done when": a fresh app from the README's snippets, run by uvicorn as the README says."""
    for folder in ("videos", "music"):
        (tmp_path / folder).mkdir()
    data = payload(BIG_SIZE, 5)
    (tmp_path / "videos" / "big.mp4").write_bytes(data)
    (tmp_path / "music" / "song.mp3").write_bytes(data[:5000])
    (tmp_path / "readme_app.py").write_text(snippet("own-app"))
    (tmp_path / "readme_images.py").write_text(snippet("in-memory-image"))
    (tmp_path / "main.py").write_text(
        "from readme_app import app\nfrom readme_images import app as images\n\napp.include_router(images.router)\n"
    )
    assert "uvicorn app:app --timeout-graceful-shutdown 10" in README
    port = free_port()
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-X", "dev", "-m", "uvicorn", "main:app", "--timeout-graceful-shutdown", "1",
             "--port", str(port)],
            cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},  # this checkout's streamer, whatever the venv points at
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: process.poll() is not None or _answers(base_url + "/debug/lag"), 30), log.read_text()
        assert process.poll() is None, log.read_text()
        with httpx.Client(base_url=base_url) as client:
            part = client.get("/videos/big.mp4", headers={"range": "bytes=100-199"})
            song = client.get("/music/song.mp3")
            chart = client.get("/chart.png")
            cached_chart = client.get("/chart.png", headers={"if-none-match": chart.headers["etag"]})
            responses = client.get("/openapi.json").json()["paths"]["/videos/{path}"]["get"]["responses"]
        assert (part.status_code, part.content) == (206, data[100:200])
        assert song.content == data[:5000]
        assert chart.headers["content-length"] == str(len(chart.content)) and cached_chart.status_code == 304
        assert {"200", "206", "304", "404", "412", "416", "503"} <= set(responses)
        video = str(tmp_path / "videos" / "big.mp4")
        for _ in range(5):
            sock = start_download(port, "/videos/big.mp4")
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
            abort(sock, reset=True)
        # the cache keeps the file open for later requests: once, however many aborted
        assert wait_until(lambda: fd_targets(process.pid).count(video) <= 1, 5), fd_targets(process.pid)
        stalled = start_download(port, "/videos/big.mp4", rcvbuf=4096)  # reads nothing more: holds its stream
        assert stalled.recv(1024).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        stopped_in = time.monotonic() - started
        stalled.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text()
    assert process.returncode in (0, -signal.SIGTERM), output
    assert stopped_in < 6, output  # the grace (1 s), not the stall timeout (60 s)
    for sign in ("Bad file descriptor", "Application shutdown failed", "ResourceWarning"):
        assert sign not in output, output
    assert output.count("Traceback") == output.count(GRACE_EXCEEDED), output


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


