"""Subtitle streams inside a container (SubRip, ASS, mov_text, WebVTT in MKV/MP4/WebM) as WebVTT.

A job for the worker pool: ``extract_webvtt(source, index, output)`` demuxes the one stream
(the others are discarded by the demuxer), decodes its text with FFmpeg (every text format
comes out as ASS dialogue), and writes a WebVTT document to ``output``. Picture subtitles
(PGS, DVB, DVD) and a wrong stream index raise ``JobError`` with the reason; the container
is always closed.
"""

from __future__ import annotations

from typing import Any

from streamer.media.jobs import JobError
from streamer.media.subtitles import ass_to_cue_text, cues_to_vtt, is_text_subtitle
from streamer.sources.s3reader import S3Object, readable

MAX_CUES = 100_000  # a feature film has about 1,500
OPEN_TIMEOUT_S = 10.0  # per blocking FFmpeg call


def extract_webvtt(source: str | S3Object, index: int, output: str) -> int:
    """Write stream ``index`` of ``source`` (a path, or an object in a store) to ``output`` as WebVTT; the number of
    cues. Runs in a worker process."""
    import av

    with readable(source) as opened:
        try:
            container = av.open(opened, timeout=OPEN_TIMEOUT_S, metadata_errors="ignore")
        except av.FFmpegError as exc:
            raise JobError(422, f"Not a video this server can read: {exc.strerror}") from None
        return _extract(container, index, output)


def _extract(container: Any, index: int, output: str) -> int:
    import av

    with container:
        stream = _subtitle_stream(container, index)
        cues: list[tuple[float, float | None, str]] = []
        try:
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None:
                    cues.extend(_cues(stream, packet))
                if len(cues) > MAX_CUES:
                    raise JobError(422, f"The subtitle stream has more than {MAX_CUES} cues.")
        except av.FFmpegError as exc:
            raise JobError(422, f"The subtitle stream could not be read: {exc.strerror}") from None
    with open(output, "w", encoding="utf-8") as file:
        file.write(cues_to_vtt(cues))
    return len(cues)


def _subtitle_stream(container: Any, index: int) -> Any:
    streams = {s.index: s for s in container.streams.subtitles}
    if index not in streams:
        kinds = "none" if not streams else ", ".join(map(str, sorted(streams)))
        raise JobError(404, f"Stream {index} is not a subtitle stream of this file (its subtitle streams: {kinds}).")
    stream = streams[index]
    codec = stream.codec_context.codec.canonical_name if stream.codec_context else None
    if not is_text_subtitle(codec):
        raise JobError(415, f"Subtitle stream {index} is {codec or 'of an unknown kind'}: pictures, not text, "
                            "which this server does not convert to WebVTT.")
    return stream


def _cues(stream: Any, packet: Any) -> list[tuple[float, float | None, str]]:
    start = float(packet.pts * packet.time_base)
    end = start + float(packet.duration * packet.time_base) if packet.duration else None
    found = []
    for subtitle in stream.decode(packet):
        dialogue = getattr(subtitle, "dialogue", None)
        if dialogue is not None:
            found.append((start, end, ass_to_cue_text(dialogue.decode("utf-8", "replace"))))
    return found
