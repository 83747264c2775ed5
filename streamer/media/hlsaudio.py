"""Sound browsers cannot decode (AC-3, E-AC-3, DTS, PCM...) as AAC for HLS, transcoded once per chunk and cached.

The track is cut on a fixed grid of ``CHUNK_FRAMES`` AAC frames (1024 samples each, counted from
time 0 of the source). Each chunk is encoded on its own with ``PREROLL_FRAMES`` of the sound before
it, whose packets are dropped: the encoder's state at the cut is what a continuous encode would
have, so consecutive chunks join without a gap or a click, and a seek costs one chunk, not the
whole track. Packets carry their grid position as ``pts`` (in 1/sample rate). ``write_chunk`` is
the job a worker process runs (encoding holds the GIL: in a thread it stalls the event loop);
chunks are files under the cache directory named by the file's identity. Sound with more than
two channels stays surround (5.1 AAC), the rest is stereo. Sources are paths or seekable binary
readers (``open_input``); a worker gets a path or an ``S3Object``. Deterministic (same bytes every
time); every container is closed. All functions block.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, Union

import av

from streamer.media.hlsplan import SegmentSpan
from streamer.media.jobs import store
from streamer.sources.s3reader import S3Object, readable

FRAME = 1024  # samples per AAC frame
CHUNK_FRAMES = 512  # about 11 s at 48 kHz: ~0.5-0.6 s of work at a load average of 11 (bench.hls_audio; README, HLS)
PREROLL_FRAMES = 8  # frames encoded before a chunk and dropped: the encoder settles, the cut is seamless
SEEK_MARGIN_S = 2.0  # the demuxer's seek lands on a packet at or before the target: start earlier still
STEREO = "stereo"
SURROUND = "5.1"  # AAC-LC 5.1: Chromium, Firefox and Safari decode it in MSE and native HLS
BIT_RATES = {STEREO: 160_000, SURROUND: 384_000}
DEADLINE_S = 20.0  # one chunk's encode; the worker is killed after that
FORMAT_VERSION = 2  # bump when the bytes of a chunk would change: older files are ignored
_HEAD = struct.Struct(">4sIIB")  # magic, sample rate, packet count, last chunk
_PACKET = struct.Struct(">qI")  # pts, size
MAGIC = b"AAC1"
AAC_RATES = frozenset({96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000})
FALLBACK_RATE = 48000


Input = Union[str, os.PathLike, BinaryIO]  # what PyAV opens: a path, or a seekable binary reader (a file, an S3Reader)


def open_input(source: Input) -> Any:
    """The container at ``source``, opened for reading; a reader is read from its start."""
    if isinstance(source, (str, os.PathLike)):
        return av.open(os.fspath(source))
    source.seek(0)
    return av.open(source)


class AudioError(ValueError):
    """The sound cannot be transcoded: the file cannot be read or decoded."""


@dataclass(frozen=True)
class AudioChunk:
    """The AAC packets ``(pts, data)`` of one chunk; ``last`` when the track ends in it."""

    sample_rate: int
    packets: tuple[tuple[int, bytes], ...]
    last: bool

    def to_bytes(self) -> bytes:
        parts = [_HEAD.pack(MAGIC, self.sample_rate, len(self.packets), self.last)]
        parts += [_PACKET.pack(pts, len(data)) + data for pts, data in self.packets]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> AudioChunk:
        magic, rate, count, last = _HEAD.unpack_from(data)
        if magic != MAGIC:
            raise AudioError("not an audio chunk")
        at, packets = _HEAD.size, []
        for _ in range(count):
            pts, size = _PACKET.unpack_from(data, at)
            at += _PACKET.size
            packets.append((pts, data[at : at + size]))
            at += size
        return cls(rate, tuple(packets), bool(last))


@dataclass(frozen=True)
class AacFormat:
    """What a source's sound becomes: AAC at ``sample_rate`` in ``layout`` (stereo, or 5.1 for more than two channels)."""

    sample_rate: int
    layout: str

    @classmethod
    def of(cls, stream: Any) -> AacFormat:
        context = stream.codec_context
        return cls(output_rate(context.sample_rate), SURROUND if context.channels > 2 else STEREO)


def chunk_samples() -> int:
    return CHUNK_FRAMES * FRAME


def output_rate(source_rate: int) -> int:
    """The AAC sample rate for a source at ``source_rate``: the same where AAC has it."""
    return source_rate if source_rate in AAC_RATES else FALLBACK_RATE


def packets_between(get: Callable[[int], AudioChunk], first: int, lo: int | None, hi: int | None) -> list[tuple[int, bytes]]:
    """The packets with ``lo <= pts < hi`` (``None``: unbounded), from chunk ``first`` to the one holding ``hi`` or the last."""
    size, number, found = chunk_samples(), first, []
    while True:
        chunk = get(number)
        found += [(pts, data) for pts, data in chunk.packets if (lo is None or lo <= pts) and (hi is None or pts < hi)]
        if chunk.last or (hi is not None and (number + 1) * size >= hi):
            return found
        number += 1


