"""What a segment cut from a file's own index is made of: samples picked there, read in one go.

Rule: a container's layout (``streamer.media.hlsmkv``, ``streamer.media.hlsmp4``) picks a segment's
samples, in the file's own times, and reads the bytes they lie in through a ``Window``: one read,
into a buffer its thread keeps (a fresh MBs every segment is MBs of page faults), grown by a new one
and never resized, as views of the old one may still be held. ``streamer.media.hlsdirect`` writes
them out. The file is a path opened here or a seekable reader (an object in a bucket: a ranged GET
per read). All functions block.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from fractions import Fraction
from typing import BinaryIO, NamedTuple, Protocol

from streamer.media.hlsaudio import Input
from streamer.media.hlsplan import SegmentSpan

MAX_SEGMENT_BYTES = 512 << 20  # no segment is read further than this (6 s at 100 Mb/s is 75 MB): PyAV's then
MAX_SCRATCH_BYTES = 64 << 20  # a thread keeps its read buffer up to this size
SAME_SAMPLES = frozenset({"h264", "hevc", "vp9", "av1", "aac", "opus", "flac"})  # codecs fMP4 carries as a file holds them


class BeyondLimit(Exception):
    """The segment would be read further than ``MAX_SEGMENT_BYTES``: it is not cut."""


class Sample(NamedTuple):
    """One frame of a segment: times in its track's units (``dts`` ``None``: the container stores none),
    where its bytes lie in the ``Picked`` data, its duration if the container says."""

    pts: int
    dts: int | None
    keyframe: bool
    start: int
    end: int
    duration: int | None


class Picked(NamedTuple):
    video: list[Sample]  # decode order
    audio: list[Sample]
    data: memoryview


class Layout(Protocol):
    """A file's own index, read once: what its segments are cut from."""

    video_tick: Fraction  # seconds per unit of the video's times
    audio_tick: Fraction | None
    video_default: int | None  # a video frame's duration where the container gives none (units)
    audio_default: int | None

    def pick(self, file: BinaryIO, span: SegmentSpan, deadline: float, stop: threading.Event | None) -> Picked | None:
        """The segment's samples and their bytes; ``None`` if the file is not as its index says."""
        ...


@contextmanager
def open_file(source: Input) -> Iterator[BinaryIO]:
    with open(source, "rb", buffering=0) if isinstance(source, str) else nullcontext(source) as file:  # type: ignore[attr-defined]
        yield file


_scratch = threading.local()


class Window:
    """The file's bytes from ``origin`` on, read as they are needed into this thread's buffer.
    ``data`` is what has been read."""

    def __init__(self, file: BinaryIO, origin: int, size: int) -> None:
        self.file, self.origin, self.size = file, origin, size
        self.buffer: bytearray = getattr(_scratch, "buffer", None) or bytearray(1 << 20)
        self.length = 0

    @property
    def data(self) -> memoryview:
        return memoryview(self.buffer)[: self.length]

    def have(self, end: int) -> None:
        """Reads up to ``end`` (a file offset), or the file's end; ``BeyondLimit`` past ``MAX_SEGMENT_BYTES``."""
        if end - self.origin > MAX_SEGMENT_BYTES:
            raise BeyondLimit(f"{end - self.origin} bytes for one segment")
        at = self.origin + self.length
        missing = min(end, self.size) - at
        if missing <= 0:
            return
        if self.length + missing > len(self.buffer):
            grown = bytearray(max(self.length + missing, 2 * len(self.buffer)))
            grown[: self.length] = self.buffer[: self.length]
            self.buffer = grown
            if len(grown) <= MAX_SCRATCH_BYTES:
                _scratch.buffer = grown
        self.file.seek(at)
        with memoryview(self.buffer) as view:
            while missing > 0 and (count := self.file.readinto(view[self.length : self.length + missing])):
                self.length += count
                missing -= count
