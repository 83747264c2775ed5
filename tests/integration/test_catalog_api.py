"""GET /api/media over HTTP: what is listed, what never is, paging, and refusals."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from streamer.sources.listing import natural_key



def names(client: httpx.Client, path: str = "") -> list[str]:
    response = client.get("/api/media", params={"path": path})
    assert response.status_code == 200, response.text
    return [entry["name"] for entry in response.json()["entries"]]


def test_lists_visible_entries_folders_first_and_never_hidden_or_escaping_ones(client: httpx.Client) -> None:
    listed = names(client)
    assert listed[:2] == ["dir.mp4", "sub"]  # folders first, then files, each by name
    assert {"big.bin", "small.bin", "clip.mp4", "naïve café.mp4", "alias.bin"} <= set(listed)
    for never in (".hidden", ".secret", "escape.bin", "escape-dir", "to-hidden.bin", "pipe.mp4"):
        assert never not in listed
    assert listed == sorted(listed[:2], key=natural_key) + sorted(listed[2:], key=natural_key)


def test_entries_describe_the_file_as_media_serves_it(client: httpx.Client, media_root: Path) -> None:
    entries = {e["name"]: e for e in client.get("/api/media").json()["entries"]}
    clip = entries["clip.mp4"]
    head = client.head("/" + clip["url"])
    assert (clip["kind"], clip["media_type"], clip["size"]) == ("video", "video/mp4", (media_root / "clip.mp4").stat().st_size)
    assert clip["etag"] == head.headers["etag"]
    assert clip["path"] == "clip.mp4" and clip["mtime"].endswith("+00:00")
    assert clip["faststart"] is None  # random bytes: neither moov nor mdat found
    assert entries["sub"]["kind"] == "folder" and entries["sub"]["size"] is None
    assert entries["big.bin"]["kind"] == "other" and entries["big.bin"]["faststart"] is None
    assert client.get("/" + entries["naïve café.mp4"]["url"]).status_code == 200
    assert names(client, "sub") == ["nested.webm"]
    nested = client.get("/api/media", params={"path": "sub"}).json()["entries"][0]
    assert (nested["path"], nested["url"]) == ("sub/nested.webm", "media/sub/nested.webm")


def test_pages_cover_a_folder_exactly_once(server_factory, tmp_path: Path) -> None:
    for index in range(250):
        (tmp_path / f"f{index:03d}.wav").write_bytes(b"x")
    (tmp_path / "zfolder").mkdir()
    running = server_factory(media_dir=tmp_path)
    seen, cursor, pages = [], None, 0
    with running.client() as client:
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            body = client.get("/api/media", params=params).json()
            seen += [e["name"] for e in body["entries"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
    assert pages == 3 and body["total"] == 251
    assert seen == ["zfolder"] + [f"f{i:03d}.wav" for i in range(250)]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        pytest.param({"path": "../"}, 404, id="parent-of-root"),
        pytest.param({"path": ".secret"}, 404, id="dot-directory"),
        pytest.param({"path": "escape-dir"}, 404, id="symlink-out-of-root"),
        pytest.param({"path": "nope"}, 404, id="missing-folder"),
        pytest.param({"path": "small.bin"}, 404, id="a-file-is-not-a-folder"),
        pytest.param({"path": "a\\b"}, 404, id="backslash"),
        pytest.param({"cursor": "!!"}, 400, id="bad-cursor"),
        pytest.param({"limit": "0"}, 422, id="limit-below-one"),
        pytest.param({"limit": "100000"}, 422, id="limit-above-the-cap"),
        pytest.param({"limit": "ten"}, 422, id="limit-not-a-number"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(client: httpx.Client, params: dict[str, str], status: int) -> None:
    response = client.get("/api/media", params=params)
    assert response.status_code == status
    assert response.json()["detail"]
