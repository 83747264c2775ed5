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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from streamer.media.hlsaudio import AacFormat, AudioChunk, Input, aac_config, open_input, output_rate, segment_aac, start_of
from streamer.media.hlsencode import EncodedVideo, VideoEncoding, add_encoder_stream, is_encoded
from streamer.media.hlspackets import SegmentError, adts_config, check, collect, fill_dts, unwrapped
from streamer.media.hlsplan import SegmentSpan

AudioChunks = Callable[[int, int], AudioChunk]
EncodedVideos = Callable[[SegmentSpan], EncodedVideo]  # a segment → its picture as H.264, encoded or cached  # (audio stream index, chunk number) → the chunk, transcoded or cached
# the source → its container as a context manager: open_input, or a checkout of streamer.media.hlsinputs
Opener = Callable[[Input], AbstractContextManager[Any]]

OFFSET_S = 10  # seconds added to every timestamp: B-frame and audio-priming decode times stay positive
SEEK_MARGIN_S = 10.0  # a seek that landed after the keyframe is made again this much earlier
# Browsers decode these in fMP4. Not MP3: copied into fMP4 it did not play through hls.js in Chromium
# (tests/browser/test_hls_page.py), so it is converted to AAC like AC-3. (It always was, by accident:
# FFmpeg's MP3 decoder is named "mp3float".)
COPIED_AUDIO = frozenset({"aac", "opus", "flac"})
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


@dataclass
class Streams:
    video: Any
    audio: Any | None
    transcoded: bool  # the audio is not copied but comes as AAC from its chunks
    encoded: bool = False  # the video is not copied but comes as H.264 from streamer.media.hlsencode
    adts: bool = False  # the copied audio is AAC in ADTS frames: each packet loses its header


def select_streams(container: Any) -> Streams:
    """The first video stream (not a cover picture), and the audio copied (the first browsers decode) or converted."""
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        raise SegmentError("no video stream")
    audios = [s for s in container.streams.audio if s.codec_context.sample_rate]
    copied = next((s for s in audios if s.codec_context.name in COPIED_AUDIO), None)
    if copied is not None or not audios:
        return Streams(videos[0], copied, False)
    return Streams(videos[0], audios[0], True)


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
) -> Iterator[tuple[Any, Streams, Any, dict[Any, Any], _Written]]:
    """The source, its selected streams, an fMP4 output in memory and the stream map: all closed (or given back) after.

    Video browsers cannot decode gets an H.264 encoder stream with ``encoding``; without it, ``NotConverted``.
    """
    written = _Written()
    output_options = {"format": "mp4", "options": MUX_OPTIONS, "buffer_size": OUTPUT_BUFFER}
    with opener(path) as source, av.open(written, "w", **output_options) as output:
        streams = select_streams(source)
        if streams.transcoded and not transcode:
            streams = Streams(streams.video, None, False)
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
                if stream is streams.audio and stream.codec_context.name == "aac" and not stream.codec_context.extradata:
                    out.codec_context.extradata = adts_config(source, stream)  # AAC in ADTS frames (MPEG-TS)
                    streams.adts = True
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


def _transcoded(streams: Streams, span: SegmentSpan, chunks: AudioChunks) -> list[Any]:
    """The AAC packets presented from the segment's start to the next one's, as packets of the source's audio."""
    stream = streams.audio
    rate = output_rate(stream.codec_context.sample_rate)
    packets = []
    for pts, data in segment_aac(lambda number: chunks(stream.index, number), rate, start_of(stream), span):
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
    check(deadline, stop)
    try:
        pair = _open_pair(path, transcode=chunks is not None, opener=opener, encoding=encoding if encoded else None)
        with pair as (source, streams, output, mapping, written):
            videos, audios = collect(source, streams.video, None if streams.transcoded else streams.audio, span, deadline, stop)
            if streams.encoded:
                assert encoded is not None
                videos = encoded(span).as_packets(streams.video)
                check(deadline, stop)
            if streams.transcoded:
                audios = _transcoded(streams, span, chunks)
                check(deadline, stop)
            if streams.adts:
                audios = [unwrapped(packet) for packet in audios]
            fill_dts(videos)
            for packet in audios:
                if packet.dts is None:
                    packet.dts = packet.pts
            for packet, offset in _mux_order(videos, audios):
                check(deadline, stop)
                packet.pts += offset
                packet.dts += offset
                packet.stream = mapping[packet.stream]
                output.mux(packet)
    except av.FFmpegError as exc:
        raise SegmentError(f"cannot cut segment {span.number}: {exc}") from exc
    return written.fragments()
