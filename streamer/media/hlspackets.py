"""The packets of one HLS segment, read from its source: the muxer's input (``streamer.media.hlsmux``).

Rule: a segment's video is the packets from the keyframe at its start (decode order) up to the
next segment's keyframe, and its sound the packets presented in between; nothing outside, nothing
missed. The source is seeked to the keyframe; a demuxer whose seek lands after it (MPEG-TS has no
index: FFmpeg estimates where a time lies) is seeked again ``SEEK_MARGIN_S`` earlier, or to the
file's first byte, and the packets before the keyframe are passed over. Decode times Matroska
leaves out are filled in; AAC in ADTS frames loses its headers (``streamer.media.adts``). Work
stops between packets once past the deadline or told to stop. All functions block.
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from typing import Any

import av

from streamer.media.adts import audio_specific_config, parse_adts_header, raw_frame
from streamer.media.hlsinputs import StoppedBetweenPackets
from streamer.media.hlsplan import SegmentSpan

EPS_S = 0.0005  # keyframe times from the index are exact to the millisecond (Matroska): match within half
SEEK_MARGIN_S = 10.0  # a seek that landed after the keyframe is made again this much earlier


class SegmentError(ValueError):
    """The file cannot be cut as planned: no video, no packets where the index said, a damaged stream."""


class SegmentTimeout(StoppedBetweenPackets):
    """The segment was not made by its deadline (the work stopped): try again later."""


class SegmentAbandoned(StoppedBetweenPackets):
    """The segment's ``stop`` event was set (its client left): the work stopped."""


def check(deadline: float, stop: threading.Event | None) -> None:
    """Raises ``SegmentTimeout`` past ``deadline`` (``time.monotonic()``), ``SegmentAbandoned`` once ``stop`` is set."""
    if time.monotonic() > deadline:
        raise SegmentTimeout("the segment was not made in time")
    if stop is not None and stop.is_set():
        raise SegmentAbandoned("the segment's client left")


def adts_config(source: Any, stream: Any) -> bytes:
    """The AudioSpecificConfig of ``stream``'s AAC, from its first ADTS header (a kept source may be anywhere)."""
    source.seek(stream.start_time or 0, stream=stream, backward=True)
    first = next((packet for packet in source.demux(stream) if packet.size), None)
    header = parse_adts_header(bytes(first)) if first is not None else None
    if header is None:
        raise SegmentError("its AAC sound has no readable ADTS header")
    return audio_specific_config(header)


def unwrapped(packet: Any) -> Any:
    """``packet`` without its ADTS header, as MP4 carries AAC."""
    frame = raw_frame(bytes(packet))
    if frame is None:
        raise SegmentError("an AAC frame of its sound is not one ADTS frame")
    raw = av.Packet(frame)
    raw.pts, raw.dts, raw.duration, raw.time_base, raw.stream = packet.pts, packet.dts, packet.duration, packet.time_base, packet.stream
    return raw


def fill_dts(packets: list[Any]) -> None:
    """Decode times for video packets the demuxer left without (Matroska stores presentation times only).

    Decode time i is the i-th presentation time ``delay`` frames back, ``delay`` being the
    largest reordering in the segment, so decode times rise and never pass presentation times.
    """
    if all(p.dts is not None for p in packets):
        return
    ordered = sorted(p.pts for p in packets)
    rank = {pts: i for i, pts in enumerate(ordered)}
    delay = max(i - rank[p.pts] for i, p in enumerate(packets))
    step = ordered[1] - ordered[0] if len(ordered) > 1 else (packets[0].duration or 1)
    for i, packet in enumerate(packets):
        packet.dts = ordered[i - delay] if i >= delay else ordered[0] - (delay - i) * step


