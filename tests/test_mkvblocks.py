"""streamer.media.mkvblocks: the frames of a Matroska Cluster, its tracks and where each cue's Cluster is."""

from __future__ import annotations

import pytest

from streamer.media import ebml, mkvblocks
from streamer.media.mkvblocks import Frame
from tests.test_ebml import el, uint

V, A = 1, 2  # track numbers
BOTH = {V: 41_666_666, A: 21_333_333}  # wanted tracks and their DefaultDuration (ns)
NO_DEFAULT = {V: 0, A: 0}


def block(track: int, offset: int, flags: int, frame: bytes) -> bytes:
    """A block's body: track number, signed 16-bit time offset, flags, the frame."""
    return bytes([0x80 | track]) + offset.to_bytes(2, "big", signed=True) + bytes([flags]) + frame


def simple(track: int, offset: int, frame: bytes, key: bool = True) -> bytes:
    return el(mkvblocks.SIMPLE_BLOCK, block(track, offset, 0x80 if key else 0, frame))


def group(track: int, offset: int, frame: bytes, *, reference: bool = False, duration: int | None = None) -> bytes:
    children = el(mkvblocks.BLOCK, block(track, offset, 0, frame))
    if duration is not None:
        children += uint(mkvblocks.BLOCK_DURATION, duration, 2)
    if reference:
        children += el(mkvblocks.REFERENCE_BLOCK, b"\xfe")
    return el(mkvblocks.BLOCK_GROUP, children)


def cluster(timestamp: int, *children: bytes) -> bytes:
    return el(mkvblocks.CLUSTER, uint(mkvblocks.CLUSTER_TIMESTAMP, timestamp, 2) + b"".join(children))


def laced(track: int, offset: int, kind: int, count_header: bytes, frames: bytes, key: bool = True) -> bytes:
    return el(mkvblocks.SIMPLE_BLOCK, block(track, offset, (0x80 if key else 0) | kind << 1, count_header + frames))


def frames_of(data: bytes, wanted: dict[int, int] = BOTH) -> list[tuple[int, int, bool, bytes, int | None]] | None:
    parsed = mkvblocks.parse_cluster(data, wanted)
    if parsed is None:
        return None
    frames, whole = parsed
    assert whole
    return [(f.track, f.time, f.keyframe, data[f.start : f.end], f.duration) for f in frames]


@pytest.mark.parametrize(
    ("data", "wanted", "expected"),
    [
        pytest.param(cluster(1000, simple(V, 0, b"key"), simple(V, 42, b"p", key=False)), BOTH,
                     [(V, 1000, True, b"key", None), (V, 1042, False, b"p", None)], id="simple-block-flag-says-keyframe"),
        pytest.param(cluster(1000, simple(V, -5, b"b", key=False)), BOTH, [(V, 995, False, b"b", None)],
                     id="time-offset-is-signed"),
        pytest.param(cluster(0, group(V, 0, b"i"), group(V, 40, b"p", reference=True)), BOTH,
                     [(V, 0, True, b"i", None), (V, 40, False, b"p", None)], id="block-group-keyframe-unless-it-references"),
        pytest.param(cluster(0, group(A, 10, b"s", duration=21)), BOTH, [(A, 10, True, b"s", 21)],
                     id="block-duration-is-kept"),
        pytest.param(cluster(0, simple(V, 0, b"v"), simple(3, 0, b"subtitle"), simple(A, 1, b"a")), BOTH,
                     [(V, 0, True, b"v", None), (A, 1, True, b"a", None)], id="other-tracks-are-passed-over"),
        pytest.param(cluster(0, el(0xEC, b"\x00" * 3), simple(V, 0, b"v")), BOTH, [(V, 0, True, b"v", None)],
                     id="void-and-unknown-children-are-passed-over"),
        pytest.param(cluster(0, simple(V, 0, b"")), BOTH, [(V, 0, True, b"", None)], id="empty-frame-is-a-frame"),
        pytest.param(el(mkvblocks.CLUSTER, simple(V, 0, b"v")), BOTH, None, id="block-before-the-timestamp"),
        pytest.param(cluster(100, laced(A, 0, mkvblocks.XIPH, bytes([2, 3, 2]), b"aaabbc")), BOTH,
                     [(A, 100, True, b"aaa", 21), (A, 121, False, b"bb", 21), (A, 142, False, b"c", 21)],
                     id="xiph-laced-frames-share-the-default-duration-first-at-the-blocks-time"),
        pytest.param(cluster(0, laced(A, 0, mkvblocks.XIPH, bytes([1, 255, 45]), b"x" * 300 + b"y")), BOTH,
                     [(A, 0, True, b"x" * 300, 21), (A, 21, False, b"y", 21)], id="xiph-size-is-a-run-of-255s-and-one-smaller-byte"),
        pytest.param(cluster(0, laced(A, 0, mkvblocks.EBML, bytes([2, 0x83, 0xC1]), b"aaabbbbbcc")), BOTH,
                     [(A, 0, True, b"aaa", 21), (A, 21, False, b"bbbbb", 21), (A, 42, False, b"cc", 21)],
                     id="ebml-laced-sizes-are-signed-differences"),
        pytest.param(cluster(0, laced(A, 0, mkvblocks.EBML, bytes([2, 0x81, 0xFF]), b"a" + b"b" * 65 + b"c")), BOTH,
                     [(A, 0, True, b"a", 21), (A, 21, False, b"b" * 65, 21), (A, 42, False, b"c", 21)],
                     id="ebml-lace-delta-of-all-ones-is-plus-64-not-unknown"),
        pytest.param(cluster(0, laced(A, 0, mkvblocks.FIXED, bytes([2]), b"aabbcc")), BOTH,
                     [(A, 0, True, b"aa", 21), (A, 21, False, b"bb", 21), (A, 42, False, b"cc", 21)], id="fixed-laced-frames-are-equal"),
        pytest.param(cluster(0, el(mkvblocks.BLOCK_GROUP, el(mkvblocks.BLOCK, block(A, 0, mkvblocks.FIXED << 1, bytes([2]) + b"aabbcc"))
                                   + uint(mkvblocks.BLOCK_DURATION, 64, 1))), BOTH,
                     [(A, 0, True, b"aa", 21), (A, 21, False, b"bb", 21), (A, 42, False, b"cc", 22)],
                     id="block-duration-is-shared-before-the-default-remainder-last"),
        pytest.param(cluster(0, laced(A, 0, mkvblocks.FIXED, bytes([2]), b"aabbcc")), NO_DEFAULT, None,
                     id="laced-without-any-duration-is-refused"),
        pytest.param(cluster(0, laced(A, 0, mkvblocks.XIPH, bytes([1, 9]), b"aaa")), BOTH, None,
                     id="lace-sizes-overrunning-the-block-are-refused"),
        pytest.param(cluster(0, laced(A, 0, mkvblocks.FIXED, bytes([2]), b"aabbc")), BOTH, None,
                     id="fixed-lacing-that-does-not-divide-is-refused"),
        pytest.param(cluster(0, el(mkvblocks.SIMPLE_BLOCK, block(3, 0, 0x02, b"\x01\x05aaaaabbbb")), simple(V, 0, b"v")),
                     BOTH, [(V, 0, True, b"v", None)], id="laced-block-of-another-track-is-passed-over"),
        pytest.param(cluster(0, el(mkvblocks.SIMPLE_BLOCK, b"\x81\x00")), BOTH, None, id="block-header-cut-short"),
        pytest.param(cluster(0, el(mkvblocks.BLOCK_GROUP, uint(mkvblocks.BLOCK_DURATION, 1, 1))), BOTH, None,
                     id="block-group-without-a-block"),
        pytest.param(el(ebml.CUES, b""), BOTH, None, id="not-a-cluster"),
        pytest.param(b"\x1f\x43\xb6\x75\xff" + uint(mkvblocks.CLUSTER_TIMESTAMP, 0), BOTH, None, id="unknown-size-cluster"),
    ],
)
def test_parse_cluster(data: bytes, wanted: dict[int, int], expected: list[tuple[int, int, bool, bytes, int | None]] | None) -> None:
    assert frames_of(data, wanted) == expected


