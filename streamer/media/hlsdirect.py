"""HLS media segments of Matroska files, cut straight from the file's blocks: no demuxer, no muxer.

Rule: a segment made here holds what ``streamer.media.hlsmux`` would put in it: the video frames
from the keyframe its span starts at (found through the Cues) up to the next segment's keyframe,
the copied sound's frames presented in between, or the converted sound's AAC packets, at the same
times (``OFFSET_S`` on), in the track ids and timescales of the init segment PyAV makes; written
by ``streamer.media.fmp4`` as one fragment. What this cannot cut as planned (no Cues, a cue that
lies, compressed blocks, laced frames without a duration, video to be encoded, a codec whose blocks
are not MP4 samples) is ``None``: the caller makes it with PyAV. A file's ``Cut`` (its tracks, cues and init tracks) is read once per version
and kept by the caller. Reads are whole Clusters, through ``read`` and ``seek`` of a
path opened here or a seekable reader (an object in a bucket: one ranged GET per Cluster).
The deadline and ``stop`` are checked between Clusters. All functions block.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, BinaryIO

import av

from streamer.media import ebml, mkvblocks
from streamer.media.fmp4 import InitTrack, Run, fragment, init_tracks
from streamer.media.hlsaudio import Input, output_rate, segment_aac, start_of
from streamer.media.hlsencode import VideoEncoding, is_encoded
from streamer.media.hlsmux import OFFSET_S, AudioChunks, Opener, make_init, select_streams
from streamer.media.hlspackets import EPS_S, Membership, check, fill_dts
from streamer.media.hlsplan import SegmentSpan
from streamer.media.keyframes import HEAD_BYTES, MAX_INDEX_BYTES

VIDEO, AUDIO = 1, 2  # Matroska TrackType
# Matroska codec IDs whose blocks are the samples MP4 carries, as they are, with FFmpeg's names: the track
# found for a PyAV stream must be one of these and name the same codec
SAME_SAMPLES = {"V_MPEG4/ISO/AVC": "h264", "V_MPEGH/ISO/HEVC": "hevc", "V_VP9": "vp9", "V_AV1": "av1",
                "A_AAC": "aac", "A_OPUS": "opus", "A_FLAC": "flac"}
MAX_CLUSTER_BYTES = 256 << 20  # a larger Cluster is left to PyAV
MAX_SEGMENT_BYTES = 512 << 20  # nor is a segment read further than this (a 6 s segment at 100 Mb/s is 75 MB)
MAX_SCRATCH_BYTES = 64 << 20  # a thread keeps its read buffer up to this size
HEADER_BYTES = 16  # an element's ID and size
TAIL_BYTES = 64 << 10  # read of the Cluster after the video's end, where the last sound frames are


@dataclass(frozen=True)
class Converted:
    """Sound that comes as AAC chunks: the source stream's index, the AAC rate, when it starts (s)."""

    stream_index: int
    rate: int
    start: float


@dataclass(frozen=True)
class Cut:
    """What cutting one version of a Matroska file needs, read once."""

    scale_ns: int  # TimestampScale: a tick in ns
    size: int
    cue_times: tuple[float, ...]  # s, of the video track's cue points
    cue_positions: tuple[int, ...]  # where each cue's Cluster starts, from the file's first byte
    video: int  # track number
    video_default: int | None  # ticks
    video_out: InitTrack
    audio: int | None  # copied sound's track number
    audio_default: int | None
    audio_out: InitTrack | None
    delays: tuple[tuple[int, int], ...] = ()  # (track number, ticks) taken off its times: its CodecDelay, as FFmpeg does
    durations: tuple[tuple[int, int], ...] = ()  # (track number, DefaultDuration in ns or 0): laced frames share it
    converted: Converted | None = None


@contextmanager
def _file(source: Input) -> Iterator[BinaryIO]:
    with open(source, "rb", buffering=0) if isinstance(source, str) else nullcontext(source) as file:  # type: ignore[attr-defined]
        yield file


