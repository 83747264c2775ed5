"""A Matroska file's segments picked through its Cues and its Clusters' blocks (``streamer.media.mkvblocks``).

Rule: the Cues give the Cluster of the segment's keyframe; the Clusters from there to the next
segment's keyframe are read at once, and the start of the one after, for the last sound; the
chosen tracks' blocks are the frames, at their times less the track's CodecDelay, as FFmpeg's
demuxer gives them. A track is chosen only where FFmpeg made a stream of each track of its kind
(which is which is then known: its stream ids are 0) and its codec's blocks are MP4 samples. A
file without Cues, a compressed track, a cue that lies: ``None``. All functions block.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, BinaryIO

import av

from streamer.media import ebml, mkvblocks
from streamer.media.hlspackets import EPS_S, Membership, check
from streamer.media.hlspick import SAME_SAMPLES, Picked, Sample, Window, open_file
from streamer.media.hlsplan import SegmentSpan
from streamer.media.keyframes import read_matroska_head

VIDEO, AUDIO = 1, 2  # TrackType
# Codec IDs whose blocks are the samples MP4 carries, as they are, with FFmpeg's names for them
CODEC_IDS = {"V_MPEG4/ISO/AVC": "h264", "V_MPEGH/ISO/HEVC": "hevc", "V_VP9": "vp9", "V_AV1": "av1",
             "A_AAC": "aac", "A_OPUS": "opus", "A_FLAC": "flac"}
MAX_CLUSTER_BYTES = 256 << 20  # a larger Cluster is left to PyAV
HEADER_BYTES = 16  # an element's ID and size
TAIL_BYTES = 64 << 10  # read of the Cluster after the video's end, where the last sound frames are
SKIPPED_BYTES = 64 << 10  # a larger element other than a Cluster is not read through


def _track(tracks: dict[int, mkvblocks.Track], streams: Any, stream: Any, kind: int) -> mkvblocks.Track | None:
    """The track of ``stream``, the k-th of ``streams`` (PyAV's of one kind): the k-th track of ``kind`` in the
    file, when FFmpeg made a stream of each, if its codec's blocks are MP4 samples and it is the stream's codec."""
    found = [track for track in tracks.values() if track.kind == kind]
    if stream is None or len(found) != len(streams):
        return None
    track = found[list(streams).index(stream)]
    codec = CODEC_IDS.get(track.codec) or CODEC_IDS.get(track.codec.split("/")[0])  # A_AAC/MPEG4/LC...
    same = codec in SAME_SAMPLES and codec == stream.codec_context.codec.canonical_name  # libdav1d: av1
    return track if same and not track.encoded else None


@dataclass(frozen=True)
class MatroskaLayout:
    end: int  # of the Segment, or of the file
    scale_ns: int  # TimestampScale: a tick in ns
    cue_times: tuple[float, ...]  # s, of the video track's cue points
    cue_positions: tuple[int, ...]  # where each cue's Cluster starts, from the file's first byte
    video: mkvblocks.Track
    audio: mkvblocks.Track | None  # the copied sound
    audio_frame: int | None = None  # ticks a sound frame lasts, from its codec (AAC: 1024 samples), where known

    @property
    def video_tick(self) -> Fraction:
        return Fraction(self.scale_ns, 1_000_000_000)

    @property
    def audio_tick(self) -> Fraction:
        return self.video_tick

    def _default(self, track: mkvblocks.Track | None) -> int | None:
        return track.default_duration_ns // self.scale_ns if track and track.default_duration_ns else None  # FFmpeg's

    @property
    def video_default(self) -> int | None:
        return self._default(self.video)

    @property
    def audio_default(self) -> int | None:
        """As FFmpeg times a sound frame that says nothing: the track's DefaultDuration, else its codec's frame."""
        return self._default(self.audio) or self.audio_frame

    def pick(self, file: BinaryIO, span: SegmentSpan, deadline: float, stop: threading.Event | None) -> Picked | None:
        at = bisect.bisect_left(self.cue_times, span.start - EPS_S)
        if at == len(self.cue_times) or abs(self.cue_times[at] - span.start) > EPS_S:
            return None
        chosen = [track for track in (self.video, self.audio) if track is not None]
        wanted = {track.number: track.default_duration_ns or 0 for track in chosen}
        delays = {track.number: (2 * track.codec_delay_ns + self.scale_ns) // (2 * self.scale_ns) for track in chosen}  # rounded
        membership = Membership(span, self.audio is not None)
        frames: dict[int, list[Sample]] = {track.number: [] for track in chosen}
        scale = self.scale_ns / 1e9

        def take(found: list[mkvblocks.Frame]) -> bool:
            """The segment's frames of ``found`` kept; False if the cue's Cluster starts past its keyframe."""
            for frame in found:
                if frame.end == frame.start:
                    continue  # as PyAV's demux is read: an empty packet is none
                pts = frame.time - delays[frame.track]
                if frame.track == self.video.number:
                    kept = membership.video(frame.keyframe, pts * scale)
                    if kept is None:
                        return False
                else:
                    kept = membership.audio(pts * scale)
                if kept:
                    frames[frame.track].append(Sample(pts, None, frame.keyframe, frame.start, frame.end, frame.duration))
            return True

        position = self.cue_positions[at]
        window = Window(file, position, self.end)
        following = bisect.bisect_left(self.cue_times, membership.hi)
        if span.stop is not None and following < len(self.cue_times) and self.cue_positions[following] > position:
            window.have(self.cue_positions[following] + TAIL_BYTES)  # to the next segment's Cluster, and its start
        while position < self.end and not membership.done:
            check(deadline, stop)
            time.sleep(0)  # lets the GIL go: a Cluster's blocks are parsed in Python, holding it (~0.4 ms at 1080p)
            window.have(position + HEADER_BYTES)
            start = position - window.origin
            element = ebml.parse_element_header(window.data, start, 1 << 62)
            if element is None or element.end >= 1 << 62:
                return None
            size = element.end - start
            if element.id != mkvblocks.CLUSTER:
                if size <= SKIPPED_BYTES:
                    position += size  # a Void between Clusters: read through
                    continue
                if position > self.cue_positions[-1]:
                    break  # past the last cued Cluster: the Cues, Tags or Attachments after the Clusters
                return None  # something large among the Clusters: not read through
            if size > MAX_CLUSTER_BYTES:
                return None
            # past the video's end only the sound's last frames are wanted: the Cluster's start, doubled until found
            want, taken = (min(size, TAIL_BYTES) if membership.video_done else size), 0
            while True:
                window.have(position + want)
                parsed = mkvblocks.parse_cluster(window.data, wanted, start, self.scale_ns)
                if parsed is None or not take(parsed[0][taken:]):
                    return None
                taken = len(parsed[0])
                if parsed[1] or membership.done:
                    break
                if want == size:
                    return None  # all of it read, and still cut short: the file ends inside it
                want = min(size, 2 * want)
            position += size
        audio = frames[self.audio.number] if self.audio is not None else []
        return Picked(frames[self.video.number], audio, window.data) if frames[self.video.number] else None


def matroska_layout(source: Any, container: Any, video: Any, audio: Any | None) -> MatroskaLayout | None:
    """The layout of the Matroska file at ``source`` (opened by PyAV as ``container``) for its ``video`` stream
    and copied ``audio`` stream, or ``None`` if its segments are not cut here."""
    with open_file(source) as file:
        head = read_matroska_head(file, file.seek(0, 2))
    info = ebml.parse_info(head.info) if head else None
    tracks = mkvblocks.parse_tracks(head.tracks) if head else None
    if head is None or info is None or tracks is None:
        return None
    scale_ns = info[0]
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    video_track = _track(tracks, videos, video, VIDEO)
    audio_track = _track(tracks, container.streams.audio, audio, AUDIO) if audio is not None else None
    cues = ebml.parse_cue_clusters(head.cues, video_track.number) if video_track else None
    if video_track is None or cues is None or (audio is not None and audio_track is None):
        return None
    times = tuple(time * scale_ns / 1e9 for time, _ in cues)
    frame = audio.codec_context.frame_size if audio is not None else 0
    audio_frame = round(Fraction(frame, audio.codec_context.sample_rate) / Fraction(scale_ns, 10**9)) if frame else None
    positions = tuple(head.segment + at for _, at in cues)
    return MatroskaLayout(head.end, scale_ns, times, positions, video_track, audio_track, audio_frame)
