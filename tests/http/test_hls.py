"""/hls over real HTTP, read by ffmpeg as a player: packet-exact video, exact durations, cuts at keyframes.

One server (async form) serves the clips of ``tests.hlsclips``; ffmpeg/ffprobe read the
playlist from it. The sync form shares every line of the HLS code but the generator.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from streamer import Settings
from streamer.media.keyframes import read_keyframes
from tests.conftest import ServerThread, fd_targets, require_program, start_server
from tests.hlsclips import make_clips, packet_hashes, packet_times, segment_leads

FRAME_S = 1 / 24


@pytest.fixture(scope="module")
def hls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    require_program("ffmpeg", "ffmpeg")
    clips = make_clips(tmp_path_factory.mktemp("hls-clips"))
    root = tmp_path_factory.mktemp("hls-root")
    (root / "sub dir").mkdir()
    for name, path in clips.items():
        os.link(path, root / "sub dir" / name)
    (root / "notes.txt").write_text("not a video")
    subprocess.run(  # a recording: MPEG-TS whose clock starts ten hours in
        ["ffmpeg", "-v", "error", "-i", str(clips["bframes.mp4"]), "-c", "copy", "-output_ts_offset", "36000", str(root / "sub dir" / "late.ts")],
        check=True,
    )
    for name in ("bframes.mkv", "bframes.mp4"):  # cut in the middle, as by an interrupted copy
        data = clips[name].read_bytes()
        (root / "sub dir" / f"truncated-{name}").write_bytes(data[: len(data) // 2])
    for name in ("bframes.mkv", "bframes.mp4"):  # its middle third overwritten, as by a bad disk: headers and index intact
        data = bytearray(clips[name].read_bytes())
        third = len(data) // 3
        data[third : 2 * third] = random.Random(7).randbytes(third)
        (root / "sub dir" / f"damaged-{name}").write_bytes(data)
    running = start_server(Settings(media_dir=root, cache_dir=tmp_path_factory.mktemp("hls-cache")))
    yield running
    running.stop()
    assert not fd_targets(under=str(root)), "the opened sources kept for the next segment are closed at shutdown"


def url(server: ServerThread, name: str, resource: str = "index.m3u8") -> str:
    return f"{server.base_url}/hls/sub%20dir/{name}/{resource}"


def ffprobe_duration(target: str) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", target],
        check=True, capture_output=True, text=True,
    ).stdout
    return float(out.strip())


@pytest.mark.clients
@pytest.mark.parametrize(
    "name",
    ["bframes.mp4", "bframes.mov", "bframes.mkv", "longgop.mkv", "audiofirst.mp4", "audiofirst.mkv", "hevc.mkv", "vp9.mkv", "av1.mkv"],
)
def test_ffmpeg_reassembles_the_video_packet_for_packet(hls_server: ServerThread, name: str) -> None:
    source = hls_server.settings.media_dir / "sub dir" / name
    assert packet_hashes(url(hls_server, name)) == packet_hashes(str(source))


def test_playlist_durations_and_cuts_are_the_keyframes(hls_server: ServerThread) -> None:
    source = hls_server.settings.media_dir / "sub dir" / "bframes.mkv"
    index = read_keyframes(source)
    with hls_server.client() as client:
        response = client.get(url(hls_server, "bframes.mkv"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    lines = response.text.splitlines()
    durations = [float(line[8:].rstrip(",")) for line in lines if line.startswith("#EXTINF:")]
    assert index is not None and sum(durations) == pytest.approx(index.duration, abs=FRAME_S)
    assert [line for line in lines if not line.startswith("#")] == [f"{n}.m4s" for n in range(len(durations))]
    starts = [sum(durations[:n]) for n in range(1, len(durations))]
    assert all(any(abs(start - t) < 0.03 for t in index.times) for start in starts)  # 0.021: first starts at 0


@pytest.mark.clients
def test_a_recording_whose_clock_starts_ten_hours_in_plays_for_its_length(hls_server: ServerThread) -> None:
    """The playlist's times sum to the recording's length, not to where its clock ends: its first segment is
    one segment long. ffmpeg reading the playlist decodes every frame and the sound (AAC in ADTS frames in
    MPEG-TS, carried raw in MP4) without an error, from every segment, the last one too (a seek in MPEG-TS
    may land after the keyframe)."""
    source = str(hls_server.settings.media_dir / "sub dir" / "late.ts")
    playlist = httpx.get(url(hls_server, "late.ts"), timeout=30).text
    durations = [float(line[8:].rstrip(",")) for line in playlist.splitlines() if line.startswith("#EXTINF:")]
    assert sum(durations) == pytest.approx(ffprobe_duration(source), abs=FRAME_S)
    assert max(durations) < 7, durations
    frames = ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"]
    counted = [subprocess.run([*frames, target], check=True, capture_output=True, text=True, timeout=60).stdout.split()[0].rstrip(",")
               for target in (url(hls_server, "late.ts"), source)]  # the first of the lines for a stream and its program
    assert counted[0] == counted[1] and int(counted[0]) > 0
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", url(hls_server, "late.ts"), "-f", "null", "-"],
                             capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0 and not decoded.stderr, decoded.stderr
    assert "aac" in subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", url(hls_server, "late.ts")],
                                   check=True, capture_output=True, text=True, timeout=60).stdout


def test_seek_to_the_last_segment(hls_server: ServerThread, tmp_path: Path) -> None:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", "12.5", "-i", url(hls_server, "bframes.mp4"), "-frames:v", "3", "-f", "null", "-"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr


def test_segments_are_byte_identical_and_planned(hls_server: ServerThread) -> None:
    with hls_server.client() as client:
        first = client.get(url(hls_server, "bframes.mp4", "1.m4s"))
        second = client.get(url(hls_server, "bframes.mp4", "1.m4s"))
        assert first.status_code == second.status_code == 200
        assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
        assert first.headers["content-type"] == "video/mp4"
        assert int(first.headers["content-length"]) == len(first.content)
        assert client.get(url(hls_server, "bframes.mp4", "1.m4s"), headers={"if-none-match": first.headers["etag"]}).status_code == 304
        part = client.get(url(hls_server, "bframes.mp4", "1.m4s"), headers={"range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == first.content[100:200]
        head = client.head(url(hls_server, "bframes.mp4", "1.m4s"))
        assert head.status_code == 200 and head.headers["content-length"] == first.headers["content-length"]
        assert head.content == b""
        other = client.get(url(hls_server, "bframes.mp4", "2.m4s"))
        assert other.headers["etag"] != first.headers["etag"]
        init = client.get(url(hls_server, "bframes.mp4", "init.mp4"))
        assert init.content[4:8] == b"ftyp" and first.content[4:8] == b"moof"


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        pytest.param("sub%20dir/bframes.mp4/99.m4s", 404, "segments 0 to", id="segment-past-the-end"),
        pytest.param("sub%20dir/bframes.mp4/01.m4s", 404, "No HLS resource", id="leading-zero"),
        pytest.param("sub%20dir/bframes.mp4/-1.m4s", 404, "No HLS resource", id="negative"),
        pytest.param("sub%20dir/bframes.mp4/x.ts", 404, "No HLS resource", id="unknown-resource"),
        pytest.param("sub%20dir/missing.mp4/index.m3u8", 404, "Not Found", id="missing-file"),
        pytest.param("sub%20dir/index.m3u8", 404, "Not Found", id="folder"),
        pytest.param("notes.txt/index.m3u8", 422, "No video stream", id="not-a-video"),
        pytest.param("notes.txt/0.m4s", 422, "No video stream", id="not-a-video-segment"),
        pytest.param("notes.txt/init.mp4", 422, "Cannot make HLS", id="not-a-video-init"),
        pytest.param(".hidden/index.m3u8", 404, "Not Found", id="hidden-path"),
        pytest.param("index.m3u8", 404, "Not Found", id="no-file-named"),
    ],
)
def test_bad_requests_say_why(hls_server: ServerThread, path: str, status: int, says: str) -> None:
    response = httpx.get(f"{hls_server.base_url}/hls/{path}")
    assert response.status_code == status
    assert says in response.json()["detail"]


@pytest.fixture
def made(hls_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The resources the server builds (playlist, init or segment), in order."""
    files = hls_server.server.config.app.state.hls
    built: list[str] = []
    real = files.make

    def counting(opened: object, resource: str, *args: object) -> bytes:
        built.append(resource)
        return real(opened, resource, *args)

    monkeypatch.setattr(files, "make", counting)
    return built


