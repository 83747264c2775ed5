"""/hls of video browsers cannot decode: H.264 with ``--transcode on``, a clear 422 without.

ffmpeg and ffprobe read the playlist as players do: H.264 no larger than 1280x720, every segment
starting with an IDR frame, as many frames as the source, decoded without an error, the playlist's
durations summing to the source's. Segments are the same bytes every time, planned (ETag, 304,
Range, HEAD), encoded once in the worker pool and cached; clients that leave cost nothing and
leave no process behind.
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from streamer import Settings
from tests.conftest import ServerThread, require_program, start_server
from tests.hlsclips import make_transcode_clips
from tests.http.test_hls_audio import children

NAMES = ["xvid.avi", "mpeg2.ts"]
CONVERTED = [*NAMES, "wide.avi"]
BASELINE: dict[str, set[str]] = {}


def _root(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    clips = make_transcode_clips(tmp_path_factory.getbasetemp())
    root = tmp_path_factory.mktemp(name)
    for clip, path in clips.items():
        os.link(path, root / clip)
    data = clips["xvid.avi"].read_bytes()
    (root / "truncated.avi").write_bytes(data[: len(data) // 2])  # as by an interrupted copy
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    require_program("ffmpeg", "ffmpeg")
    root = _root(tmp_path_factory, "transcode-root")
    before = BASELINE["children"] = children()
    running = start_server(Settings(media_dir=root, cache_dir=tmp_path_factory.mktemp("transcode-cache"), transcode="on"))
    yield running
    running.stop()
    assert children() <= before, "a media worker outlived the server"


@pytest.fixture(scope="module")
def off_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    require_program("ffmpeg", "ffmpeg")
    running = start_server(Settings(media_dir=_root(tmp_path_factory, "off-root"), cache_dir=tmp_path_factory.mktemp("off-cache")))
    yield running
    running.stop()


def url(server: ServerThread, name: str, resource: str = "index.m3u8") -> str:
    return f"{server.base_url}/hls/{name}/{resource}"


def probe(target: str, entries: str, *options: str) -> list[list[str]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", *options, "-select_streams", "v:0", "-show_entries", entries, "-of", "csv=p=0", target],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    return [line.rstrip(",").split(",") for line in out.splitlines() if line.strip(",")]


def frame_count(target: str) -> int:
    return int(probe(target, "stream=nb_read_frames", "-count_frames")[0][0])


def source_facts(path: Path) -> tuple[float, float]:
    """The source's length (s; MPEG-TS starts its clock at 1.4 s, and the playlist runs from there) and its frame time (s)."""
    [duration] = probe(str(path), "format=duration")[0]
    rate = probe(str(path), "stream=avg_frame_rate")[0][0]
    num, den = rate.split("/")
    return float(duration), int(den) / int(num)


@pytest.mark.clients
@pytest.mark.parametrize("name", CONVERTED)
def test_ffmpeg_plays_h264_with_every_frame_of_the_source(server: ServerThread, name: str) -> None:
    source = server.settings.media_dir / name
    playlist = url(server, name)
    codec, width, height = probe(playlist, "stream=codec_name,width,height")[0]  # a playlist is a program too: its streams twice
    assert codec == "h264" and int(width) <= 1280 and int(height) <= 720
    assert int(width) % 2 == int(height) % 2 == 0
    if name == "wide.avi":
        assert (int(width), int(height)) == (1280, 84), "fitted, never stretched"
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", playlist, "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0 and not decoded.stderr, decoded.stderr
    assert frame_count(playlist) == frame_count(str(source))
    text = httpx.get(playlist).text
    length, frame = source_facts(source)
    assert sum(float(line[8:].rstrip(",")) for line in text.splitlines() if line.startswith("#EXTINF:")) == pytest.approx(length, abs=frame)


@pytest.mark.clients
@pytest.mark.parametrize("name", NAMES)
def test_every_segment_starts_with_an_idr_frame(server: ServerThread, name: str, tmp_path: Path) -> None:
    with server.client() as client:
        playlist = client.get(url(server, name)).text
        init = client.get(url(server, name, "init.mp4")).content
        segments = [line for line in playlist.splitlines() if line.endswith(".m4s")]
        assert len(segments) > 1
        for segment in segments:
            (tmp_path / "one.mp4").write_bytes(init + client.get(url(server, name, segment)).content)
            first = probe(str(tmp_path / "one.mp4"), "frame=key_frame,pict_type", "-read_intervals", "%+#1")
            assert first[0] == ["1", "I"], f"{segment} starts with {first[0]}"


