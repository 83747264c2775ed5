"""The HLS segment plan of a video from its keyframe times, and its playlist. No I/O.

Segments are cut only at keyframes: each ends at the keyframe closest to
``TARGET_S`` after its start, so a long GOP makes a long segment. ``#EXTINF``
is the exact time between the cuts (the first segment starts at 0, the last
ends at the duration); ``#EXT-X-TARGETDURATION`` is the ceiling of the longest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

TARGET_S = 6.0
VERSION = 7  # EXT-X-MAP in a playlist without I-frames needs 6; 7 for fMP4 per RFC 8216bis
INIT_NAME = "init.mp4"
SEGMENT_SUFFIX = ".m4s"
MAX_SEGMENT_DIGITS = 9
_SEGMENT = re.compile(rf"(0|[1-9][0-9]{{0,{MAX_SEGMENT_DIGITS - 1}}})\.m4s")  # no leading zeros: one name per segment


@dataclass(frozen=True)
class SegmentSpan:
    """Segment ``number`` holds the packets from the keyframe at ``start`` to the one at ``stop`` (s)."""

    number: int
    start: float  # the keyframe it begins with
    stop: float | None  # the keyframe of the next segment; None for the last
    duration: float  # its #EXTINF


def choose_cuts(times: Sequence[float], end: float = math.inf, target: float = TARGET_S) -> list[float]:
    """The keyframes where segments start: from the first, each the keyframe closest to ``target`` after the last.

    The ``end`` of the video counts as a candidate too: no short segment is cut just before it.
    """
    keys = [*sorted({t for t in times if t < end}), end]
    if len(keys) == 1:
        return []
    cuts = [keys[0]]
    i = 1
    while i < len(keys) - 1:
        goal = cuts[-1] + target
        while i + 1 < len(keys) and abs(keys[i + 1] - goal) < abs(keys[i] - goal):
            i += 1
        if i == len(keys) - 1:
            break
        cuts.append(keys[i])
        i += 1
    return cuts


def plan_segments(
    times: Sequence[float], duration: float, target: float = TARGET_S, start: float = 0.0
) -> tuple[SegmentSpan, ...] | None:
    """The segments of a video that starts at ``start`` and ends at ``duration`` (s), or ``None`` if it has no
    keyframe or ends before its last one. The first segment's time runs from ``start`` (or its keyframe, if
    earlier), so the times sum to the video's length: an MPEG-TS recording's clock may start hours in."""
    if not target > 0:
        raise ValueError(f"target {target} must be positive")
    cuts = choose_cuts(times, duration, target)
    if not cuts or not duration > cuts[-1] or not all(map(math.isfinite, [*cuts, duration, start])):
        return None
    bounds = [min(start, cuts[0]), *cuts[1:], duration]
    return tuple(
        SegmentSpan(n, cuts[n], cuts[n + 1] if n + 1 < len(cuts) else None, bounds[n + 1] - bounds[n])
        for n in range(len(cuts))
    )


def format_playlist(segments: Sequence[SegmentSpan]) -> str:
    """The VOD media playlist (RFC 8216) of ``segments``, with URIs relative to the playlist."""
    longest = max(segment.duration for segment in segments)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSION}",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(round(longest, 6)))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{INIT_NAME}"',
    ]
    for segment in segments:
        lines += [f"#EXTINF:{segment.duration:.6f},", f"{segment.number}{SEGMENT_SUFFIX}"]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def parse_segment_number(name: str) -> int | None:
    """``12.m4s`` → 12; ``None`` for anything else (signs, spaces, non-ASCII digits, too many digits)."""
    match = _SEGMENT.fullmatch(name)
    return int(match.group(1)) if match and match.group(1).isascii() else None
