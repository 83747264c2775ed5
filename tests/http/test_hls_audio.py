"""/hls of files whose sound browsers cannot decode (AC-3 in MKV, PCM in MOV): the sound arrives as AAC.

ffmpeg and ffprobe read the playlist as players do: the audio is AAC, as long as the source's,
with one packet every 1024 samples across every segment boundary, and the video still copied
packet for packet. The transcoded chunks are cached: later requests give the same bytes.
"""

from __future__ import annotations

import os
import socket
import time
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer import Settings
from tests.conftest import ServerThread, fd_targets, require_program, start_server
from tests.hlsclips import make_clips, packet_hashes, segment_leads

NAMES = ["ac3.mkv", "surround.mkv", "pcm.mov"]
CHANNELS = {"ac3.mkv": 2, "surround.mkv": 6, "pcm.mov": 2}  # what comes out: stereo, or 5.1 from more than two
TOLERANCE_S = 0.05
BASELINE: dict[str, set[str]] = {}  # child processes of this process before the server started


def children() -> set[str]:
    found: set[str] = set()
    for task in os.listdir("/proc/self/task"):
        try:
            found |= set(Path(f"/proc/self/task/{task}/children").read_text().split())
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    require_program("ffmpeg", "ffmpeg")
    clips = make_clips(tmp_path_factory.mktemp("hls-clips"))
    root = tmp_path_factory.mktemp("hls-audio-root")
    for name in NAMES:
        os.link(clips[name], root / name)
    before = BASELINE["children"] = children()
    running = start_server(Settings(media_dir=root, cache_dir=tmp_path_factory.mktemp("hls-audio-cache")))
    yield running
    running.stop()
    assert children() <= before, "a media worker outlived the server"


def url(server: ServerThread, name: str, resource: str = "index.m3u8") -> str:
    return f"{server.base_url}/hls/{name}/{resource}"


def audio_facts(target: str) -> tuple[str, int, int, list[int]]:
    """The first audio stream's codec, sample rate, channels and packet timestamps (in its time base)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_name,sample_rate,channels:packet=pts",
         "-of", "csv=p=0", target],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout.split()
    stream = next(line for line in out if not line.rstrip(",").lstrip("-").isdigit())
    codec, rate, channels = stream.split(",")[:3]
    return codec, int(rate), int(channels), [int(line.rstrip(",")) for line in out if line.rstrip(",").lstrip("-").isdigit()]


def decoded_seconds(target: str) -> float:
    """Seconds of sound ffmpeg decodes from ``target``'s first audio stream; fails on any decoding error."""
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-xerror", "-i", target, "-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"],
        capture_output=True, timeout=30,
    )
    assert result.returncode == 0 and not result.stderr, result.stderr.decode()
    return len(result.stdout) / 2 / 48000


@pytest.mark.clients
@pytest.mark.parametrize("name", NAMES)
def test_the_sound_plays_as_aac_as_long_as_the_source(server: ServerThread, name: str) -> None:
    source = str(server.settings.media_dir / name)
    codec, rate, channels, pts = audio_facts(url(server, name))
    assert codec == "aac" and channels == CHANNELS[name]
    steps = {b - a for a, b in zip(pts, pts[1:])}
    assert steps == {1024 * 90_000 // rate} or steps == {1024}, "a gap or an overlap at a segment boundary"
    assert decoded_seconds(url(server, name)) == pytest.approx(decoded_seconds(source), abs=TOLERANCE_S)
    assert packet_hashes(url(server, name)) == packet_hashes(source)


def test_segments_are_the_same_bytes_and_nothing_is_left_open(server: ServerThread) -> None:
    pool = server.server.config.app.state.media_pool
    with server.client() as client:
        first = [client.get(url(server, "ac3.mkv", f"{n}.m4s")).content for n in range(3)]
        again = [client.get(url(server, "ac3.mkv", f"{n}.m4s")).content for n in range(3)]
        init = client.get(url(server, "ac3.mkv", "init.mp4"))
    assert first == again and all(first)
    assert b"mp4a" in init.content and b"ac-3" not in init.content
    media = str(server.settings.media_dir)
    files = server.server.config.app.state.hls
    assert sorted(fd_targets(under=media)) == sorted(files.inputs.idle_names()), "only the pool's idle sources"
    assert children() - {str(pid) for pid in pool.processes} <= BASELINE["children"], "only the pool's idle workers"
    cached = server.settings.cache_dir / "hls-audio"
    assert not os.listdir(cached / "tmp"), "no temporary left"
    assert all(name.endswith(".aacchunk") for name in os.listdir(cached) if name != "tmp")


def test_a_thousand_aborted_segment_requests_leave_no_process_or_file_behind(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each client sends a request for a segment whose sound is converted and hangs up at once."""
    pool = server.server.config.app.state.media_pool
    files = server.server.config.app.state.hls
    made: list[str] = []
    real = files.make
    monkeypatch.setattr(files, "make", lambda opened, resource, *args: made.append(resource) or real(opened, resource, *args))
    abandoned = files.abandoned
    request = "GET /hls/surround.mkv/{n}.m4s HTTP/1.1\r\nHost: x\r\n\r\n"
    for i in range(1000):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(request.format(n=i % 3).encode())
    # Accepted after all of theirs: once it is answered, each of their requests is a task of the server's.
    # (Waiting only until nothing waited and no file was open passed by, on a loaded machine, between
    # two of them: one still in the backlog, or opening its file.)
    with server.client() as client:
        assert client.get("/healthz").status_code == 200
    media = str(server.settings.media_dir)
    requests = server.server.server_state.tasks

    def held() -> list[str]:  # beyond the opened sources the pool keeps for the next segment
        return list((Counter(fd_targets(under=media)) - Counter(files.inputs.idle_names())).elements())

    deadline = time.monotonic() + 60
    while (requests or files.waiting or files.limiter.borrowed_tokens or held()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not requests, "every request ended"
    assert files.waiting == 0 and files.limiter.borrowed_tokens == 0, "every segment's work ended"
    assert len(made) <= 20 < files.abandoned - abandoned, "a client that left before its turn costs no segment"
    assert len(pool.processes) <= pool.size
    assert children() - {str(pid) for pid in pool.processes} <= BASELINE["children"], "only the pool's idle workers"
    assert not held(), "every video closed, but for the pool's idle sources"
    assert len(files.inputs) <= files.inputs.size
    with server.client() as client:
        assert client.get(url(server, "surround.mkv", "1.m4s")).status_code == 200, "the server still answers"


@pytest.mark.clients
@pytest.mark.parametrize("name", ["ac3.mkv", "pcm.mov"])
def test_converted_sound_starts_with_the_picture_at_every_boundary(server: ServerThread, name: str, tmp_path: Path) -> None:
    with server.client() as client:
        for n, _, lead in segment_leads(client, lambda resource: url(server, name, resource), tmp_path):
            assert -0.0005 <= lead <= 1024 / 44100 + 0.0005, f"segment {n}: the sound starts {lead * 1000:.1f} ms after the picture"
