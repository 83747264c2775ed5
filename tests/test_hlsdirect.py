"""streamer.media.hlsdirect: a Matroska, MP4 or MOV file's segments cut from its own index hold, sample for sample,
what PyAV's muxer puts in them (same bytes, same decode and presentation times); what it cannot cut is ``None``,
never wrong."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from streamer.media.bmff import child_boxes, iter_boxes
from streamer.media.hlsdirect import Cut, cut_segment, plan_cut
from streamer.media.hlsinputs import InputPool
from streamer.media.hlsmux import OFFSET_S, make_init, make_segment
from streamer.media.hlspackets import SegmentAbandoned, SegmentTimeout
from streamer.media.hlsplan import SegmentSpan, plan_segments
from streamer.media.keyframes import read_keyframes
from tests.conftest import require_program
from tests.hlsclips import make_clips

Sample = tuple[int, int, bytes]  # decode time, presentation time, bytes


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_clips(tmp_path_factory.mktemp("hls-clips"))


@pytest.fixture
def inputs() -> Iterator[InputPool]:
    pool = InputPool()
    yield pool
    pool.close()


def read_fragments(data: bytes, ends: dict[int, int] | None = None) -> dict[int, list[Sample]]:
    """Every sample of every moof in ``data``, by track id: tfhd defaults, tfdt, and trun fields as flagged; and
    where each track ends (its last sample's decode time plus duration) into ``ends``."""
    tracks: dict[int, list[Sample]] = {}
    ends = {} if ends is None else ends
    for moof in (box for box in iter_boxes(data) if box is not None and box.type == b"moof"):
        for traf in child_boxes(data, moof)[b"traf"]:  # type: ignore[index]
            boxes = child_boxes(data, traf)
            assert boxes is not None
            tfhd, trun = boxes[b"tfhd"][0], boxes[b"trun"][0]
            flags, track = struct.unpack_from(">II", data, tfhd.payload)
            at = tfhd.payload + 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
            default_duration = struct.unpack_from(">I", data, at)[0] if flags & 0x8 else 0
            at += 4 if flags & 0x8 else 0
            default_size = struct.unpack_from(">I", data, at)[0] if flags & 0x10 else 0
            tfdt = boxes[b"tfdt"][0]
            decode = struct.unpack_from(">Q" if data[tfdt.payload] else ">I", data, tfdt.payload + 4)[0]
            word, count = struct.unpack_from(">II", data, trun.payload)
            at = trun.payload + 8
            offset = struct.unpack_from(">i", data, at)[0] if word & 0x1 else 0
            at += (4 if word & 0x1 else 0) + (4 if word & 0x4 else 0)
            position = moof.start + offset
            for _ in range(count):
                fields = {}
                for bit, name in ((0x100, "duration"), (0x200, "size"), (0x400, "flags"), (0x800, "cto")):
                    if word & bit:
                        fields[name] = struct.unpack_from(">i" if name == "cto" and word >> 24 else ">I", data, at)[0]
                        at += 4
                duration, size, cto = fields.get("duration", default_duration), fields.get("size", default_size), fields.get("cto", 0)
                tracks.setdefault(track, []).append((decode, decode + cto, data[position : position + size]))
                position += size
                decode += duration
            ends[track] = decode
    return tracks


def plan_of(path: Path) -> tuple[SegmentSpan, ...]:
    index = read_keyframes(path)
    assert index is not None
    plan = plan_segments(index.times, index.duration, start=index.start)
    assert plan is not None
    return plan


@pytest.mark.parametrize(
    "name", ["bframes.mkv", "longgop.mkv", "audiofirst.mkv", "hevc.mkv", "vp9.mkv", "av1.mkv", "bframes.mp4", "longgop.mp4",
             "audiofirst.mp4", "bframes.mov"],
)
def test_each_segment_holds_what_pyav_muxes_sample_for_sample(clips: dict[str, Path], inputs: InputPool, name: str) -> None:
    path = clips[name]
    opener = partial(inputs.checkout, (str(path),))
    cut = plan_cut(str(path), opener=opener, transcode=False)
    assert cut is not None, "an FFmpeg-made Matroska file with Cues, or an MP4 or MOV file, is cut directly"
    plan = plan_of(path)
    for span in plan:
        our_ends: dict[int, int] = {}
        their_ends: dict[int, int] = {}
        ours = read_fragments(cut_segment(str(path), cut, span) or b"", our_ends)
        theirs = read_fragments(make_segment(str(path), span, opener=opener), their_ends)
        assert ours.keys() == theirs.keys(), f"segment {span.number}: the same tracks"
        assert our_ends == their_ends, f"segment {span.number}: each track ends where PyAV's does (the last duration)"
        video = cut.video_out.track_id
        assert ours[video] == theirs[video], f"segment {span.number}: the same video samples at the same times"
        assert ours[video][0][2] and len(ours[video]) == len(theirs[video])
        for track in ours.keys() - {video}:
            if span.number == 0:  # FFmpeg's seek drops the sound before the first keyframe; the cut keeps it
                assert ours[track][-len(theirs[track]) :] == theirs[track], f"segment 0, track {track}"
            else:
                assert ours[track] == theirs[track], f"segment {span.number}, track {track}: the same sound"


@pytest.fixture(scope="module")
def merged(clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The Matroska clips remuxed by mkvmerge, as most MKV files of a real library are made: its Clusters do not
    start at keyframes and its AAC and Opus come laced, eight frames a block (EBML lacing)."""
    require_program("mkvmerge", "mkvtoolnix")
    folder = tmp_path_factory.mktemp("mkvmerge")
    made = {}
    for name in ("bframes.mkv", "longgop.mkv", "audiofirst.mkv", "vp9.mkv"):
        made[name] = folder / name
        subprocess.run(["mkvmerge", "-q", "-o", str(made[name]), str(clips[name])], check=True, timeout=60)
    return made


def source_packets(path: Path) -> dict[str, list[tuple[float, bytes]]]:
    """Every packet of the first video and audio stream, read from the start without a seek: (time in s, bytes)."""
    import av

    found: dict[str, list[tuple[float, bytes]]] = {"video": [], "audio": []}
    with av.open(str(path)) as container:
        streams = [container.streams.video[0], *container.streams.audio[:1]]
        for packet in container.demux(*streams):
            if packet.pts is not None and packet.size:
                found[packet.stream.type].append((float(packet.pts * packet.time_base), bytes(packet)))
    return found


@pytest.mark.parametrize(
    ("made_by", "name"),
    [*(("ffmpeg", name) for name in ("bframes.mkv", "longgop.mkv", "audiofirst.mkv", "vp9.mkv", "bframes.mp4", "audiofirst.mp4", "bframes.mov")),
     *(("mkvmerge", name) for name in ("bframes.mkv", "longgop.mkv", "audiofirst.mkv"))],
)
def test_every_packet_of_the_source_is_in_one_segment_at_its_time(
    clips: dict[str, Path], merged: dict[str, Path], inputs: InputPool, name: str, made_by: str
) -> None:
    """Laced sound included: the segments' samples, in order, are the source's packets, each once, at its time."""
    path = merged[name] if made_by == "mkvmerge" else clips[name]
    cut = plan_cut(str(path), opener=partial(inputs.checkout, (str(path),)), transcode=False)
    assert cut is not None and cut.audio_out is not None
    tracks: dict[int, list[Sample]] = {}
    for span in plan_of(path):
        made = cut_segment(str(path), cut, span)
        assert made is not None, f"segment {span.number} is cut"
        for track, samples in read_fragments(made).items():
            tracks.setdefault(track, []).extend(samples)
    source = source_packets(path)
    for kind, out in (("video", cut.video_out), ("audio", cut.audio_out)):
        ours = [(round(pts / out.timescale - OFFSET_S, 3), data) for _, pts, data in tracks[out.track_id]]
        theirs = [(round(time, 3), data) for time, data in source[kind]]
        if kind == "video":
            ours, theirs = sorted(ours), sorted(theirs)  # presentation order
        assert len(ours) == len(theirs) and ours == theirs, f"{kind}: every packet once, at its time"


def test_laced_sound_without_a_duration_is_left_to_pyav(merged: dict[str, Path], inputs: InputPool) -> None:
    """mkvmerge laces Opus eight frames a block with neither a DefaultDuration nor a BlockDuration: FFmpeg times
    the frames after the first from their own headers; the cut does not, and gives every such segment up."""
    path = merged["vp9.mkv"]
    cut = plan_cut(str(path), opener=partial(inputs.checkout, (str(path),)), transcode=False)
    assert cut is not None
    assert [cut_segment(str(path), cut, span) for span in plan_of(path)] == [None] * len(plan_of(path))


def test_converted_sound_is_left_out_or_taken_from_the_chunks_as_pyav_does(clips: dict[str, Path], inputs: InputPool) -> None:
    """AC-3: without converted chunks the segment has the picture alone, as PyAV's has (and its init says)."""
    path = clips["ac3.mkv"]
    opener = partial(inputs.checkout, (str(path),))
    cut = plan_cut(str(path), opener=opener, transcode=False)
    assert cut is not None and cut.audio_out is None and cut.converted is None
    span = plan_of(path)[1]
    assert read_fragments(cut_segment(str(path), cut, span) or b"") == read_fragments(make_segment(str(path), span, opener=opener))
    with_sound = plan_cut(str(path), opener=opener, transcode=True)
    assert with_sound is not None and with_sound.converted is not None and with_sound.audio_out is not None


def test_what_has_no_index_to_cut_by_is_not_cut(clips: dict[str, Path], inputs: InputPool, tmp_path: Path) -> None:
    """A Matroska file without Cues, a fragmented MP4 (its moov lists no samples), an MPEG-TS: PyAV muxes them."""
    made = {"piped.mkv": ["-f", "matroska", "-"], "fragmented.mp4": ["-f", "mp4", "-movflags", "frag_keyframe+empty_moov", "-"],
            "recording.ts": ["-f", "mpegts", "-"]}  # written to a pipe, FFmpeg cannot go back to write an index
    for name, arguments in made.items():
        with (tmp_path / name).open("wb") as out:
            subprocess.run(["ffmpeg", "-v", "error", "-i", str(clips["bframes.mkv"]), "-c", "copy", *arguments],
                           stdout=out, check=True, timeout=60)
        path = tmp_path / name
        assert plan_cut(str(path), opener=partial(inputs.checkout, (str(path),)), transcode=False) is None, name


def lying(**changes: Callable[[Any], object]) -> Callable[[Cut], Cut]:
    """The cut with its layout's fields changed by ``changes`` (field → the layout → the new value)."""
    return lambda cut: dataclasses.replace(
        cut, layout=dataclasses.replace(cut.layout, **{field: change(cut.layout) for field, change in changes.items()})
    )


@pytest.mark.parametrize(
    ("name", "lie"),
    [
        pytest.param("bframes.mkv", lying(cue_positions=lambda l: (*l.cue_positions[1:], l.end)), id="cue-names-a-later-cluster"),
        pytest.param("bframes.mkv", lying(cue_positions=lambda l: tuple(p + 7 for p in l.cue_positions)), id="cue-points-inside-a-cluster"),
        pytest.param("bframes.mkv", lying(cue_times=lambda l: tuple(t + 0.5 for t in l.cue_times)), id="no-cue-at-the-segments-keyframe"),
        pytest.param("bframes.mkv", lying(end=lambda l: l.cue_positions[1] + 100), id="matroska-file-shorter-than-said"),
        pytest.param("bframes.mp4", lying(keyframe_times=lambda l: tuple(t + 0.5 for t in l.keyframe_times)), id="no-keyframe-at-the-segments-start"),
        pytest.param("bframes.mp4", lying(keyframe_samples=lambda l: tuple(i + 1 for i in l.keyframe_samples)), id="keyframe-sample-is-not-one"),
        pytest.param("bframes.mp4", lying(size=lambda l: min(l.video.pos[len(l.video.pos) // 2], l.size)), id="mp4-file-shorter-than-said"),
    ],
)
def test_an_index_that_lies_gives_none_never_other_bytes(clips: dict[str, Path], inputs: InputPool, name: str, lie: Callable[[Cut], Cut]) -> None:
    path = clips[name]
    cut = plan_cut(str(path), opener=partial(inputs.checkout, (str(path),)), transcode=False)
    assert cut is not None
    span = plan_of(path)[1]
    assert cut_segment(str(path), cut, span) is not None
    assert cut_segment(str(path), lie(cut), span) is None


def test_a_deadline_passed_or_a_client_gone_stops_it(clips: dict[str, Path], inputs: InputPool) -> None:
    path = clips["bframes.mkv"]
    cut = plan_cut(str(path), opener=partial(inputs.checkout, (str(path),)), transcode=False)
    assert isinstance(cut, Cut)
    span = plan_of(path)[1]
    with pytest.raises(SegmentTimeout):
        cut_segment(str(path), cut, span, deadline=time.monotonic() - 1)
    gone = threading.Event()
    gone.set()
    with pytest.raises(SegmentAbandoned):
        cut_segment(str(path), cut, span, stop=gone)


def test_the_init_pyav_makes_names_the_tracks_the_cut_writes(clips: dict[str, Path], inputs: InputPool) -> None:
    path = clips["bframes.mkv"]
    opener = partial(inputs.checkout, (str(path),))
    cut = plan_cut(str(path), opener=opener, transcode=False)
    assert cut is not None and cut.audio_out is not None
    init = make_init(str(path), opener=opener)
    assert b"trex" in init and {cut.video_out.track_id, cut.audio_out.track_id} == {1, 2}
    assert (cut.video_out.timescale, cut.audio_out.timescale) == (16000, 48000)
