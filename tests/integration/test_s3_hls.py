"""HLS (and rotations, covers) of a bucket's media, end to end: a real SeaweedFS, two real replicas (one per io
form), ffmpeg as the player.

A folder server over the same clips is the reference: every playlist, init and segment made from
the bucket (PyAV reading ranged GETs with If-Match, sound converted by a worker reading the object)
is byte for byte the one made from the file. An object replaced while a segment is read is a 503
with Retry-After, never a segment of two versions; a store that is down is a 503 too.
"""

from __future__ import annotations

import io
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import obstore
import pytest

from streamer import Settings
from streamer.media.keyframes import read_keyframes
from streamer.web import s3hls
from tests.conftest import REPO, ServerThread, free_port, require_program, settings_for, start_server
from tests.hlsclips import make_clips, make_transcode_clips, packet_hashes
from tests.integration.conftest import BUCKET, Weed
from tests.integration.test_s3 import runtime, store_connections
from tests.media.factory import make_av

# Matroska Cues; an MP4 with its moov at the end; sound to convert; MPEG-4 Part 2 to convert to H.264 (--transcode on)
CLIPS = ("bframes.mkv", "bframes.mp4", "ac3.mkv", "xvid.avi")
FRAME_S = 1 / 24


@dataclass
class Stack:
    replicas: list[ServerThread]
    folder: ServerThread
    clips: Path