def start_of(stream: Any) -> float:
    """When ``stream`` starts, in seconds: 0 if it does not say."""
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def segment_aac(get: Callable[[int], AudioChunk], rate: int, start: float, span: SegmentSpan) -> list[tuple[int, bytes]]:
    """The AAC packets (pts in ``1/rate``) presented from ``span``'s start to the next segment's, of a sound
    that starts at ``start`` s; segment 0 from the first, with the encoder's priming."""
    first = math.floor(start * rate) // chunk_samples() - 1  # the chunk before the sound holds its priming
    lo = round(span.start * rate) if span.number else None
    if lo is not None:
        first = max(first, lo // chunk_samples())
    hi = round(span.stop * rate) if span.stop is not None else None
    return packets_between(get, first, lo, hi)


def _encoder(aac: AacFormat) -> Any:
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate = aac.sample_rate
    encoder.layout = aac.layout
    encoder.format = "fltp"
    encoder.bit_rate = BIT_RATES[aac.layout]
    encoder.time_base = Fraction(1, aac.sample_rate)
    encoder.flags |= av.codec.context.Flags.bitexact
    encoder.open()
    return encoder


def aac_config(aac: AacFormat) -> bytes:
    """The AudioSpecificConfig every chunk of a track in ``aac`` is encoded with (for ``init.mp4``)."""
    return bytes(_encoder(aac).extradata)


def _silence(samples: int, aac: AacFormat) -> Any:
    frame = av.AudioFrame(format="fltp", layout=aac.layout, samples=samples)
    frame.sample_rate = aac.sample_rate
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    return frame


def _seek_decode(source: Any, stream: Any, timestamp: int) -> Iterator[Any]:
    source.seek(timestamp, stream=stream, backward=True)
    return itertools.dropwhile(lambda frame: frame.pts is None, source.decode(stream))


def _decoded(source: Any, stream: Any, start: int) -> Iterator[tuple[int, Any]]:
    """``(position, frame)``: the stream's sound as fltp in its ``AacFormat`` from at or before ``start`` (samples) on.

    The position of the first frame comes from its timestamp; later ones follow sample by sample,
    so rounded container timestamps (Matroska's milliseconds) add no jitter. If the container's
    index lands the seek after ``start``, the stream is decoded from its beginning instead.
    """
    aac = AacFormat.of(stream)
    rate = aac.sample_rate
    begin = min(0, stream.start_time or 0)
    target = max(begin, round((start / rate - SEEK_MARGIN_S) / stream.time_base))
    frames = _seek_decode(source, stream, target)
    first = next(frames, None)
    if first is not None and target > begin and round(first.pts * first.time_base * rate) > start:
        frames = _seek_decode(source, stream, begin)
        first = next(frames, None)
    if first is None:
        return
    resampler = av.AudioResampler(format="fltp", layout=aac.layout, rate=rate)
    position = round(first.pts * first.time_base * rate)
    for frame in itertools.chain([first], frames):
        for out in resampler.resample(frame):
            yield position, out
            position += out.samples
    for out in resampler.resample(None):
        yield position, out
        position += out.samples


def _encode(stream: Any, frames: Iterator[tuple[int, Any]], start: int, stop: int) -> tuple[list[tuple[int, bytes]], bool]:
    """Encode the sound from ``start`` on (grid-aligned) and keep the packets in ``[start + preroll, stop)``."""
    aac = AacFormat.of(stream)
    encoder = _encoder(aac)
    fifo = av.AudioFifo()
    head: int | None = None  # grid position of the fifo's first sample
    keep_from = start + PREROLL_FRAMES * FRAME
    kept: list[tuple[int, bytes]] = []

    def feed(frame: Any, pts: int | None) -> bool:
        if frame is not None:
            frame.pts = pts
        for packet in encoder.encode(frame):
            if packet.pts >= stop:
                return True
            if packet.pts >= keep_from:
                kept.append((int(packet.pts), bytes(packet)))
        return False

    for position, frame in frames:
        if head is None:
            head = max(start, position - (position - start) % FRAME)  # a grid point: pad up to the sound
            if position > head:
                fifo.write(_silence(position - head, aac))
        frame.pts = None
        skip = min(max(0, head - position), frame.samples)  # sound before the chunk's start
        fifo.write(frame)
        if skip:
            fifo.read(skip)
        while fifo.samples >= FRAME:
            if feed(fifo.read(FRAME), head):
                return kept, False
            head += FRAME
    if head is not None and fifo.samples and feed(fifo.read(fifo.samples), head):
        return kept, False
    feed(None, None)
    return kept, True


def transcode_chunk(path: Input, stream_index: int, number: int) -> AudioChunk:
    """Chunk ``number`` of audio stream ``stream_index`` of the file at ``path`` (or in that reader), as AAC."""
    size = chunk_samples()
    start, stop = number * size - PREROLL_FRAMES * FRAME, (number + 1) * size
    try:
        with open_input(path) as source:
            stream = source.streams[stream_index]
            packets, last = _encode(stream, _decoded(source, stream, start), start, stop)
            return AudioChunk(AacFormat.of(stream).sample_rate, tuple(packets), last)
    except av.FFmpegError as exc:
        raise AudioError(f"cannot transcode the sound: {exc}") from exc


def chunk_name(path: str, st: os.stat_result, stream_index: int, number: int) -> str:
    """The cache file name of a chunk of ``path`` as it is in ``st``: its path, size and mtime, hashed."""
    return chunk_name_of([path, st.st_size, st.st_mtime_ns], stream_index, number)


def chunk_name_of(version: list[str | int], stream_index: int, number: int) -> str:
    """The cache file name of a chunk of the version ``version`` names (a path, size and mtime; a key, size and ETag)."""
    identity = json.dumps([FORMAT_VERSION, CHUNK_FRAMES, BIT_RATES, *version, stream_index, number])
    return hashlib.sha256(identity.encode()).hexdigest() + ".aacchunk"


def write_chunk(path: str | S3Object, stream_index: int, number: int, target: str) -> None:
    """The worker's job: transcode a chunk (of a file, or of an object read through ranged GETs) and store it
    at ``target`` (whole or not at all)."""
    with readable(path) as source:
        store(target, transcode_chunk(source, stream_index, number).to_bytes())


def read_chunk(target: str | os.PathLike[str]) -> AudioChunk:
    return AudioChunk.from_bytes(Path(target).read_bytes())