def _read(file: BinaryIO, offset: int, length: int) -> bytes:
    """Up to ``length`` bytes at ``offset``: fewer only at the end of the file."""
    file.seek(offset)
    parts, left = [], length
    while left > 0:
        part = file.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _element(file: BinaryIO, position: int, size: int) -> bytes | None:
    element = ebml.parse_element_header(_read(file, position, HEADER_BYTES), 0, 1 << 62)
    if element is None or element.end > min(MAX_INDEX_BYTES, size - position):
        return None
    return _read(file, position, element.end)


def _layout(file: BinaryIO) -> tuple[int, int, int, dict[int, mkvblocks.Track], bytes] | None:
    """(file size, Segment payload offset, TimestampScale, tracks, Cues element) of a Matroska file."""
    size = file.seek(0, 2)
    head = _read(file, 0, HEAD_BYTES)
    start = ebml.parse_segment_start(head)
    first = ebml.parse_element_header(head, start[0]) if start else None
    if start is None or first is None or first.id != ebml.SEEK_HEAD or first.end > len(head):
        return None
    segment = start[0]
    seeks = ebml.parse_seek_head(head[first.start : first.end])
    if not seeks or not {ebml.INFO, ebml.TRACKS, ebml.CUES} <= seeks.keys():
        return None
    elements = [_element(file, segment + seeks[ident], size) for ident in (ebml.INFO, ebml.TRACKS, ebml.CUES)]
    if None in elements:
        return None
    info_data, tracks_data, cues = elements
    info = ebml.parse_info(info_data)  # type: ignore[arg-type]
    tracks = mkvblocks.parse_tracks(tracks_data)  # type: ignore[arg-type]
    if info is None or tracks is None:
        return None
    return size, segment, info[0], tracks, cues  # type: ignore[return-value]


def _out(tracks: list[InitTrack], handler: bytes) -> InitTrack | None:
    return next((track for track in tracks if track.handler == handler), None)


def _number(tracks: dict[int, mkvblocks.Track], streams: Any, stream: Any, kind: int) -> int | None:
    """The track number of ``stream``, the k-th of ``streams`` (PyAV's of one kind): the k-th track of ``kind``
    in the file, when FFmpeg made a stream of each (it numbers them by file order; its stream ids are 0), and
    the track's codec is one whose blocks are MP4 samples and the stream's."""
    found = [track for track in tracks.values() if track.kind == kind]
    if stream is None or len(found) != len(streams):
        return None
    track = found[list(streams).index(stream)]
    codec = SAME_SAMPLES.get(track.codec) or SAME_SAMPLES.get(track.codec.split("/")[0])  # A_AAC/MPEG4/LC...
    return track.number if codec == stream.codec_context.codec.canonical_name else None  # libdav1d: av1


