"""HLS media segments cut from a file's own index: no demuxer, no muxer.

Rule: a segment made here holds what ``streamer.media.hlsmux`` would put in it: the video from the
keyframe its span starts at up to the next segment's keyframe, the copied sound presented in
between, or the converted sound's AAC packets, at the same times (``OFFSET_S`` on), in the track
ids and timescales of the init segment PyAV makes; written by ``streamer.media.fmp4`` as one
fragment. The samples are picked by the file's layout: a Matroska file's through its Cues and
blocks (``streamer.media.hlsmkv``), an MP4 or MOV file's through its sample tables
(``streamer.media.hlsmp4``). What cannot be cut (another container, video to be encoded, a track
whose samples are not MP4 samples as they are, an index that lies) is ``None``: the caller makes
it with PyAV. A file's ``Cut`` is planned once per version and kept by the caller. The deadline
and ``stop`` are checked as the samples are read. All functions block.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from fractions import Fraction

import av

from streamer.media.fmp4 import InitTrack, Run, fragment, init_tracks
from streamer.media.hlsaudio import Input, output_rate, segment_aac, start_of
from streamer.media.hlsencode import VideoEncoding, is_encoded
from streamer.media.hlsmkv import matroska_layout
from streamer.media.hlsmp4 import mp4_layout
from streamer.media.hlsmux import OFFSET_S, AudioChunks, Opener, make_init, select_streams
from streamer.media.hlspackets import check, fill_dts
from streamer.media.hlspick import BeyondLimit, Layout, Sample, open_file
from streamer.media.hlsplan import SegmentSpan

LAYOUTS = (matroska_layout, mp4_layout)  # each tries the file in turn


@dataclass(frozen=True)
class Converted:
    """Sound that comes as AAC chunks: the source stream's index, the AAC rate, when it starts (s)."""

    stream_index: int
    rate: int
    start: float


@dataclass(frozen=True)
class Cut:
    """What cutting one version of a file needs, planned once."""

    layout: Layout
    video_out: InitTrack
    audio_out: InitTrack | None  # the init's sound track: copied, or converted
    converted: Converted | None = None


def _out(tracks: list[InitTrack], handler: bytes) -> InitTrack | None:
    return next((track for track in tracks if track.handler == handler), None)


def plan_cut(
    source: Input, *, opener: Opener, transcode: bool, encoding: VideoEncoding | None = None, reader: Input | None = None
) -> Cut | None:
    """The ``Cut`` of the file at ``source`` (opened by ``opener`` for PyAV; its index read through ``reader``, by
    default ``source``: a reader a kept PyAV container holds must not be moved under it), or ``None`` if its
    segments are not cut here (a file FFmpeg cannot read included: PyAV's path then says why)."""
    try:
        return _plan_cut(source, opener, transcode, encoding, source if reader is None else reader)
    except av.FFmpegError:
        return None


def _plan_cut(source: Input, opener: Opener, transcode: bool, encoding: VideoEncoding | None, reader: Input) -> Cut | None:
    with opener(source) as container:
        streams = select_streams(container)
        if is_encoded(streams.video, encoding):
            return None
        audio, converted = streams.audio, None
        if streams.transcoded:
            audio = None
            if transcode:
                converted = Converted(streams.audio.index, output_rate(streams.audio.codec_context.sample_rate), start_of(streams.audio))
        layout = next((found for way in LAYOUTS if (found := way(reader, container, streams.video, audio)) is not None), None)
    if layout is None:
        return None
    outs = init_tracks(make_init(source, transcode=transcode, opener=opener, encoding=encoding))
    video_out, audio_out = (_out(outs, b"vide"), _out(outs, b"soun")) if outs else (None, None)
    if video_out is None or ((audio is not None or converted is not None) != (audio_out is not None)):
        return None
    return Cut(layout, video_out, audio_out, converted)


class _Timed:
    """A frame's times for ``fill_dts``."""

    __slots__ = ("pts", "dts", "duration")

    def __init__(self, pts: int, dts: int | None, duration: int | None) -> None:
        self.pts, self.dts, self.duration = pts, dts, duration


