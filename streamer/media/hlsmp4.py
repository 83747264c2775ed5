"""An MP4 or MOV file's segments picked through its sample tables, as FFmpeg indexed them.

Rule: FFmpeg's index of each chosen stream (PyAV's ``index_entries``: where each sample lies, its
size, its decode time with the edit list applied, whether it is a keyframe) and the ``moov``'s
``ctts`` (``streamer.media.bmff``) give every sample's times, the presentation time being the
decode time plus its offset, moved as FFmpeg moves it when an offset is negative. A segment's
samples are the video's from the keyframe at its start up to the next segment's keyframe and the
sound's presented in between; their bytes are read at once, from the first to the last. A track
whose samples are not MP4 samples as they are (H.264 or HEVC in start-code form), a fragmented file
(FFmpeg's index is not the ``moov``'s), samples spread far apart: ``None``. All functions block.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from array import array
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, BinaryIO

from streamer.media import bmff
from streamer.media.hlspackets import EPS_S, Membership, check
from streamer.media.hlspick import SAME_SAMPLES, Picked, Sample, Window, open_file
from streamer.media.hlsplan import SegmentSpan
from streamer.media.keyframes import read_moov

FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"  # FFmpeg's demuxer of these
MAX_SPREAD = 4  # the bytes read for a segment may be this many times its samples' (interleaving), plus 1 MiB


@dataclass(frozen=True)
class TrackSamples:
    """One stream's samples in decode order: position, size, decode and presentation time, keyframe flag."""

    tick: Fraction  # s per unit of the times
    pos: array  # type: ignore[type-arg]
    size: array  # type: ignore[type-arg]
    dts: array  # type: ignore[type-arg]
    pts: array  # type: ignore[type-arg]
    key: bytes
    last_duration: int  # the last sample's, from ``stts`` (the others: the next decode time less its own)

    def duration(self, i: int) -> int:
        return self.dts[i + 1] - self.dts[i] if i + 1 < len(self.dts) else self.last_duration

    def sample(self, i: int, origin: int) -> Sample:
        start = self.pos[i] - origin
        return Sample(self.pts[i], self.dts[i], bool(self.key[i]), start, start + self.size[i], self.duration(i))


def _samples(stream: Any, timing: bmff.SampleTiming) -> TrackSamples | None:
    entries = stream.index_entries
    if len(entries) != timing.count or (timing.offsets and sum(count for count, _ in timing.offsets) != timing.count):
        return None  # a fragmented file, an edit list that dropped samples, a ctts that lies: not FFmpeg's index
    offsets = [offset for count, offset in timing.offsets for _ in range(count)]  # as many as FFmpeg indexed
    shift = max(0, -min(offsets, default=0))  # FFmpeg's dts_shift: its index's times are moved back by it
    pos, size, dts, key = array("q"), array("q"), array("q"), bytearray()
    for entry in entries:
        pos.append(entry.pos)
        size.append(entry.size)
        dts.append(entry.timestamp)
        key.append(1 if entry.is_keyframe else 0)
    pts = array("q", (d + o + shift for d, o in zip(dts, offsets))) if offsets else array("q", dts)
    return TrackSamples(Fraction(stream.time_base), pos, size, dts, pts, bytes(key), timing.last_duration)


def _copied_as_is(stream: Any) -> bool:
    """Its samples go into fMP4 unchanged: a codec MP4 carries as it is, H.264/HEVC in length-prefixed form."""
    context = stream.codec_context
    name = context.codec.canonical_name
    extradata = bytes(context.extradata or b"")
    if name in ("h264", "hevc"):
        return extradata[:1] == b"\x01"  # avcC / hvcC: not start codes
    return name in SAME_SAMPLES and (name != "aac" or bool(extradata))


@dataclass(frozen=True)
class Mp4Layout:
    size: int
    video: TrackSamples
    audio: TrackSamples | None
    keyframe_times: tuple[float, ...]  # s, presentation times of the video's keyframes, sorted
    keyframe_samples: tuple[int, ...]  # their sample numbers

    @property
    def video_tick(self) -> Fraction:
        return self.video.tick

    @property
    def audio_tick(self) -> Fraction | None:
        return self.audio.tick if self.audio else None

    video_default = None  # every sample's duration is in the tables
    audio_default = None

    def pick(self, file: BinaryIO, span: SegmentSpan, deadline: float, stop: threading.Event | None) -> Picked | None:
        at = bisect.bisect_left(self.keyframe_times, span.start - EPS_S)
        if at == len(self.keyframe_times) or abs(self.keyframe_times[at] - span.start) > EPS_S:
            return None
        check(deadline, stop)
        membership = Membership(span, self.audio is not None)
        video, scale = self.video, float(self.video.tick)
        videos = []
        for i in range(self.keyframe_samples[at], len(video.dts)):
            if not video.size[i]:
                continue  # as PyAV's demux is read: an empty packet is none
            kept = membership.video(bool(video.key[i]), video.pts[i] * scale)
            if kept is None:
                return None
            if membership.video_done:
                break
            if kept:
                videos.append(i)
        time.sleep(0)  # lets the GIL go between stretches of Python (as a Matroska cut does between Clusters)
        audios = []
        if self.audio is not None:
            audio, scale = self.audio, float(self.audio.tick)
            first = 0 if not span.number else max(0, bisect.bisect_left(audio.pts, math.floor(membership.lo / scale)) - 1)
            for i in range(first, len(audio.pts)):
                if not audio.size[i]:
                    continue
                if membership.audio(audio.pts[i] * scale):
                    audios.append(i)
                elif membership.audio_done:
                    break
        if not videos:
            return None
        chosen = [(video, i) for i in videos] + [(self.audio, i) for i in audios]  # type: ignore[misc]
        origin = min(track.pos[i] for track, i in chosen)
        end = max(track.pos[i] + track.size[i] for track, i in chosen)
        if end - origin > MAX_SPREAD * sum(track.size[i] for track, i in chosen) + (1 << 20):
            return None  # not interleaved: PyAV's, reading each sample where it lies
        time.sleep(0)
        window = Window(file, origin, self.size)
        window.have(end)
        if window.length < end - origin:
            return None  # the file is shorter than its tables say
        sound = [self.audio.sample(i, origin) for i in audios] if self.audio is not None else []
        return Picked([video.sample(i, origin) for i in videos], sound, window.data)


def mp4_layout(source: Any, container: Any, video: Any, audio: Any | None) -> Mp4Layout | None:
    """The layout of the MP4 or MOV file at ``source`` (opened by PyAV as ``container``) for its ``video``
    stream and copied ``audio`` stream, or ``None`` if its segments are not cut here."""
    if container.format.name != FORMAT or not all(_copied_as_is(s) for s in (video, audio) if s is not None):
        return None
    with open_file(source) as file:
        size = file.seek(0, 2)
        moov = read_moov(file, size)
    tables = bmff.sample_timing(moov) if moov else None
    if tables is None or video.id not in tables or (audio is not None and audio.id not in tables):
        return None
    video_samples = _samples(video, tables[video.id])
    audio_samples = _samples(audio, tables[audio.id]) if audio is not None else None
    if video_samples is None or (audio is not None and audio_samples is None):
        return None
    scale = float(video_samples.tick)
    keyframes = sorted((video_samples.pts[i] * scale, i) for i in range(len(video_samples.pts)) if video_samples.key[i])
    return Mp4Layout(size, video_samples, audio_samples, tuple(t for t, _ in keyframes), tuple(i for _, i in keyframes))