@pytest.mark.parametrize("resource", ["index.m3u8", "init.mp4", "2.m4s"])
def test_a_conditional_request_is_answered_before_anything_is_made(
    hls_server: ServerThread, made: list[str], resource: str
) -> None:
    with hls_server.client() as client:
        first = client.get(url(hls_server, "bframes.mkv", resource))
        assert first.status_code == 200 and made == [resource]
        etag = first.headers["etag"]
        assert client.get(url(hls_server, "bframes.mkv", resource), headers={"if-none-match": etag}).status_code == 304
        assert client.head(url(hls_server, "bframes.mkv", resource), headers={"if-none-match": f'"x", {etag}'}).status_code == 304
        assert client.get(url(hls_server, "bframes.mkv", resource), headers={"if-match": '"other"'}).status_code == 412
        assert made == [resource], "a 304 or 412 builds nothing"
        stale = client.get(url(hls_server, "bframes.mkv", resource), headers={"if-none-match": '"stale"'})
        assert stale.status_code == 200 and stale.headers["etag"] == etag and stale.content == first.content
    assert made == [resource, resource]


def test_a_segment_past_its_deadline_is_503_with_retry_after(
    hls_server: ServerThread, made: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streamer.web.hls.SEGMENT_DEADLINE_S", 0.0)
    response = httpx.get(url(hls_server, "bframes.mkv", "1.m4s"))
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert "not made" in response.json()["detail"] or "no slot" in response.json()["detail"]


def test_a_started_segment_stops_at_its_deadline(hls_server: ServerThread) -> None:
    from streamer.media.hlsmux import make_segment
    from streamer.media.hlspackets import SegmentTimeout
    from streamer.media.hlsplan import plan_segments

    source = hls_server.settings.media_dir / "sub dir" / "bframes.mkv"
    index = read_keyframes(source)
    assert index is not None
    span = plan_segments(index.times, index.duration)[1]
    assert make_segment(source, span, deadline=time.monotonic() + 60)[4:8] == b"moof"
    with pytest.raises(SegmentTimeout):
        make_segment(source, span, deadline=time.monotonic() - 1)


def test_the_next_segments_of_a_file_reuse_its_opened_source(hls_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments muxed by PyAV (those not cut from the file's own index) reuse the file's opened container."""
    from streamer.web import hls

    monkeypatch.setattr(hls, "CUT_FROM_INDEX", False)
    inputs = hls_server.server.config.app.state.hls.inputs
    opened, reused = inputs.opened, inputs.reused
    with hls_server.client() as client:
        bodies = [client.get(url(hls_server, "bframes.mov", resource)).content for resource in ("init.mp4", "0.m4s", "2.m4s", "1.m4s")]
    assert all(bodies) and inputs.opened - opened <= 1 and inputs.reused - reused >= 3
    root = str(hls_server.settings.media_dir)
    assert sorted(fd_targets(under=root)) == sorted(inputs.idle_names()), "no source open but those kept"
    assert os.path.realpath(f"{root}/sub dir/bframes.mov") in inputs.idle_names()


@pytest.mark.parametrize(
    ("name", "cut", "pause"),
    [("bframes.mkv", False, 0.02), ("bframes.mkv", True, 0.3), ("bframes.mp4", True, 0.3)],
    ids=["muxed-stops-between-packets", "matroska-cut-stops-between-clusters", "mp4-cut-stops-before-its-read"],
)
def test_a_started_segment_stops_when_its_client_leaves(
    hls_server: ServerThread, monkeypatch: pytest.MonkeyPatch, name: str, cut: bool, pause: float
) -> None:
    """Its client hangs up while it is made: it stops between packets (PyAV) or as the samples are read (a
    file cut from its own index), and the next request gets the muxing turn."""
    from streamer.media import hlsdirect, hlsmkv, hlsmp4, hlsmux, hlspackets
    from streamer.web import hls

    files = hls_server.server.config.app.state.hls
    real, slow, started = hlspackets.check, [], threading.Event()

    def slowed(deadline: float, stop: threading.Event | None) -> None:
        if not slow:
            slow.append(stop)  # the first segment only: seconds in all
        if stop is slow[0]:
            started.set()
            time.sleep(pause)
        real(deadline, stop)

    monkeypatch.setattr(hls, "CUT_FROM_INDEX", cut)
    for module in (hlspackets, hlsmux, hlsdirect, hlsmkv, hlsmp4):  # between packets or Clusters, read and muxed
        monkeypatch.setattr(module, "check", slowed)
    stopped = files.stopped
    with socket.create_connection(("127.0.0.1", hls_server.port)) as sock:
        sock.sendall(f"GET /hls/sub%20dir/{name}/1.m4s HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert started.wait(10), "the segment started"
    begin = time.monotonic()
    response = httpx.get(url(hls_server, name, "2.m4s"), timeout=30)
    waited = time.monotonic() - begin
    assert response.status_code == 200
    assert waited < 1.0, f"the next segment waited {waited:.2f} s for the muxing turn"
    for _ in range(100):  # the first stops at its next check, which may come after the second is made
        if files.stopped == stopped + 1:
            break
        time.sleep(0.05)
    assert files.stopped == stopped + 1


@pytest.mark.parametrize("name", ["truncated-bframes.mkv", "truncated-bframes.mp4"])
def test_a_truncated_file_is_a_clear_answer_never_a_500(hls_server: ServerThread, name: str) -> None:
    with hls_server.client() as client:
        playlist = client.get(url(hls_server, name))
        assert playlist.status_code in (200, 422), playlist.text
        if playlist.status_code == 422:
            assert "detail" in playlist.json()
            return
        names = [line for line in playlist.text.splitlines() if line.endswith(".m4s")]
        answers = {n: client.get(url(hls_server, name, n)) for n in ["init.mp4", *names]}
    assert {r.status_code for r in answers.values()} <= {200, 422}, {n: r.status_code for n, r in answers.items()}
    assert all("Cannot make HLS" in r.json()["detail"] for r in answers.values() if r.status_code == 422)
    assert answers["init.mp4"].status_code == 200 and answers["0.m4s"].status_code == 200, "what is there plays"


@pytest.mark.parametrize("name", ["damaged-bframes.mkv", "damaged-bframes.mp4"])
def test_a_damaged_file_is_answered_never_a_500(hls_server: ServerThread, name: str) -> None:
    """Garbage where the frames were: each resource is made (the bytes are the file's) or refused with a 422 that
    says why, cut from the index or muxed by PyAV, and the next request is served."""
    with hls_server.client() as client:
        playlist = client.get(url(hls_server, name))
        assert playlist.status_code in (200, 422), playlist.text
        names = [line for line in playlist.text.splitlines() if line.endswith(".m4s")] if playlist.status_code == 200 else []
        answers = {n: client.get(url(hls_server, name, n)) for n in ["init.mp4", *names]}
        assert {r.status_code for r in answers.values()} <= {200, 422}, {n: r.status_code for n, r in answers.items()}
        assert all("Cannot make HLS" in r.json()["detail"] for r in answers.values() if r.status_code == 422)
        assert client.get(url(hls_server, "bframes.mkv", "1.m4s")).status_code == 200


def test_bench_hls_smoke(hls_server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """bench.hls's measurements, tiny: segments over HTTP with /healthz timed meanwhile, ffmpeg per segment, and
    the loop's lag while a thread muxes."""
    import anyio

    from bench.hls import ffmpeg_rate, loop_lag_while_muxing, muxing_threads_against_processes, segments_under_load

    require_program("wrk", "wrk")
    got = anyio.run(segments_under_load, hls_server.base_url, "/hls/sub%20dir/bframes.mkv/", 3, 2, 1)
    assert got["rate"] > 0 and got["not_200"] == 0 and got["health_p99"] > 0 and got["lag_max_ms"] >= 0
    assert ffmpeg_rate(hls_server.settings.media_dir / "sub dir" / "bframes.mkv", [(0.0, 2.0)], 1, 0.2) > 0
    for cut in (True, False):
        loop_lag_while_muxing(hls_server.settings.media_dir / "sub dir" / "bframes.mkv", tmp_path, 0.2, cut=cut)
        assert "segments/s; the loop's lag p50" in capsys.readouterr().out
        muxing_threads_against_processes(hls_server.settings.media_dir / "sub dir" / "bframes.mkv", tmp_path, 0.1, cut=cut)
        assert "2 processes" in capsys.readouterr().out


def most_at_once(monkeypatch: pytest.MonkeyPatch, patched: list[tuple[object, str]], urls: list[str]) -> int:
    """The most calls of the ``patched`` functions (each slowed by 0.1 s) running at once while ``urls`` are fetched together."""
    active, most, lock = [0], [0], threading.Lock()

    def watched(real: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            with lock:
                active[0] += 1
                most[0] = max(most[0], active[0])
            try:
                time.sleep(0.1)
                return real(*args, **kwargs)
            finally:
                with lock:
                    active[0] -= 1

        return call

    for owner, name in patched:
        monkeypatch.setattr(owner, name, watched(getattr(owner, name)))
    with httpx.Client(timeout=30) as client:
        threads = [threading.Thread(target=client.get, args=(u,)) for u in urls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return most[0]


def test_at_most_muxing_segments_are_muxed_at_once(hls_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """Muxing holds the GIL for much of its time: beyond ``MUXING`` threads at once it would only slow the event loop."""
    from streamer.media import hlsdirect, hlsmux
    from streamer.web.hls import MUXING

    patched = [(hlsmux, "make_segment"), (hlsdirect, "cut_segment")]  # a segment muxed by PyAV, or cut from its own index
    urls = [url(hls_server, "bframes.mkv", f"{n % 3}.m4s") for n in range(4)]
    assert most_at_once(monkeypatch, patched, urls) == MUXING, "the bound is kept, and reached"


def test_at_most_cutting_segments_parse_blocks_at_once(hls_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cutting a file from its own index is Python holding the GIL: fewer at once than PyAV muxes."""
    from streamer.media import hlsmkv
    from streamer.web.hls import CUTTING, MUXING

    assert CUTTING < MUXING
    cut = hls_server.server.config.app.state.hls.cut
    urls = [url(hls_server, "longgop.mkv", f"{n % 2}.m4s") for n in range(4)]
    assert most_at_once(monkeypatch, [(hlsmkv.MatroskaLayout, "pick")], urls) == CUTTING
    assert hls_server.server.config.app.state.hls.cut == cut + 4, "all cut, one at a time"


@pytest.mark.clients
@pytest.mark.parametrize("name", ["bframes.mkv", "bframes.mp4", "audiofirst.mkv", "longgop.mkv"])
def test_sound_and_picture_stay_in_sync_at_every_segment_boundary(hls_server: ServerThread, name: str, tmp_path: Path) -> None:
    source = packet_times(str(hls_server.settings.media_dir / "sub dir" / name))
    with hls_server.client() as client:
        for n, start, lead in segment_leads(client, lambda resource: url(hls_server, name, resource), tmp_path):
            source_lead = min(t for t in source["audio"] if t >= start - 0.0005) - start
            assert abs(lead) <= 0.040 and lead == pytest.approx(source_lead, abs=0.0015), f"segment {n}"