def _scale(tick: Fraction, timescale: int) -> Callable[[int], int]:
    """A time in units of ``tick`` s (``OFFSET_S`` added) → the track's timescale, rounded half up as FFmpeg does."""
    num, den = tick.numerator * timescale, tick.denominator
    offset = round(OFFSET_S / tick)
    return lambda time: (2 * (time + offset) * num + den) // (2 * den)


class _Unwritable(Exception):
    """Times fMP4 cannot say: a decode time going back or below zero, an offset past 32 bits."""


def _run(out: InitTrack, tick: Fraction, frames: list[_Timed], data: list[memoryview], keys: list[bool] | None) -> Run:
    """A track's frames (times in ``tick`` s) as a ``Run`` in its timescale; the last lasts its own duration.
    ``keys``: the video's keyframe flags (and composition offsets written); ``None`` for sound."""
    scale = _scale(tick, out.timescale)
    dts = [scale(frame.dts) for frame in frames]  # type: ignore[arg-type]
    last = frames[-1]
    step = last.duration or (frames[-1].dts - frames[-2].dts if len(frames) > 1 else 1)  # type: ignore[operator]
    ends = dts[1:] + [scale(last.dts + step)]  # type: ignore[operator]
    durations = [end - start for start, end in zip(dts, ends)]
    if dts[0] < 0 or min(durations) < 0 or max(durations) >= 1 << 32:
        raise _Unwritable(f"track {out.track_id}")
    if keys is None:
        return Run(out.track_id, dts[0], durations, data)
    offsets = [scale(frame.pts) - start for frame, start in zip(frames, dts)]
    if not -(1 << 31) <= min(offsets) <= max(offsets) < 1 << 31:
        raise _Unwritable(f"track {out.track_id}")
    return Run(out.track_id, dts[0], durations, data, offsets, keys)


def _timed(samples: list[Sample], default: int | None, video: bool) -> list[_Timed]:
    timed = [_Timed(s.pts, s.dts, s.duration or default) for s in samples]
    if video and any(t.dts is None for t in timed):
        fill_dts(timed)  # Matroska stores presentation times only
    for frame in timed:
        if frame.dts is None:
            frame.dts = frame.pts
    return timed


def cut_segment(
    source: Input, cut: Cut, span: SegmentSpan, chunks: AudioChunks | None = None, *, deadline: float = math.inf,
    stop: threading.Event | None = None, turn: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> bytes | None:
    """``{n}.m4s`` of segment ``span`` as one fragment, or ``None`` if the file is not as its ``cut`` says.

    The samples are picked and read within ``turn()`` (Python holding the GIL: the caller may let one
    segment at a time do it); converted sound is waited for after. Raises ``SegmentTimeout`` or
    ``SegmentAbandoned`` as ``hlsmux.make_segment`` does."""
    try:
        return _cut(source, cut, span, chunks, deadline, stop, turn)
    except (BeyondLimit, _Unwritable):
        return None  # PyAV's


def _cut(
    source: Input, cut: Cut, span: SegmentSpan, chunks: AudioChunks | None, deadline: float, stop: threading.Event | None,
    turn: Callable[[], AbstractContextManager[object]],
) -> bytes | None:
    check(deadline, stop)
    layout = cut.layout
    with turn(), open_file(source) as file:
        picked = layout.pick(file, span, deadline, stop)
        if picked is None:
            return None
        time.sleep(0)  # lets the GIL go between stretches of Python
        data = picked.data
        video = [data[s.start : s.end] for s in picked.video]
        keys = [s.keyframe for s in picked.video]
        runs = [_run(cut.video_out, layout.video_tick, _timed(picked.video, layout.video_default, True), video, keys)]
        if picked.audio and cut.audio_out is not None and layout.audio_tick is not None:
            sound = [data[s.start : s.end] for s in picked.audio]
            runs.append(_run(cut.audio_out, layout.audio_tick, _timed(picked.audio, layout.audio_default, False), sound, None))
    if cut.converted is not None and chunks is not None and cut.audio_out is not None:
        converted = cut.converted
        packets = segment_aac(lambda number: chunks(converted.stream_index, number), converted.rate, converted.start, span)
        check(deadline, stop)
        if packets:
            timed = [_Timed(pts, pts, 1024) for pts, _ in packets]
            runs.append(_run(cut.audio_out, Fraction(1, converted.rate), timed, [memoryview(d) for _, d in packets], None))
    time.sleep(0)
    return fragment(span.number + 1, runs)
