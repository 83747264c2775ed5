"""What the worker pool converts for HLS, waited for by a muxing thread: sound as AAC chunks, a segment's picture as H.264.

Rule: a thread that waits for a conversion does not hold its muxing turn (``muxing``, the semaphore
held while a resource is muxed): it gives the turn back for the wait and takes it again after, so
other segments are muxed meanwhile. What the pool answers (busy, a worker killed at its deadline or
dead) becomes an HTTP answer here; a picture not ready by the segment's deadline, or whose client
left, stops the segment as a stop between packets does. Sound browsers cannot decode is converted
whenever there is a cache directory; video only with an encoding (``--transcode on``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import HTTPException

from streamer.media.hlsvideo import AudioChunks, EncodedSegments, Video
from streamer.media.jobs import JobError
from streamer.media.playback import codec_label
from streamer.media.thumbcache import ThumbCache

if TYPE_CHECKING:
    from streamer.media.hlsaudio import AudioChunk
    from streamer.media.hlsencode import EncodedVideo, NotConverted, VideoEncoding
    from streamer.media.hlsplan import SegmentSpan
    from streamer.media.workers import WorkerPool

RETRY_AFTER_S = 1
CONVERSION_OFF = (
    "Browsers cannot decode the {codec} video of this file, and converting video is off on this server: "
    "start it with --transcode on (or STREAMER_TRANSCODE=on) to play it as H.264."
)


def retry_after() -> dict[str, str]:
    return {"retry-after": str(RETRY_AFTER_S)}


def job_error(exc: JobError, what: str) -> HTTPException:
    """The answer when converting ``what`` ("sound", "picture") failed in the pool: 503 (retry) when busy or dead."""
    return HTTPException(exc.status, f"Cannot convert the {what} of this file: {exc.reason}", retry_after() if exc.status == 503 else None)


def conversion_off(exc: NotConverted) -> HTTPException:
    return HTTPException(422, CONVERSION_OFF.format(codec=codec_label(exc.codec)))


class Conversions:
    """The sound chunks and H.264 segments of videos, converted in ``pool`` and cached under ``cache_dir``."""

    def __init__(
        self, cache_dir: str | os.PathLike[str] | None, pool: WorkerPool | None, muxing: threading.Semaphore,
        audio_cache_size: int, encoding: VideoEncoding | None = None, encode_jobs: int = 1, video_cache_size: int = 1 << 30,
    ) -> None:
        self.muxing = muxing
        self.audio = None  # without a cache directory, sound browsers cannot decode is left out
        self.videos = None  # and video browsers cannot decode is refused
        if cache_dir is not None:
            self.audio = AudioChunks(ThumbCache(Path(cache_dir) / "hls-audio", audio_cache_size), pool)
        if cache_dir is not None and encoding is not None:
            self.videos = EncodedSegments(ThumbCache(Path(cache_dir) / "hls-video", video_cache_size), pool, encoding, encode_jobs)

    @property
    def encoding(self) -> VideoEncoding | None:
        return self.videos.encoding if self.videos is not None else None

    def tag(self) -> str:
        """What is converted, and how, for the ETags: sound or not, and a digest of the encoder's settings."""
        picture = ""
        if self.videos is not None:
            picture = "-v" + hashlib.sha256(repr(self.videos.encoding.key()).encode()).hexdigest()[:8]
        return ("a" if self.audio is not None else "n") + picture

    def chunks(self, opened: Video) -> Callable[[int, int], AudioChunk] | None:
        return partial(self.sound, opened) if self.audio is not None else None

    def pictures(self, opened: Video, deadline: float, stop: threading.Event | None) -> Callable[[SegmentSpan], EncodedVideo] | None:
        return partial(self.picture, opened, deadline, stop) if self.videos is not None else None

    def sound(self, opened: Video, stream_index: int, number: int) -> AudioChunk:
        """A chunk of converted sound, waited for without holding a muxing turn."""
        assert self.audio is not None
        self.muxing.release()
        try:
            return self.audio.get(opened.version, opened.job_source(), stream_index, number)
        finally:
            self.muxing.acquire()

    def picture(self, opened: Video, deadline: float, stop: threading.Event | None, span: SegmentSpan) -> EncodedVideo:
        """A segment's picture as H.264, waited for without holding a muxing turn."""
        from streamer.media.hlspackets import SegmentAbandoned, SegmentTimeout

        assert self.videos is not None
        self.muxing.release()
        try:
            made = self.videos.get(opened.version, opened.job_source(), span, deadline, stop)
        except JobError as exc:
            raise job_error(exc, "picture") from exc
        finally:
            self.muxing.acquire()
        if made is None and stop is not None and stop.is_set():
            raise SegmentAbandoned("the segment's client left")
        if made is None:
            raise SegmentTimeout("the segment was not converted in time")
        return made
