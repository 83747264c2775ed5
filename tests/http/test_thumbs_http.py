"""GET|HEAD /thumbs end to end on a real server: planned answers, formats, refusals, cache, single flight, processes."""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from streamer import Settings, create_app
from tests.conftest import ServerThread, start_server
from tests.http.conftest import checked_client
from tests.thumb_media import jpeg_bytes, two_tone

WEBP = {"accept": "image/avif,image/webp,*/*;q=0.8"}


@pytest.fixture(scope="module")
def root(thumb_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy the tests may change."""
    copy = tmp_path_factory.mktemp("thumbs-served") / "media"
    shutil.copytree(thumb_root, copy)
    return copy


@pytest.fixture(scope="module")
def thumbs_server(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    running = start_server(Settings(media_dir=root, cache_dir=tmp_path_factory.mktemp("thumbs-cache"), media_workers=2))
    yield running
    running.stop()


@pytest.fixture
def client(thumbs_server: ServerThread) -> Iterator[httpx.Client]:
    with thumbs_server.client() as c:
        yield c


def jobs(client: httpx.Client) -> int:
    return int(client.get("/debug/runtime").json()["media_jobs"])


def decode(response: httpx.Response) -> Image.Image:
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


@pytest.mark.parametrize(
    ("path", "size", "expected"),
    [
        pytest.param("photo.jpg", 160, (160, 107), id="jpeg"),
        pytest.param("rotated.jpg", 320, (213, 320), id="exif-rotated"),
        pytest.param("photo.heic", 320, (320, 240), id="heic"),
        pytest.param("anim.gif", 2560, (300, 200), id="gif-never-upscaled"),
        pytest.param("clip.mp4", 160, (160, 120), id="video-poster"),
        pytest.param("embedded.mp3", 160, (160, 160), id="audio-embedded-cover"),
        pytest.param("album/track.mp3", 160, (160, 120), id="audio-folder-cover"),
    ],
)
def test_thumbnail_is_a_planned_image(client: httpx.Client, path: str, size: int, expected: tuple[int, int]) -> None:
    response = client.get(f"/thumbs/{path}", params={"size": size}, headers=WEBP)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp" and "Accept" in response.headers["vary"]
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert decode(response).size == expected


def test_jpeg_without_webp_in_accept(client: httpx.Client) -> None:
    response = client.get("/thumbs/photo.jpg", headers={"accept": "image/jpeg,*/*"})
    assert response.headers["content-type"] == "image/jpeg" and decode(response).format == "JPEG"


def test_etag_304_head_and_range(client: httpx.Client) -> None:
    whole = client.get("/thumbs/photo.jpg?size=320")
    etag = whole.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/") and whole.headers["last-modified"]
    again = client.get("/thumbs/photo.jpg?size=320", headers={"if-none-match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert again.headers["cache-control"] == whole.headers["cache-control"] and "Accept" in again.headers["vary"]
    head = client.head("/thumbs/photo.jpg?size=320")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", whole.headers["content-length"])
    part = client.get("/thumbs/photo.jpg?size=320", headers={"range": "bytes=0-9"})
    assert (part.status_code, part.content) == (206, whole.content[:10])
    failed = client.get("/thumbs/photo.jpg?size=320", headers={"if-match": '"other"'})
    assert failed.status_code == 412
    webp = client.get("/thumbs/photo.jpg?size=320", headers=WEBP)
    assert webp.headers["etag"] != etag  # another format, another representation


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        pytest.param("/thumbs/photo.jpg?size=333", 400, "160, 320, 640, 1280, 2560", id="size-outside-the-set"),
        pytest.param("/thumbs/photo.jpg?size=abc", 400, "160, 320, 640, 1280, 2560", id="size-not-a-number"),
        pytest.param("/thumbs/notes.txt", 415, "Not an image, video or audio", id="not-media"),
        pytest.param("/thumbs/missing.jpg", 404, "Not Found", id="missing"),
        pytest.param("/thumbs/../secret.jpg", 404, "Not Found", id="outside-root"),
        pytest.param("/thumbs/album", 404, "Not Found", id="folder"),
        pytest.param("/thumbs/bomb.png", 422, "30000x30000", id="decompression-bomb"),
        pytest.param("/thumbs/truncated.jpg", 422, "truncated", id="truncated-jpeg"),
        pytest.param("/thumbs/noise.jpg", 422, "Not an image", id="noise-named-jpeg"),
        pytest.param("/thumbs/noise.mp4", 422, "Not a video", id="corrupt-video"),
        pytest.param("/thumbs/lonely/track.mp3", 404, "No cover art", id="audio-without-cover"),
    ],
)
def test_refusals_say_why(client: httpx.Client, path: str, status: int, reason: str) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
    assert client.get("/healthz").text == "ok"


def test_second_request_is_a_cache_hit_and_a_change_is_a_miss(client: httpx.Client, root: Path) -> None:
    target = root / "changing.jpg"
    target.write_bytes(jpeg_bytes(two_tone((900, 600))))
    first = client.get("/thumbs/changing.jpg")
    before = jobs(client)
    hit = client.get("/thumbs/changing.jpg")
    assert jobs(client) == before and hit.content == first.content and hit.headers["etag"] == first.headers["etag"]
    target.write_bytes(jpeg_bytes(two_tone((600, 900))))
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    changed = client.get("/thumbs/changing.jpg")
    assert jobs(client) == before + 1
    assert changed.headers["etag"] != first.headers["etag"] and decode(changed).size == (213, 320)


def test_concurrent_requests_for_one_missing_thumbnail_make_it_once(client: httpx.Client, root: Path) -> None:
    (root / "burst.jpg").write_bytes(jpeg_bytes(two_tone((3000, 2000))))
    before = jobs(client)
    barrier = threading.Barrier(8)
    answers: list[int] = []

    def ask() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=30) as own:
            barrier.wait()
            answers.append(own.get("/thumbs/burst.jpg?size=640").status_code)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 8 and jobs(client) == before + 1


def test_openapi_documents_image_types(client: httpx.Client) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/thumbs/{path}"]
    assert set(operation) == {"get", "head"}
    content = operation["get"]["responses"]["200"]["content"]
    assert set(content) == {"image/webp", "image/jpeg"}
    assert {"304", "400", "404", "415", "422", "504"} <= set(operation["get"]["responses"])


def test_an_app_never_started_holds_no_process(tmp_path: Path, root: Path) -> None:
    app = create_app(Settings(media_dir=root, cache_dir=tmp_path))
    assert app.state.media_pool.processes == [] and not tmp_path.joinpath("thumbs").exists()


def test_worker_processes_are_reaped_at_shutdown(root: Path, tmp_path: Path) -> None:
    running = start_server(Settings(media_dir=root, cache_dir=tmp_path, media_workers=2))
    try:
        with checked_client(running) as client:
            for path in ("photo.jpg", "photo.webp", "clip.mp4"):
                assert client.get(f"/thumbs/{path}").status_code == 200
            pids = running.server.config.app.state.media_pool.processes
            assert 1 <= len(pids) <= 2 and client.get("/debug/runtime").json()["media_workers"] == len(pids)
    finally:
        running.stop()
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def test_healthz_stays_quick_while_thumbnails_are_made(root: Path, tmp_path: Path) -> None:
    """Eight 6 MP JPEGs decoded at once: the loop only waits on pipes, so /healthz stays quick."""
    (root / "large-0.jpg").write_bytes(jpeg_bytes(two_tone((3000, 2000))))
    for index in range(1, 8):  # other paths, so other cache keys: eight jobs
        os.link(root / "large-0.jpg", root / f"large-{index}.jpg")
    running = start_server(Settings(media_dir=root, cache_dir=tmp_path, media_workers=2))
    timings: list[float] = []
    try:
        with httpx.Client(base_url=running.base_url, timeout=60) as client:
            client.get("/thumbs/photo.jpg")  # start the workers first

            def ask(index: int) -> None:
                with httpx.Client(base_url=running.base_url, timeout=60) as own:
                    assert own.get(f"/thumbs/large-{index}.jpg?size=320").status_code == 200

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                started = time.perf_counter()
                assert client.get("/healthz").text == "ok"
                timings.append(time.perf_counter() - started)
                time.sleep(0.01)
            for thread in threads:
                thread.join()
    finally:
        running.stop()
    assert len(timings) >= 5
    assert sorted(timings)[len(timings) // 2] < 0.05, timings  # a median well below one decode


def test_thumbnails_refuse_a_missing_folder_and_close_only_their_own_pool(tmp_path: Path) -> None:
    import anyio

    from streamer import Thumbnails
    from streamer.media.workers import WorkerPool

    with pytest.raises(ValueError, match="is not a folder"):
        Thumbnails(tmp_path / "missing", tmp_path / "cache")

    async def main() -> tuple[bool, bool]:
        shared = WorkerPool(1)
        borrowed, own = Thumbnails(tmp_path, tmp_path / "cache", shared), Thumbnails(tmp_path, tmp_path / "cache")
        await borrowed.aclose()
        await own.aclose()
        closed = (shared._closed, own.pool._closed)
        await shared.aclose()
        return closed

    assert anyio.run(main) == (False, True)
