"""HLS init and media segments of one file, each made on its own with PyAV: no state between requests.

A segment is the packets of the first video stream from the keyframe at its
start to the next segment's keyframe (decode order), and the audio packets
presented in between, muxed into memory as fragmented MP4: audio browsers
decode is copied, other audio comes as AAC from ``streamer.media.hlsaudio``; video
browsers cannot decode comes as H.264 from ``streamer.media.hlsencode``. Timestamps
are the source's moved by ``OFFSET_S``, so ``tfdt`` runs on across segments and
no decode time is negative. No creation times, bitexact: the same bytes every
time. A segment past its ``deadline`` (``time.monotonic()``) stops between packets
with ``SegmentTimeout``, one whose ``stop`` event is set (its client left) with
``SegmentAbandoned``. The source is a path or a seekable binary reader (a file in a
bucket through ranged GETs: the same bytes out). Every container is closed before a
function returns.
All functions block.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from streamer.media.hlsaudio import AacFormat, AudioChunk, Input, aac_config, chunk_samples, open_input, output_rate
from streamer.media.hlsaudio import packets_between
from streamer.media.hlsencode import EncodedVideo, VideoEncoding, add_encoder_stream, is_encoded
from streamer.media.hlsinputs import StoppedBetweenPackets
from streamer.media.hlsplan import SegmentSpan

AudioChunks = Callable[[int, int], AudioChunk]
EncodedVideos = Callable[[SegmentSpan], EncodedVideo]  # a segment → its picture as H.264, encoded or cached  # (audio stream index, chunk number) → the chunk, transcoded or cached
# the source → its container as a context manager: open_input, or a checkout of streamer.media.hlsinputs
Opener = Callable[[Input], AbstractContextManager[Any]]

OFFSET_S = 10  # seconds added to every timestamp: B-frame and audio-priming decode times stay positive
EPS_S = 0.0005  # keyframe times from the index are exact to the millisecond (Matroska): match within half
COPIED_AUDIO = frozenset({"aac", "mp3", "opus", "flac"})  # browsers decode these in fMP4
MUX_OPTIONS = {
    # one moof per keyframe; tfdt from the first packet's dts (frag_discont, no edit list); no mfra
    "movflags": "empty_moov+default_base_moof+frag_discont+frag_keyframe+skip_trailer",
    "use_editlist": "0",
    "fflags": "+bitexact",
    "avoid_negative_ts": "disabled",
}


OUTPUT_BUFFER = 1 << 16  # bytes per write to Python: each is one short copy under the GIL


class _Written:
    """The muxer's output, kept as the bytes objects PyAV wrote, and joined once.

    Not seekable, which fragmented MP4 without a trailer never needs. Copying 4.5 MB into a growing
    ``BytesIO``, out of it, and once more to drop the init's boxes held the GIL long enough that
    the event loop's lag p99, while one thread muxed 1080p segments back to back, was 2.4 ms; with
    this, 0.8 ms (same CPU per segment; README, HLS).
    """

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)

    def all(self) -> bytes:
        return b"".join(self.parts)

    def fragments(self) -> bytes:
        """The bytes from the first ``moof`` on, copied once: what comes before it is the init's."""
        for i, part in enumerate(self.parts):
            if part[4:8] == b"moof":  # FFmpeg flushes ftyp and the empty moov in writes of their own
                return b"".join(self.parts[i:])
        data = self.all()
        return data[_moof_offset(data) :]


class SegmentError(ValueError):
    """The file cannot be cut as planned: no video, no packets where the index said, a damaged stream."""


class SegmentTimeout(StoppedBetweenPackets):
    """The segment was not made by its deadline (the work stopped): try again later."""


class SegmentAbandoned(StoppedBetweenPackets):
    """The segment's ``stop`` event was set (its client left): the work stopped."""


def _check(deadline: float, stop: threading.Event | None) -> None:
    if time.monotonic() > deadline:
        raise SegmentTimeout("the segment was not made in time")
    if stop is not None and stop.is_set():
        raise SegmentAbandoned("the segment's client left")