@pytest.fixture(scope="module")
def stack(weed: Weed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_program("ffmpeg", "Debian: ffmpeg")
    made = make_clips(tmp_path_factory.mktemp("hls-clips")) | make_transcode_clips(tmp_path_factory.getbasetemp())
    clips = tmp_path_factory.mktemp("s3hls-folder")
    for name in CLIPS:
        shutil.copy(made[name], clips / name)
        obstore.put(weed.store(), f"hls/{name}", (clips / name).read_bytes())
    rotated = make_av(tmp_path_factory.mktemp("s3hls-rotated") / "rotated.mp4", "mp4", "libx264", None, rotation=90)
    obstore.put(weed.store(), "hls/rotated.mp4", rotated.read_bytes())
    replicas = []
    for form in ("async", "sync"):
        settings = replace(settings_for(clips, form), s3_url=f"s3://{BUCKET}/hls", s3_endpoint=weed.endpoint,
                           cache_dir=tmp_path_factory.mktemp(f"s3hls-cache-{form}"), media_workers=1, transcode="on")
        replicas.append(start_server(settings))
    folder = start_server(Settings(media_dir=clips, cache_dir=tmp_path_factory.mktemp("s3hls-cache-folder"), media_workers=1, transcode="on"))
    yield Stack(replicas, folder, clips)
    for server in (*replicas, folder):
        server.stop()


def url(server: ServerThread, name: str, resource: str = "index.m3u8") -> str:
    return f"{server.base_url}/hls/{name}/{resource}"


def resources(client: httpx.Client, server: ServerThread, name: str) -> dict[str, httpx.Response]:
    playlist = client.get(url(server, name))
    assert playlist.status_code == 200, playlist.text
    names = ["init.mp4", *(line for line in playlist.text.splitlines() if line.endswith(".m4s"))]
    return {"index.m3u8": playlist, **{resource: client.get(url(server, name, resource)) for resource in names}}


@pytest.mark.clients
@pytest.mark.parametrize("name", ["bframes.mkv", "bframes.mp4"])
def test_ffmpeg_plays_the_bucket_packet_for_packet(stack: Stack, name: str) -> None:
    assert packet_hashes(url(stack.replicas[0], name)) == packet_hashes(str(stack.clips / name))


@pytest.mark.parametrize("name", CLIPS)
def test_every_resource_is_the_bytes_made_from_the_file(stack: Stack, name: str) -> None:
    """Read through ranged GETs or from the disk, PyAV sees the same bytes: the same playlist, init and
    segments (the converted sound and picture too, made by a worker reading the object), the object's opened source
    kept from one resource to the next like a file's; the ETags differ (the store's)."""
    files = stack.replicas[0].server.config.app.state.hls
    inputs = files.inputs
    reused, cut = inputs.reused, files.cut
    with httpx.Client(timeout=60) as client:
        bucket = resources(client, stack.replicas[0], name)
        folder = resources(client, stack.folder, name)
    assert inputs.reused - reused + files.cut - cut >= len(bucket) - 3, "the object's opened source served its next resources"
    assert list(bucket) == list(folder) and len(bucket) > 3
    for resource, answer in bucket.items():
        assert answer.status_code == 200 and answer.content == folder[resource].content, resource
        assert answer.headers["etag"] != folder[resource].headers["etag"]
    durations = [float(line[8:].rstrip(",")) for line in bucket["index.m3u8"].text.splitlines() if line.startswith("#EXTINF:")]
    index = read_keyframes(stack.clips / name)
    assert index is not None and sum(durations) == pytest.approx(index.duration, abs=FRAME_S)


def test_replicas_agree_and_segments_are_planned(stack: Stack) -> None:
    """Validators come from the store's ETag: either replica answers the other's conditional request."""
    one, other = stack.replicas
    with httpx.Client(timeout=60) as client:
        first = client.get(url(one, "bframes.mkv", "1.m4s"))
        second = client.get(url(other, "bframes.mkv", "1.m4s"))
        assert first.status_code == second.status_code == 200 and first.content == second.content
        assert first.headers["etag"] == second.headers["etag"] and first.headers["etag"].startswith('"')
        assert first.headers["last-modified"] == second.headers["last-modified"]
        assert client.get(url(other, "bframes.mkv", "1.m4s"), headers={"if-none-match": first.headers["etag"]}).status_code == 304
        part = client.get(url(other, "bframes.mkv", "1.m4s"), headers={"range": "bytes=10-109", "if-range": first.headers["etag"]})
        assert part.status_code == 206 and part.content == first.content[10:110]
        head = client.head(url(one, "bframes.mkv", "1.m4s"))
        assert head.status_code == 200 and head.headers["content-length"] == str(len(first.content)) and not head.content
        assert client.get(url(one, "bframes.mkv", "99.m4s")).status_code == 404
        assert client.get(url(one, "missing.mkv")).status_code == 404
    for server in stack.replicas:
        assert runtime(server)["store_requests_in_flight"] == 0 and runtime(server)["store_gets_in_flight"] == 0


@pytest.mark.parametrize("name", ["bframes.mkv", "bframes.mp4"])
def test_a_cut_never_moves_the_reader_a_kept_container_holds(
    stack: Stack, weed: Weed, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment cut from the object's index, then one muxed by PyAV from the container kept by the first: the
    cut reads through a reader of its own, so PyAV's reads from its reader are where it left them."""
    from streamer.web import hls

    obstore.put(weed.store(), f"hls/moved-{name}", (stack.clips / name).read_bytes())  # new: planned by the cut below
    replica = stack.replicas[1]
    with httpx.Client(timeout=60) as client:
        last = client.get(url(replica, f"moved-{name}")).text.splitlines()[-2]
        assert client.get(url(replica, f"moved-{name}", last)).status_code == 200  # cut: the reads end near the end
        monkeypatch.setattr(hls, "CUT_FROM_INDEX", False)  # from here, PyAV muxes on both servers
        for segment in ("0.m4s", "1.m4s"):  # where PyAV's kept reader was left by the playlist's probe, and past it
            muxed = client.get(url(replica, f"moved-{name}", segment))
            assert muxed.status_code == 200 and muxed.content == client.get(url(stack.folder, name, segment)).content, segment


def test_the_bucket_listing_links_its_playlists_and_rotations(stack: Stack) -> None:
    deadline_polls = 300
    with httpx.Client(base_url=stack.replicas[0].base_url, timeout=60) as client:
        for _ in range(deadline_polls):
            page = client.get("/api/media").json()
            if not page["pending"]:
                break
        entries = {entry["name"]: entry for entry in page["entries"]}
        assert entries["bframes.mkv"]["playback"]["verdict"] == "hls"
        assert entries["bframes.mkv"]["hls"] == "hls/bframes.mkv/index.m3u8"
        assert client.get("/" + entries["bframes.mkv"]["hls"]).status_code == 200
        assert entries["rotated.mp4"]["probe"]["video"][0]["rotation"] == 90  # from its tkhd, read with ranged GETs
        assert entries["bframes.mp4"]["probe"]["video"][0]["rotation"] == 0


def test_an_object_replaced_while_its_segment_is_read_is_never_mixed(
    stack: Stack, weed: Weed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small GETs, and the object is replaced after the segment's first one: the next GET is refused
    (412, If-Match), the answer is a 503 with Retry-After, and the retry is made from the new version alone."""
    store, server = weed.store(), stack.replicas[0]
    obstore.put(store, "hls/swap.mkv", (stack.clips / "bframes.mkv").read_bytes())
    reads = {"armed": False, "count": 0}
    real = s3hls.WatchedReader.readinto

    def replacing(self: s3hls.WatchedReader, buffer: bytearray | memoryview) -> int:
        if reads["armed"]:
            reads["count"] += 1
            if reads["count"] == 2:
                obstore.put(store, "hls/swap.mkv", (stack.clips / "ac3.mkv").read_bytes())
        return real(self, buffer)

    monkeypatch.setattr(s3hls, "SEGMENT_BLOCK", 4096)
    monkeypatch.setattr(s3hls.WatchedReader, "readinto", replacing)
    with httpx.Client(timeout=60) as client:
        old = client.get(url(server, "swap.mkv", "1.m4s"))
        assert old.status_code == 200
        reads["armed"] = True
        cut = client.get(url(server, "swap.mkv", "2.m4s"))
        assert reads["count"] > 1, "the replacement came before the last read"
        assert cut.status_code == 503 and cut.headers["retry-after"] and "changed" in cut.json()["detail"]
        reads["armed"] = False
        again = client.get(url(server, "swap.mkv", "1.m4s"))
        assert again.status_code == 200 and again.headers["etag"] != old.headers["etag"]
        assert again.content == client.get(url(stack.folder, "ac3.mkv", "1.m4s")).content


def test_a_store_that_is_down_is_503_with_retry_after(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = replace(settings_for(tmp_path, "async"), s3_url=f"s3://{BUCKET}/hls", s3_endpoint=dead, cache_dir=tmp_path / "cache")
    server = start_server(settings)
    try:
        with server.client() as client:
            for resource in ("index.m3u8", "0.m4s"):
                answer = client.get(f"/hls/bframes.mkv/{resource}")
                assert answer.status_code == 503 and answer.headers["retry-after"], answer.text
                assert "object store" in answer.json()["detail"]
    finally:
        server.stop()


def test_bench_segment_p50_over_s3_smoke(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """bench.hls's S3 line, tiny: its own SeaweedFS, replica and folder server, one round of a small clip."""
    from bench.hls import segment_p50_s3_against_disk

    (tmp_path / "clip").mkdir()
    clip = tmp_path / "clip" / "bframes.mkv"
    shutil.copy(stack.clips / "bframes.mkv", clip)
    segment_p50_s3_against_disk(tmp_path, clip, rounds=1)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("segment p50 over S3") and "from disk" in line, line


def test_audio_in_a_bucket_gets_its_folders_cover(weed: Weed, tmp_path: Path) -> None:
    """No picture inside the MP3: the worker makes the thumbnail from the folder's Cover.JPG object (any
    case, found in one listing), and a new cover object makes a new thumbnail."""
    from PIL import Image

    album = REPO / "media" / "album"
    store = weed.store()
    obstore.put(store, "covers/album/01.mp3", (album / "01 Morning.mp3").read_bytes())
    obstore.put(store, "covers/album/Cover.JPG", (album / "cover.jpg").read_bytes())
    obstore.put(store, "covers/lonely/01.mp3", (album / "01 Morning.mp3").read_bytes())
    settings = replace(settings_for(tmp_path, "async"), s3_url=f"s3://{BUCKET}/covers", s3_endpoint=weed.endpoint,
                       cache_dir=tmp_path / "cache", media_workers=1)
    server = start_server(settings)
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            made = client.get("/thumbs/album/01.mp3?size=160")
            assert made.status_code == 200 and made.headers["content-type"] == "image/jpeg", made.text
            with Image.open(io.BytesIO(made.content)) as image, Image.open(album / "cover.jpg") as cover:
                assert max(image.size) == 160 and image.size[0] / image.size[1] == pytest.approx(cover.size[0] / cover.size[1], abs=0.02)
            assert client.get("/thumbs/lonely/01.mp3?size=160").status_code == 404
            obstore.put(store, "covers/album/Cover.JPG", (REPO / "media" / "photos" / "dusk.jpg").read_bytes())
            again = client.get("/thumbs/album/01.mp3?size=160")
            assert again.status_code == 200 and again.headers["etag"] != made.headers["etag"]
    finally:
        server.stop()


def test_segments_in_a_burst_keep_store_reads_bounded(stack: Stack, weed: Weed, tmp_path: Path) -> None:
    """Twelve segment requests at once on a replica allowed two GETs (--s3-max-gets 2): never more GETs in
    flight, at most one more connection to the store (a HEAD) than that, all answered, all counted back to zero."""
    settings = replace(settings_for(stack.clips, "async"), s3_url=f"s3://{BUCKET}/hls", s3_endpoint=weed.endpoint,
                       cache_dir=tmp_path / "cache", s3_max_gets=2)
    server = start_server(settings)
    seen = {"gets": 0, "connections": 0}
    done = threading.Event()

    def sample() -> None:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            while not done.is_set():
                seen["gets"] = max(seen["gets"], client.get("/debug/runtime").json()["store_gets_in_flight"])
                seen["connections"] = max(seen["connections"], store_connections(weed.port) - before)
                time.sleep(0.005)

    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            assert client.get("/hls/bframes.mkv/index.m3u8").status_code == 200
            assert client.get("/hls/bframes.mp4/index.m3u8").status_code == 200
        before = store_connections(weed.port)
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with ThreadPoolExecutor(12) as pool:
                paths = [f"/hls/{name}/{n}.m4s" for name in ("bframes.mkv", "bframes.mp4") for n in range(3)] * 2
                answers = list(pool.map(lambda path: httpx.get(server.base_url + path, timeout=60), paths))
        finally:
            done.set()
            sampler.join()
        assert [a.status_code for a in answers] == [200] * len(paths)
        assert 1 <= seen["gets"] <= 2 and seen["connections"] <= 3, seen
        assert runtime(server)["store_gets_in_flight"] == 0 and runtime(server)["store_requests_in_flight"] == 0
    finally:
        server.stop()
