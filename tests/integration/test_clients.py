"""Real clients: curl resumes a download, ffprobe reads an MP4 whose moov atom is at the end."""

from __future__ import annotations

import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.conftest import ServerThread, require_program

CLIP_SECONDS = 2


def top_level_boxes(data: bytes) -> list[str]:
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        offset += size if size else len(data)
    return boxes


def make_mp4_moov_at_end(path: Path) -> None:
    """A 2 s H.264 test clip, written the default way: mdat first, moov last."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 25)
        for index in range(CLIP_SECONDS * 25):
            frame = av.VideoFrame(160, 120, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(index * 5) % 256]) * plane.buffer_size)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def late_moov_clip(media_root: Path) -> Path:
    path = media_root / "late-moov.mp4"
    if not path.exists():
        make_mp4_moov_at_end(path)
    boxes = top_level_boxes(path.read_bytes())
    assert boxes.index("moov") > boxes.index("mdat"), boxes
    return path


def test_ffprobe_reads_the_duration_of_a_moov_at_end_mp4_over_http(server: ServerThread, late_moov_clip: Path) -> None:
    require_program("ffprobe", "Debian package ffmpeg")
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", f"{server.base_url}/media/{late_moov_clip.name}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) == pytest.approx(CLIP_SECONDS, abs=0.1)


def test_curl_resumes_a_partial_download_to_an_identical_file(server: ServerThread, media_root: Path, tmp_path: Path) -> None:
    require_program("curl", "Debian package curl")
    original = (media_root / "big.bin").read_bytes()
    partial = tmp_path / "big.bin"
    partial.write_bytes(original[: len(original) // 3])  # what an interrupted download left
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "-C", "-", "-o", str(partial), "-w", "%{http_code}", f"{server.base_url}/media/big.bin"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "206"
    assert partial.read_bytes() == original


def test_curl_resume_of_a_complete_file_changes_nothing(server: ServerThread, media_root: Path, tmp_path: Path) -> None:
    require_program("curl", "Debian package curl")
    original = (media_root / "small.bin").read_bytes()
    done = tmp_path / "small.bin"
    done.write_bytes(original)
    result = subprocess.run(
        ["curl", "--silent", "-C", "-", "-o", str(done), "-w", "%{http_code}", f"{server.base_url}/media/small.bin"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout == "416"  # curl treats 416 on resume as "already complete"
    assert result.returncode == 0, result.stderr
    assert done.read_bytes() == original