@dataclass
class _Streams:
    video: Any
    audio: Any | None
    transcoded: bool  # the audio is not copied but comes as AAC from its chunks
    encoded: bool = False  # the video is not copied but comes as H.264 from streamer.media.hlsencode


def _select(container: Any) -> _Streams:
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        raise SegmentError("no video stream")
    audios = [s for s in container.streams.audio if s.codec_context.sample_rate]
    copied = next((s for s in audios if s.codec_context.name in COPIED_AUDIO), None)
    if copied is not None or not audios:
        return _Streams(videos[0], copied, False)
    return _Streams(videos[0], audios[0], True)


def _copied_stream(output: Any, stream: Any) -> Any:
    """An output stream that takes ``stream``'s packets as they are."""
    try:
        return output.add_stream_from_template(stream)
    except av.codec.codec.UnknownCodecError:
        # PyAV looks an encoder up by the decoder's name, and libdav1d (AV1) is none: the decoder's
        # own codec object carries the same codec id, and nothing is encoded
        return output.add_stream_from_template(stream, opaque=True)


@contextmanager
def _open_pair(
    path: Input, *, transcode: bool, opener: Opener = open_input, encoding: VideoEncoding | None = None
) -> Iterator[tuple[Any, _Streams, Any, dict[Any, Any], _Written]]:
    """The source, its selected streams, an fMP4 output in memory and the stream map: all closed (or given back) after.

    Video browsers cannot decode gets an H.264 encoder stream with ``encoding``; without it, ``NotConverted``.
    """
    written = _Written()
    output_options = {"format": "mp4", "options": MUX_OPTIONS, "buffer_size": OUTPUT_BUFFER}
    with opener(path) as source, av.open(written, "w", **output_options) as output:
        streams = _select(source)
        if streams.transcoded and not transcode:
            streams = _Streams(streams.video, None, False)
        streams.encoded = is_encoded(streams.video, encoding)
        mapping = {}
        for stream in (streams.video, streams.audio):
            if stream is streams.video and streams.encoded:
                assert encoding is not None
                mapping[stream] = add_encoder_stream(output, stream, encoding)
            elif stream is streams.audio and streams.transcoded:
                aac = AacFormat.of(stream)
                out = output.add_stream("aac", rate=aac.sample_rate, layout=aac.layout)
                out.codec_context.extradata = aac_config(aac)
                mapping[stream] = out
            elif stream is not None:
                out = _copied_stream(output, stream)
                if stream.codec_context.name == "hevc":
                    out.codec_tag = "hvc1"  # Safari refuses hev1
                mapping[stream] = out
        yield source, streams, output, mapping, written


def _moof_offset(data: bytes) -> int:
    at = data.find(b"moof")
    if at < 4:
        raise SegmentError("the muxer wrote no fragment")
    return at - 4


def make_init(
    path: Input, *, transcode: bool = False, opener: Opener = open_input, encoding: VideoEncoding | None = None
) -> bytes:
    """``init.mp4``: the ``ftyp`` and the empty ``moov`` of the selected streams (with AAC for the sound if
    ``transcode``, H.264 in ``encoding`` for video browsers cannot decode)."""
    try:
        with _open_pair(path, transcode=transcode, opener=opener, encoding=encoding) as (_source, _streams, output, _mapping, written):
            output.start_encoding()
        return written.all()
    except av.FFmpegError as exc:
        raise SegmentError(f"cannot read the file: {exc}") from exc


def _fill_dts(packets: list[Any]) -> None:
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