def test_a_cluster_cut_short_gives_the_whole_frames_before_the_cut() -> None:
    data = cluster(100, simple(V, 0, b"first"), simple(A, 5, b"second"), simple(V, 40, b"third", key=False))
    for cut in range(len(data)):
        parsed = mkvblocks.parse_cluster(data[:cut], BOTH)
        if parsed is None:
            continue  # not even the Cluster's header
        frames, whole = parsed
        assert not whole
        assert [data[f.start : f.end] for f in frames] == [b"first", b"second", b"third"][: len(frames)]
        assert all(f.end <= cut for f in frames)


def test_a_cluster_inside_more_bytes_is_read_from_its_start() -> None:
    data = b"\x00" * 7 + cluster(10, simple(V, 1, b"v")) + b"junk"
    frames, whole = mkvblocks.parse_cluster(data, BOTH, 7)
    assert whole and frames == [Frame(V, 11, True, len(data) - 5, len(data) - 4, None)]


def entry(number: int, kind: int, codec: str, default_ns: int | None = None, encodings: bool = False) -> bytes:
    children = uint(ebml.TRACK_NUMBER, number, 1) + uint(ebml.TRACK_TYPE, kind, 1) + el(mkvblocks.CODEC_ID, codec.encode())
    if default_ns is not None:
        children += uint(mkvblocks.DEFAULT_DURATION, default_ns)
    if encodings:
        children += el(mkvblocks.CONTENT_ENCODINGS, el(0x6240, b""))
    return el(ebml.TRACK_ENTRY, children)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            el(ebml.TRACKS, entry(1, 1, "V_MPEG4/ISO/AVC", 41_666_666) + entry(2, 2, "A_AAC")),
            {1: mkvblocks.Track(1, 1, "V_MPEG4/ISO/AVC", 41_666_666, False), 2: mkvblocks.Track(2, 2, "A_AAC", None, False)},
            id="tracks-by-number-in-file-order",
        ),
        pytest.param(el(ebml.TRACKS, entry(3, 2, "A_AC3", encodings=True)), {3: mkvblocks.Track(3, 2, "A_AC3", None, True)},
                     id="content-encodings-mark-a-track-whose-blocks-are-not-its-frames"),
        pytest.param(el(ebml.TRACKS, el(ebml.TRACK_ENTRY, uint(ebml.TRACK_NUMBER, 1, 1))), {}, id="entry-without-a-type-is-passed-over"),
        pytest.param(el(ebml.TRACKS, entry(1, 1, "V_VP9"))[:-2], None, id="cut-short"),
    ],
)
def test_parse_tracks(data: bytes, expected: dict[int, mkvblocks.Track] | None) -> None:
    tracks = mkvblocks.parse_tracks(data)
    assert tracks == expected
    if tracks:
        assert list(tracks) == list(expected or {})