def plan_cut(
    source: Input, *, opener: Opener, transcode: bool, encoding: VideoEncoding | None = None
) -> Cut | None:
    """The ``Cut`` of the file at ``source``, or ``None`` if its segments are not cut here."""
    with _file(source) as file:
        layout = _layout(file)
    if layout is None:
        return None
    size, segment, scale_ns, tracks, cues_data = layout
    with opener(source) as container:
        streams = select_streams(container)
        if is_encoded(streams.video, encoding):
            return None
        video, audio = streams.video, streams.audio
        converted = None
        if streams.transcoded:
            rate = output_rate(audio.codec_context.sample_rate)
            converted = Converted(audio.index, rate, start_of(audio)) if transcode else None
            audio = None
        elif audio is not None and audio.codec_context.name == "aac" and not audio.codec_context.extradata:
            return None  # ADTS frames
        videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        numbers = (_number(tracks, videos, video, VIDEO), _number(tracks, container.streams.audio, audio, AUDIO))
    if numbers[0] is None or (audio is not None and numbers[1] is None):
        return None  # FFmpeg left a track out: which is which is not known
    outs = init_tracks(make_init(source, transcode=transcode, opener=opener, encoding=encoding))
    cues = mkvblocks.parse_cue_clusters(cues_data, numbers[0])
    chosen = [tracks.get(number) for number in numbers if number is not None]
    if outs is None or cues is None or any(t is None or t.encoded for t in chosen):
        return None
    video_out, audio_out = _out(outs, b"vide"), _out(outs, b"soun")
    if video_out is None or ((audio is not None or converted is not None) != (audio_out is not None)):
        return None

    def default(number: int | None) -> int | None:
        track = tracks.get(number) if number is not None else None
        return track.default_duration_ns // scale_ns if track and track.default_duration_ns else None

    delays = tuple(
        (track.number, (2 * track.codec_delay_ns + scale_ns) // (2 * scale_ns))  # rounded as FFmpeg rescales
        for track in chosen if track is not None and track.codec_delay_ns
    )
    durations = tuple((track.number, track.default_duration_ns or 0) for track in chosen if track is not None)
    return Cut(
        scale_ns, size, tuple(time * scale_ns / 1e9 for time, _ in cues), tuple(segment + at for _, at in cues),
        numbers[0], default(numbers[0]), video_out, numbers[1], default(numbers[1]), audio_out, delays, durations, converted,
    )


class _Timed:
    """A frame's times for ``fill_dts``."""

    __slots__ = ("pts", "dts", "duration")

    def __init__(self, pts: int, duration: int | None) -> None:
        self.pts, self.dts, self.duration = pts, None, duration


_scratch = threading.local()  # each thread's read buffer, kept: a fresh MBs each segment is MBs of page faults


class _Window:
    """The file's bytes from ``origin`` on, read as they are needed into this thread's buffer (grown by a new
    one, never resized: views of the old one may still be held). ``data`` is what has been read."""

    def __init__(self, file: BinaryIO, origin: int, size: int) -> None:
        self.file, self.origin, self.size = file, origin, size
        self.buffer: bytearray = getattr(_scratch, "buffer", None) or bytearray(1 << 20)
        self.length = 0

    @property
    def data(self) -> memoryview:
        return memoryview(self.buffer)[: self.length]

    def have(self, end: int) -> None:
        """Reads up to ``end`` (a file offset), or the file's end."""
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


def _frames(
    file: BinaryIO, cut: Cut, span: SegmentSpan, deadline: float, stop: threading.Event | None
) -> tuple[list[mkvblocks.Frame], list[mkvblocks.Frame], memoryview] | None:
    """The segment's video frames (decode order) and copied sound's frames, and the bytes they lie in (a frame's
    ``start`` and ``end`` count from their first); ``None`` if not as planned. The Clusters from the segment's
    keyframe to the next segment's are read at once, and the start of the one after, for the last sound."""
    at = bisect.bisect_left(cut.cue_times, span.start - EPS_S)
    if at == len(cut.cue_times) or abs(cut.cue_times[at] - span.start) > EPS_S:
        return None
    membership = Membership(span, cut.audio is not None)
    wanted = {track: default for track, default in cut.durations if track in (cut.video, cut.audio)}
    videos: list[mkvblocks.Frame] = []
    audios: list[mkvblocks.Frame] = []
    position, scale, delays = cut.cue_positions[at], cut.scale_ns / 1e9, dict(cut.delays)
    window = _Window(file, position, cut.size)
    following = bisect.bisect_left(cut.cue_times, membership.hi)
    if span.stop is not None and following < len(cut.cue_times) and cut.cue_positions[following] > position:
        if cut.cue_positions[following] - position > MAX_SEGMENT_BYTES:
            return None
        window.have(cut.cue_positions[following] + TAIL_BYTES)
    while position < cut.size and not membership.done:
        check(deadline, stop)
        time.sleep(0)  # lets the GIL go: a Cluster's blocks are parsed in Python, holding it (~0.4 ms at 1080p)
        window.have(position + HEADER_BYTES)
        start = position - window.origin
        element = ebml.parse_element_header(window.data, start, 1 << 62)
        if element is None or element.end >= 1 << 62:
            return None
        size = element.end - start
        if element.id != mkvblocks.CLUSTER:
            position += size  # Cues, Tags, Void between Clusters
            continue
        if size > MAX_CLUSTER_BYTES:
            return None
        if position + size - window.origin > MAX_SEGMENT_BYTES:
            return None
        window.have(position + (min(size, TAIL_BYTES) if membership.video_done else size))
        parsed = mkvblocks.parse_cluster(window.data, wanted, start, cut.scale_ns)
        if parsed is not None and not parsed[1]:  # the tail was not enough: all of it
            window.have(position + size)
            parsed = mkvblocks.parse_cluster(window.data, wanted, start, cut.scale_ns)
        if parsed is None or not parsed[1]:
            return None
        for frame in parsed[0]:
            if frame.end == frame.start:
                continue
            if frame.track in delays:
                frame = frame._replace(time=frame.time - delays[frame.track])
            if frame.track == cut.video:
                if (kept := membership.video(frame.keyframe, frame.time * scale)) is None:
                    return None  # the cue's Cluster starts past the segment's keyframe
                if kept:
                    videos.append(frame)
            elif membership.audio(frame.time * scale):
                audios.append(frame)
        position += size
    return (videos, audios, window.data) if videos else None


def _scale(ticks: Fraction, timescale: int) -> Callable[[int], int]:
    """A time in ticks of ``ticks`` s (``OFFSET_S`` added) → the track's timescale, rounded half up as FFmpeg does."""
    num, den = ticks.numerator * timescale, ticks.denominator
    offset = round(OFFSET_S / ticks)
    return lambda time: (2 * (time + offset) * num + den) // (2 * den)


def _run(out: InitTrack, tick: Fraction, frames: list[_Timed], data: list[memoryview], video: bool, keys: list[bool]) -> Run:
    """A track's frames (times in ``tick`` s) as a ``Run`` in its timescale; the last lasts its own duration."""
    scale = _scale(tick, out.timescale)
    dts = [scale(frame.dts) for frame in frames]
    last = frames[-1]
    step = last.duration or (frames[-1].dts - frames[-2].dts if len(frames) > 1 else 1)
    ends = dts[1:] + [scale(last.dts + step)]
    durations = [end - start for start, end in zip(dts, ends)]
    if not video:
        return Run(out.track_id, dts[0], durations, data)
    offsets = [scale(frame.pts) - start for frame, start in zip(frames, dts)]
    return Run(out.track_id, dts[0], durations, data, offsets, keys)


def cut_segment(
    source: Input, cut: Cut, span: SegmentSpan, chunks: AudioChunks | None = None, *, deadline: float = math.inf,
    stop: threading.Event | None = None, turn: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> bytes | None:
    """``{n}.m4s`` of segment ``span`` as one fragment, or ``None`` if the file is not as its ``cut`` says.

    The blocks are read and parsed within ``turn()`` (Python holding the GIL: the caller may let one
    segment at a time do it); converted sound is waited for after. Raises ``SegmentTimeout`` or
    ``SegmentAbandoned`` as ``hlsmux.make_segment`` does."""
    check(deadline, stop)
    with turn(), _file(source) as file:
        found = _frames(file, cut, span, deadline, stop)
        if found is None:
            return None
        videos, audios, joined = found
        tick = Fraction(cut.scale_ns, 1_000_000_000)
        timed = [_Timed(frame.time, frame.duration or cut.video_default) for frame in videos]
        fill_dts(timed)  # type: ignore[arg-type]
        runs = [_run(cut.video_out, tick, timed, [joined[f.start : f.end] for f in videos], True, [f.keyframe for f in videos])]
        if audios and cut.audio_out is not None:
            sound = [_Timed(frame.time, frame.duration or cut.audio_default) for frame in audios]
            for frame in sound:
                frame.dts = frame.pts
            runs.append(_run(cut.audio_out, tick, sound, [joined[f.start : f.end] for f in audios], False, []))
    if cut.converted is not None and chunks is not None and cut.audio_out is not None:
        converted = cut.converted
        packets = segment_aac(lambda number: chunks(converted.stream_index, number), converted.rate, converted.start, span)
        check(deadline, stop)
        if packets:
            sound = [_Timed(pts, 1024) for pts, _ in packets]
            for frame in sound:
                frame.dts = frame.pts
            runs.append(_run(cut.audio_out, Fraction(1, converted.rate), sound, [memoryview(d) for _, d in packets], False, []))
    return fragment(span.number + 1, runs)