def _collect(
    source: Any, streams: _Streams, span: SegmentSpan, deadline: float, stop: threading.Event | None
) -> tuple[list[Any], list[Any]]:
    """The segment's video packets (decode order) and audio packets, read from its keyframe on."""
    video, audio = streams.video, (None if streams.transcoded else streams.audio)
    source.seek(round(Fraction(span.start) / video.time_base), stream=video, backward=True)
    lo = span.start - EPS_S if span.number else float("-inf")
    hi = span.stop - EPS_S if span.stop is not None else float("inf")
    videos: list[Any] = []
    audios: list[Any] = []
    video_done, audio_done = False, audio is None
    # pts * num / den with ints is the correctly rounded float of the exact time, as float(Fraction) is,
    # without a Fraction per packet (they were a fifth of a kept source's segment)
    scale = {s: (s.time_base.numerator, s.time_base.denominator) for s in (video, audio) if s is not None}
    for packet in source.demux(*scale):
        _check(deadline, stop)  # an index that lies can send this loop through the whole file
        pts = packet.pts
        if pts is None or packet.size == 0:
            continue
        stream = packet.stream
        num, den = scale[stream]
        time = pts * num / den
        if stream is video and not video_done:
            if not videos and not (packet.is_keyframe and time >= span.start - EPS_S):
                continue  # before the keyframe the segment starts with
            video_done = bool(videos) and packet.is_keyframe and time >= hi
            if not video_done:
                videos.append(packet)
        elif stream is audio and not audio_done:
            audio_done = time >= hi
            if lo <= time < hi:
                audios.append(packet)
        if video_done and audio_done:
            break
    if not videos:
        raise SegmentError(f"no keyframe at {span.start:.3f} s where the index put one")
    return videos, audios


def _transcoded(streams: _Streams, span: SegmentSpan, chunks: AudioChunks) -> list[Any]:
    """The AAC packets presented from the segment's start to the next one's, as packets of the source's audio."""
    stream = streams.audio
    rate = output_rate(stream.codec_context.sample_rate)
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    first = math.floor(start * rate) // chunk_samples() - 1  # the chunk before the sound holds its priming
    lo = round(span.start * rate) if span.number else None
    if lo is not None:
        first = max(first, lo // chunk_samples())
    hi = round(span.stop * rate) if span.stop is not None else None
    packets = []
    for pts, data in packets_between(lambda number: chunks(stream.index, number), first, lo, hi):
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.duration = 1024
        packet.time_base = Fraction(1, rate)
        packet.stream = stream
        packets.append(packet)
    return packets


def _mux_order(videos: list[Any], audios: list[Any]) -> list[tuple[Any, int]]:
    """The packets by decode time, video first at a tie, each with ``OFFSET_S`` in its time base."""
    timed = []
    for is_audio, packets in enumerate((videos, audios)):
        if packets:  # the packets of one list share their time base
            time_base = packets[0].time_base
            num, den, offset = time_base.numerator, time_base.denominator, round(OFFSET_S / time_base)
            timed += [(p.dts * num / den, is_audio, p, offset) for p in packets]
    timed.sort(key=lambda entry: entry[:2])
    return [(packet, offset) for _, _, packet, offset in timed]


def make_segment(
    path: Input, span: SegmentSpan, chunks: AudioChunks | None = None, *, deadline: float = math.inf,
    stop: threading.Event | None = None, opener: Opener = open_input, encoding: VideoEncoding | None = None,
    encoded: EncodedVideos | None = None,
) -> bytes:
    """``{n}.m4s``: the ``moof``/``mdat`` fragments of segment ``span``, without the init.

    Audio that is not copied comes from ``chunks``; without it, such audio is left out.
    Raises ``SegmentTimeout`` once ``time.monotonic()`` passes ``deadline``, ``SegmentAbandoned``
    once ``stop`` is set; both are checked between packets. The source is opened by ``opener``.
    Video browsers cannot decode comes from ``encoded`` (H.264 in ``encoding``).
    """
    _check(deadline, stop)
    try:
        pair = _open_pair(path, transcode=chunks is not None, opener=opener, encoding=encoding if encoded else None)
        with pair as (source, streams, output, mapping, written):
            videos, audios = _collect(source, streams, span, deadline, stop)
            if streams.encoded:
                assert encoded is not None
                videos = encoded(span).as_packets(streams.video)
                _check(deadline, stop)
            if streams.transcoded:
                audios = _transcoded(streams, span, chunks)
                _check(deadline, stop)
            _fill_dts(videos)
            for packet in audios:
                if packet.dts is None:
                    packet.dts = packet.pts
            for packet, offset in _mux_order(videos, audios):
                _check(deadline, stop)
                packet.pts += offset
                packet.dts += offset
                packet.stream = mapping[packet.stream]
                output.mux(packet)
    except av.FFmpegError as exc:
        raise SegmentError(f"cannot cut segment {span.number}: {exc}") from exc
    return written.fragments()
