"""H.264 for the HLS of videos browsers cannot decode (MPEG-4 Part 2, MPEG-2, VC-1...), one segment at a time.

Rule: a segment's bytes depend only on the source and the ``VideoEncoding``. Every encoder
parameter is fixed (libx264 with one thread, no B-frames, bitexact, global headers), and the
encoder is always opened the same way (``add_encoder_stream`` on an fMP4 output), so the ``avcC``
of ``init.mp4`` describes every segment, whichever process or replica encoded it. A segment is
the frames presented from its keyframe to the next segment's, decoded from that keyframe and fed
to a fresh encoder: it starts with an IDR frame, decode time equals presentation time, and the
source's timestamps are kept, so segments join as the copied ones do. ``write_encoded`` is the
job a worker process runs. Every container is closed before a function returns. All functions block.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from streamer.media.hlsaudio import Input, open_input
from streamer.media.jobs import store
from streamer.media.hlspackets import EPS_S, SEEK_MARGIN_S
from streamer.media.hlsplan import SegmentSpan
from streamer.media.playback import PLAYABLE_VIDEO
from streamer.sources.s3reader import S3Object, readable

ENCODER = "libx264"
PIXEL_FORMAT = "yuv420p"
DECODER_THREADS = 1  # one job is one core: the limit of --transcode-jobs counts cores
FORMAT_VERSION = 1  # bump when the bytes of an encoded segment would change: older cache files are ignored
_HEAD = struct.Struct(">4sIIqqI")  # magic, width, height, time base, packet count
_PACKET = struct.Struct(">qIBI")  # pts (= dts), duration, keyframe, size
MAGIC = b"H264"


class EncodeError(ValueError):
    """The video cannot be decoded where the plan says: no frames, a damaged stream, a seek that misses."""


class NotConverted(EncodeError):
    """Browsers cannot decode the video, and no ``VideoEncoding`` was given to convert it."""

    def __init__(self, codec: str) -> None:
        super().__init__(f"browsers cannot decode its {codec} video, and this server converts none")
        self.codec = codec


@dataclass(frozen=True)
class VideoEncoding:
    """What a transcoded video becomes: H.264 fitted into ``max_width`` x ``max_height``, never upscaled."""

    preset: str = "veryfast"
    crf: int = 23
    max_width: int = 1280
    max_height: int = 720
    threads: int = 1  # fixed, never the machine's core count: x264's output depends on it

    def options(self) -> dict[str, str]:
        # No B-frames: each segment's encoder starts afresh, and decode times equal to presentation
        # times let segment n+1 begin exactly where segment n ends (tfdt), as the source does.
        params = f"threads={self.threads}:lookahead-threads=1:sliced-threads=0:bframes=0"
        return {"preset": self.preset, "crf": str(self.crf), "x264-params": params}

    def key(self) -> list[str | int]:
        """What names these settings in a cache key and an ETag."""
        return [FORMAT_VERSION, ENCODER, self.preset, self.crf, self.max_width, self.max_height, self.threads, av.__version__]


def needs_encoding(codec: str) -> bool:
    """Whether browsers cannot decode video in ``codec`` (the catalog's ``transcode`` verdict says the same)."""
    return codec not in PLAYABLE_VIDEO


def is_encoded(stream: Any, encoding: VideoEncoding | None) -> bool:
    """Whether the video ``stream`` is converted (with ``encoding``) rather than copied; ``NotConverted`` if it
    must be and there is no ``encoding``."""
    codec = stream.codec_context.codec.canonical_name  # "av1", where the decoder's name is "libdav1d"
    if not needs_encoding(codec):
        return False
    if encoding is None:
        raise NotConverted(codec)
    return True


def check_video(path: Input, opener: Callable[[Input], AbstractContextManager[Any]] = open_input) -> None:
    """Raises ``NotConverted`` if browsers cannot decode the file's video (there being no encoding to convert it)."""
    try:
        with opener(path) as source:
            is_encoded(first_video(source), None)
    except av.FFmpegError as exc:
        raise EncodeError(f"cannot read the file: {exc}") from exc


def fit(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The size ``width`` x ``height`` scaled to fit the box, never up, both even (4:2:0 needs it: rounded down), at least 2."""
    scale = min(Fraction(1), Fraction(max_width, width), Fraction(max_height, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def first_video(container: Any) -> Any:
    """The video stream HLS is made of: the first that is not a cover image."""
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        raise EncodeError("no video stream")
    return videos[0]


def frame_rate(stream: Any) -> Fraction:
    return Fraction(stream.average_rate or stream.guessed_rate or 25)


def add_encoder_stream(output: Any, source: Any, encoding: VideoEncoding) -> Any:
    """An H.264 stream on ``output`` for the video stream ``source``: the encoder is opened with the output."""
    context = source.codec_context
    width, height = fit(context.width, context.height, encoding.max_width, encoding.max_height)
    stream = output.add_stream(ENCODER, rate=frame_rate(source), width=width, height=height, time_base=source.time_base)
    stream.codec_context.pix_fmt = PIXEL_FORMAT
    stream.codec_context.flags |= av.codec.context.Flags.bitexact
    if context.sample_aspect_ratio:  # anamorphic DVDs stay as wide as they were
        stream.codec_context.sample_aspect_ratio = context.sample_aspect_ratio
    stream.options = encoding.options()
    return stream


@dataclass(frozen=True)
class EncodedVideo:
    """One segment's H.264 packets ``(pts, duration, keyframe, data)`` in ``time_base``; decode time is ``pts``."""

    width: int
    height: int
    time_base: Fraction
    packets: tuple[tuple[int, int, bool, bytes], ...]

    def to_bytes(self) -> bytes:
        tb = self.time_base
        parts = [_HEAD.pack(MAGIC, self.width, self.height, tb.numerator, tb.denominator, len(self.packets))]
        parts += [_PACKET.pack(pts, duration, key, len(data)) + data for pts, duration, key, data in self.packets]
        return b"".join(parts)

    def as_packets(self, stream: Any) -> list[Any]:
        """The packets, as packets of the source's video ``stream`` (to be muxed into its output stream)."""
        packets = []
        for pts, duration, key, data in self.packets:
            packet = av.Packet(data)
            packet.pts = packet.dts = pts
            packet.duration = duration
            packet.is_keyframe = key
            packet.time_base = self.time_base
            packet.stream = stream
            packets.append(packet)
        return packets

    @classmethod
    def from_bytes(cls, data: bytes) -> EncodedVideo:
        magic, width, height, num, den, count = _HEAD.unpack_from(data)
        if magic != MAGIC:
            raise EncodeError("not an encoded segment")
        at, packets = _HEAD.size, []
        for _ in range(count):
            pts, duration, key, size = _PACKET.unpack_from(data, at)
            at += _PACKET.size
            packets.append((pts, duration, bool(key), data[at : at + size]))
            at += size
        return cls(width, height, Fraction(num, den), tuple(packets))


def _seconds(stream: Any) -> Any:
    num, den = stream.time_base.numerator, stream.time_base.denominator
    return lambda pts: pts * num / den


def _decoded(source: Any, video: Any, span: SegmentSpan) -> Iterator[Any]:
    """The frames presented from the segment's keyframe on, decoded from it (or from earlier).

    The first segment is decoded from the start of the freshly opened file: no seek can miss it.
    """
    seconds = _seconds(video)
    for margin in (0.0, SEEK_MARGIN_S) if span.number else (None,):
        if margin is not None:
            target = round(Fraction(span.start - margin) / video.time_base)
            source.seek(max(target, video.start_time or 0), stream=video, backward=True)
        frames = (frame for frame in source.decode(video) if frame.pts is not None)
        first = next(frames, None)
        if first is None:
            return
        if seconds(first.pts) <= span.start + EPS_S:
            yield first
            yield from frames
            return
    raise EncodeError(f"cannot decode from the keyframe at {span.start:.3f} s")


def _frames(source: Any, video: Any, span: SegmentSpan) -> Iterator[tuple[Any, int | None]]:
    """``(frame, end)``: the segment's frames in presentation order, ``end`` (the next one's pts) with the last."""
    seconds = _seconds(video)
    lo = span.start - EPS_S if span.number else float("-inf")
    hi = span.stop - EPS_S if span.stop is not None else float("inf")
    held = None
    for frame in _decoded(source, video, span):
        time = seconds(frame.pts)
        if time < lo or (held is not None and frame.pts <= held.pts):
            continue  # before the segment (open-GOP leading frames), or a repeated timestamp
        if time >= hi:
            break
        if held is not None:
            yield held, frame.pts
        held = frame
    else:
        if held is not None:
            step = held.duration or round(1 / (frame_rate(video) * video.time_base))
            yield held, held.pts + max(1, step)
        return
    if held is not None:
        yield held, frame.pts


@contextmanager
def _encoder(video: Any, encoding: VideoEncoding) -> Iterator[Any]:
    """The encoder, opened exactly as ``init.mp4``'s is: on an fMP4 output, whose bytes are dropped."""
    with av.open(_Discard(), "w", format="mp4", options={"movflags": "empty_moov+frag_keyframe+skip_trailer"}) as output:
        stream = add_encoder_stream(output, video, encoding)
        output.start_encoding()
        yield stream


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def encode_segment(path: Input, span: SegmentSpan, encoding: VideoEncoding) -> EncodedVideo:
    """Segment ``span`` of the file at ``path`` (or in that reader) as H.264 packets."""
    try:
        with open_input(path) as source:
            video = first_video(source)
            video.codec_context.thread_count = DECODER_THREADS
            with _encoder(video, encoding) as stream:
                context = stream.codec_context
                ends: dict[int, int] = {}
                packets = []
                for frame, end in _frames(source, video, span):
                    ends[frame.pts] = end
                    picture = frame.reformat(width=context.width, height=context.height, format=PIXEL_FORMAT)
                    picture.pts = frame.pts
                    picture.pict_type = av.video.frame.PictureType.NONE  # the encoder decides (the first is IDR)
                    packets += stream.encode(picture)
                packets += stream.encode(None)
                if not packets:
                    raise EncodeError(f"no picture in segment {span.number}")
                found = tuple((p.pts, ends[p.pts] - p.pts, p.is_keyframe, bytes(p)) for p in packets)
                return EncodedVideo(context.width, context.height, Fraction(video.time_base), found)
    except av.FFmpegError as exc:
        raise EncodeError(f"cannot convert segment {span.number}: {exc}") from exc


def write_encoded(source: str | S3Object, span: SegmentSpan, encoding: VideoEncoding, target: str) -> None:
    """The worker's job: encode a segment (of a file, or of an object through ranged GETs), stored at ``target`` whole or not at all."""
    with readable(source) as opened:
        store(target, encode_segment(opened, span, encoding).to_bytes())
