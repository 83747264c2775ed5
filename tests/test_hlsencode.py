"""streamer.media.hlsencode (sizes, the stored form, one segment encoded) and EncodedSegments (bounds, leaving callers)."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import anyio
import pytest

from streamer.media import hlsencode
from streamer.media.hlsencode import EncodedVideo, VideoEncoding, encode_segment, fit
from streamer.media.hlsplan import SegmentSpan
from streamer.media.hlsvideo import EncodeBusy, EncodedSegments
from streamer.media.thumbcache import ThumbCache
from tests.conftest import require_program
from tests.hlsclips import make_transcode_clips


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        pytest.param((1920, 1080), (1280, 720), id="1080p-to-720p"),
        pytest.param((1280, 720), (1280, 720), id="720p-kept"),
        pytest.param((640, 480), (640, 480), id="never-upscaled"),
        pytest.param((1440, 1080), (960, 720), id="height-bound"),
        pytest.param((1440, 96), (1280, 84), id="width-bound-even-down"),
        pytest.param((321, 241), (320, 240), id="odd-made-even-down"),
        pytest.param((720, 576), (720, 576), id="pal-dvd-kept"),
        pytest.param((4000, 2), (1280, 2), id="at-least-two"),
    ],
)
def test_fit(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert fit(*size, 1280, 720) == expected


def test_encoded_video_round_trips() -> None:
    video = EncodedVideo(320, 240, Fraction(1, 90000), ((3600, 3600, True, b"\x00\x01"), (7200, 3601, False, b"")))
    assert EncodedVideo.from_bytes(video.to_bytes()) == video


def test_a_segment_is_the_same_bytes_every_time_and_starts_with_a_keyframe(tmp_path_factory: pytest.TempPathFactory) -> None:
    require_program("ffmpeg", "ffmpeg")
    source = make_transcode_clips(tmp_path_factory.getbasetemp())["xvid.avi"]
    span = SegmentSpan(1, 6.041666666666667, None, 2.0)
    first, again = encode_segment(source, span, VideoEncoding()), encode_segment(source, span, VideoEncoding())
    assert first == again
    assert first.packets[0][2] and first.packets[0][0] == 145, "an IDR frame where the source's keyframe is"
    assert [p[0] + p[1] for p in first.packets[:-1]] == [p[0] for p in first.packets[1:]], "no gap, no overlap"


def _segments(tmp_path: Path, jobs: int = 1) -> EncodedSegments:
    return EncodedSegments(ThumbCache(tmp_path / "cache"), None, VideoEncoding(), jobs)


def _slow_job(release: threading.Event, made: list[int]):  # type: ignore[no-untyped-def]
    def write(source: str, span: SegmentSpan, encoding: VideoEncoding, target: str) -> None:
        made.append(span.number)
        release.wait(10)
        Path(target).write_bytes(EncodedVideo(2, 2, Fraction(1, 24), ()).to_bytes())

    return write


def test_waiting_is_bounded_and_a_caller_that_leaves_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release, made = threading.Event(), []
    monkeypatch.setattr(hlsencode, "write_encoded", _slow_job(release, made))
    segments = _segments(tmp_path)
    spans = [SegmentSpan(n, float(n), float(n + 1), 1.0) for n in range(5)]
    outcomes: dict[int, object] = {}

    async def ask(n: int, stop: threading.Event | None = None) -> None:
        try:
            outcomes[n] = await segments.fetch(["v"], "src", spans[n], time.monotonic() + 20, stop)
        except EncodeBusy as exc:
            outcomes[n] = exc

    async def main() -> None:
        gone = threading.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(ask, 0)
            await anyio.sleep(0.2)  # 0 runs; 1 and 2 wait (two per job); 3 is refused
            group.start_soon(ask, 1, gone)
            group.start_soon(ask, 2)
            await anyio.sleep(0.2)
            await ask(3)
            gone.set()  # 1's client leaves while it waits
            await anyio.sleep(0.3)
            release.set()

    anyio.run(main)
    assert isinstance(outcomes[3], EncodeBusy)
    assert outcomes[1] is None and outcomes[0] and outcomes[2]
    assert made == [0, 2], "the job of a caller that left never started"
    assert segments.waiting == 0 and segments.started == 2


def test_a_started_job_is_kept_for_the_next_caller_when_its_own_gives_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release, made = threading.Event(), []
    monkeypatch.setattr(hlsencode, "write_encoded", _slow_job(release, made))
    segments = _segments(tmp_path)
    span = SegmentSpan(0, 0.0, 1.0, 1.0)

    async def main() -> tuple[bytes | None, bytes | None]:
        threading.Timer(0.5, release.set).start()
        late = await segments.fetch(["v"], "src", span, time.monotonic() + 0.1)  # its deadline passes while it runs
        return late, await segments.fetch(["v"], "src", span, time.monotonic() + 5)

    late, kept = anyio.run(main)
    assert late is None or late == kept  # the caller waits for a started job (it cannot be stopped), then
    assert kept and made == [0], "the next caller is served from the cache"