def test_segments_are_the_same_bytes_planned_and_encoded_once(server: ServerThread) -> None:
    videos = server.server.config.app.state.hls.videos
    with server.client() as client:
        first = client.get(url(server, "xvid.avi", "1.m4s"))
        started = videos.started
        second = client.get(url(server, "xvid.avi", "1.m4s"))
        assert first.status_code == second.status_code == 200 and first.content == second.content
        assert videos.started == started, "the second came from the cache"
        etag = first.headers["etag"]
        assert etag == second.headers["etag"] and first.headers["content-type"] == "video/mp4"
        assert client.get(url(server, "xvid.avi", "1.m4s"), headers={"if-none-match": etag}).status_code == 304
        part = client.get(url(server, "xvid.avi", "1.m4s"), headers={"range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == first.content[100:200]
        head = client.head(url(server, "xvid.avi", "1.m4s"))
        assert head.status_code == 200 and head.headers["content-length"] == str(len(first.content)) and not head.content
        inits = {client.get(url(server, "xvid.avi", "init.mp4")).content for _ in range(2)}
    assert len(inits) == 1 and b"avcC" in inits.pop()
    assert not os.listdir(server.settings.cache_dir / "hls-video" / "tmp"), "no temporary left"


@pytest.mark.parametrize("resource", ["index.m3u8", "init.mp4", "0.m4s"])
def test_off_by_default_the_answer_says_how_to_turn_it_on(off_server: ServerThread, resource: str) -> None:
    response = httpx.get(url(off_server, "xvid.avi", resource))
    assert response.status_code == 422
    assert "MPEG-4 Part 2" in response.json()["detail"] and "--transcode on" in response.json()["detail"]


def test_the_catalog_gives_an_hls_url_only_when_on(server: ServerThread, off_server: ServerThread) -> None:
    def entry(running: ServerThread) -> dict[str, object]:
        for _ in range(50):  # probes not done within the listing's deadline come on a later request
            listing = httpx.get(f"{running.base_url}/api/media").json()
            found = next(e for e in listing["entries"] if e["name"] == "xvid.avi")
            if found["playback"] is not None:
                return found
            time.sleep(0.1)
        raise AssertionError("never probed")

    on, off = entry(server), entry(off_server)
    assert on["playback"]["verdict"] == off["playback"]["verdict"] == "transcode"  # type: ignore[index]
    assert on["hls"] == "hls/xvid.avi/index.m3u8" and off["hls"] is None
    assert "converts" in on["playback"]["reasons"][-1] and "--transcode on" in off["playback"]["reasons"][-1]  # type: ignore[index]


@pytest.mark.parametrize("resource", ["index.m3u8", "init.mp4", "0.m4s", "1.m4s", "7.m4s"])
def test_a_truncated_file_is_a_clear_answer_never_a_500(server: ServerThread, resource: str) -> None:
    response = httpx.get(url(server, "truncated.avi", resource), timeout=60)
    assert response.status_code in (200, 404, 422), response.text
    if response.status_code != 200:
        assert response.json()["detail"]
    pool = server.server.config.app.state.media_pool
    assert children() - {str(pid) for pid in pool.processes} <= BASELINE["children"], "only the pool's idle workers"


def test_aborted_requests_cost_nothing_and_leave_no_process_behind(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each client asks for a segment never encoded before (a fresh cache name) and hangs up at once."""
    files = server.server.config.app.state.hls
    pool = server.server.config.app.state.media_pool
    fresh = iter(range(1 << 30))
    monkeypatch.setattr(files.videos, "name_of", lambda version, span: f"aborted-{next(fresh)}.h264seg")
    started = files.videos.started
    for i in range(200):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(f"GET /hls/{NAMES[i % 2]}/{i % 2}.m4s HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    with server.client() as client:  # accepted after all of theirs: each of their requests is a task by now
        assert client.get("/healthz").status_code == 200
    requests = server.server.server_state.tasks
    deadline = time.monotonic() + 60
    while (requests or files.waiting or files.videos.waiting) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not requests and files.waiting == 0 and files.videos.waiting == 0, "every request ended"
    assert files.videos.started - started <= 10, "a client that left before its turn costs no encode"
    assert len(pool.processes) <= pool.size
    assert children() - {str(pid) for pid in pool.processes} <= BASELINE["children"], "only the pool's idle workers"
    monkeypatch.undo()
    assert httpx.get(url(server, "mpeg2.ts", "1.m4s"), timeout=60).status_code == 200, "the server still answers"


def test_bench_transcode_smoke(server: ServerThread) -> None:
    """bench.transcode's measurements, tiny: a segment over HTTP (cached by now) and ffmpeg on the same span."""
    from bench.transcode import fetch, ffmpeg_segment, spans_of

    with server.client() as client:
        spans = spans_of(client.get(url(server, "xvid.avi")).text)
        took, refused = fetch(client, "/hls/xvid.avi/1.m4s")
    assert len(spans) == 2 and spans[1][0] == pytest.approx(6.0417, abs=0.001) and took > 0 and refused == 0
    assert ffmpeg_segment(server.settings.media_dir / "xvid.avi", *spans[1], ["-threads:v", "1"]) > 0


def test_a_segment_encoded_in_this_process_is_the_workers_byte_for_byte(server: ServerThread) -> None:
    """What another replica would serve: the same init and segment, encoder opened and run elsewhere."""
    import av

    from streamer.media.hlsencode import VideoEncoding, _encoder, encode_segment
    from streamer.media.hlsmux import make_init, make_segment
    from streamer.media.hlsplan import SegmentSpan

    source = server.settings.media_dir / "wide.avi"
    encoding = VideoEncoding()
    span = SegmentSpan(0, 0.0, None, 2.0)
    here = make_segment(source, span, encoding=encoding, encoded=lambda span: encode_segment(source, span, encoding))
    init = make_init(source, encoding=encoding)
    with httpx.Client(timeout=60) as client:
        assert client.get(url(server, "wide.avi", "0.m4s")).content == here
        assert client.get(url(server, "wide.avi", "init.mp4")).content == init
    with av.open(source) as container, av.open(io.BytesIO(init)) as made, _encoder(container.streams.video[0], encoding) as stream:
        avcc = bytes(made.streams.video[0].codec_context.extradata)
        headers = [nal for nal in re.split(b"\x00\x00\x00\x01|\x00\x00\x01", bytes(stream.codec_context.extradata)) if nal]
    assert len(headers) == 2 and all(nal in avcc for nal in headers), "the workers' SPS and PPS are the init's"


def test_segments_waiting_for_the_encoder_leave_copied_segments_their_slots(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """One segment encodes, two wait for their turn: an H.264 file's segment is still muxed at once."""
    import threading

    from streamer.media.hlsencode import EncodeError

    files = server.server.config.app.state.hls
    release, fresh = threading.Event(), iter(range(1 << 30))

    async def held(source: object, span: object, temporary: str) -> None:
        while not release.is_set():
            await anyio.sleep(0.02)
        raise EncodeError("released by the test")

    monkeypatch.setattr(files.videos, "name_of", lambda version, span: f"held-{next(fresh)}.h264seg")
    monkeypatch.setattr(files.videos, "_make", held)
    answers: list[int] = []
    askers = [threading.Thread(target=lambda n=n: answers.append(httpx.get(url(server, NAMES[n % 2], "0.m4s"), timeout=30).status_code))
              for n in range(3)]
    try:
        for asker in askers:
            asker.start()
        deadline = time.monotonic() + 10
        while (files.waiting < 3 or files.limiter.borrowed_tokens < 2) and time.monotonic() < deadline:
            time.sleep(0.02)  # all three asked, and two or more hold a slot while they wait for their picture
        began = time.monotonic()
        copied = httpx.get(url(server, "copied.mp4", "0.m4s"), timeout=30)
        assert copied.status_code == 200 and time.monotonic() - began < 2.0, "the copied segment waited for a slot"
    finally:
        release.set()
        for asker in askers:
            asker.join()
    assert sorted(answers) == [422, 422, 422]