def _seek(source: Any, video: Any, span: SegmentSpan, again: bool) -> None:
    """To the segment's keyframe; ``again`` (the first seek landed after it): ``SEEK_MARGIN_S`` earlier, or to the
    file's first byte if that is before the video starts (MPEG-TS has no index: FFmpeg estimates where a time lies)."""
    target = round(Fraction(span.start - (SEEK_MARGIN_S if again else 0)) / video.time_base)
    if not (again and target <= (video.start_time or 0) and _seek_first_byte(source)):
        source.seek(max(target, video.start_time or 0), stream=video, backward=True)


def _seek_first_byte(source: Any) -> bool:
    """Back to the file's first byte, where a time seek may land past the first keyframe; False if it cannot."""
    try:
        source.seek(0, unsupported_byte_offset=True)
    except (av.FFmpegError, ValueError):
        return False
    return True


def collect(
    source: Any, video: Any, audio: Any | None, span: SegmentSpan, deadline: float, stop: threading.Event | None
) -> tuple[list[Any], list[Any]]:
    """The segment's packets of ``video`` (decode order) and of ``audio`` (if any), read from its keyframe on."""
    for again in (False, True):
        _seek(source, video, span, again)
        found = _collect(source, video, audio, span, deadline, stop)
        if found is not None:
            return found
    raise SegmentError(f"no keyframe at {span.start:.3f} s where the index put one")


class Membership:
    """Which packets, met in file order from a keyframe at or before segment ``span``'s, are the segment's:
    the video from the keyframe at its start (decode order) up to the next segment's keyframe, the sound
    presented in between (segment 0: all sound before its end). Times in seconds. Used by PyAV's
    demux here and by the cuts from a file's own index (``streamer.media.hlsmkv``, ``hlsmp4``) alike."""

    def __init__(self, span: SegmentSpan, audio: bool) -> None:
        self.start = span.start
        self.lo = span.start - EPS_S if span.number else float("-inf")
        self.hi = span.stop - EPS_S if span.stop is not None else float("inf")
        self.started = self.video_done = False
        self.audio_done = not audio

    @property
    def done(self) -> bool:
        return self.video_done and self.audio_done

    def video(self, keyframe: bool, seconds: float) -> bool | None:
        """Whether a video packet is the segment's; ``None`` if the segment's keyframe lies behind (a later came first)."""
        if self.video_done:
            return False
        if not self.started:
            if keyframe and seconds > self.start + EPS_S:
                return None
            self.started = keyframe and seconds >= self.start - EPS_S  # before it: not the segment's
            return self.started
        self.video_done = keyframe and seconds >= self.hi
        return not self.video_done

    def audio(self, seconds: float) -> bool:
        """Whether a sound packet is the segment's."""
        if self.audio_done:
            return False
        self.audio_done = seconds >= self.hi
        return self.lo <= seconds < self.hi


def _collect(
    source: Any, video: Any, audio: Any | None, span: SegmentSpan, deadline: float, stop: threading.Event | None
) -> tuple[list[Any], list[Any]] | None:
    """As ``collect``, from where the source is; ``None`` if the keyframe lies behind (the next one came first)."""
    membership = Membership(span, audio is not None)
    videos: list[Any] = []
    audios: list[Any] = []
    # pts * num / den with ints is the correctly rounded float of the exact time, as float(Fraction) is,
    # without a Fraction per packet (they were a fifth of a kept source's segment)
    scale = {s: (s.time_base.numerator, s.time_base.denominator) for s in (video, audio) if s is not None}
    for packet in source.demux(*scale):
        check(deadline, stop)  # an index that lies can send this loop through the whole file
        pts = packet.pts
        if pts is None or packet.size == 0:
            continue
        stream = packet.stream
        num, den = scale[stream]
        time = pts * num / den
        if stream is video:
            if (kept := membership.video(packet.is_keyframe, time)) is None:
                return None  # the seek landed past the segment's keyframe
            if kept:
                videos.append(packet)
        elif membership.audio(time):
            audios.append(packet)
        if membership.done:
            break
    return (videos, audios) if videos else None
