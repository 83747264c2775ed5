"""streamer.media.hlsplan: cuts only at keyframes near the target, exact #EXTINF, the playlist text."""

from __future__ import annotations

import pytest

from streamer.media.hlsplan import SegmentSpan, choose_cuts, format_playlist, parse_segment_number, plan_segments


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        pytest.param([0, 2, 4, 6, 8, 10, 12, 14], [0, 6, 12, 14], id="every-third-of-2s-gops"),
        pytest.param([0, 10, 20], [0, 10, 20], id="long-gop-makes-long-segments"),
        pytest.param([0, 5, 10, 15], [0, 5, 10, 15], id="nearest-keyframe-to-target-wins"),
        pytest.param([0, 3, 9, 12], [0, 3, 9, 12], id="tie-goes-to-the-earlier"),
        pytest.param([0.5, 1, 6.4, 7], [0.5, 6.4, 7], id="first-keyframe-need-not-be-zero"),
        pytest.param([4, 0, 2, 2], [0, 4], id="unsorted-and-repeated-times"),
        pytest.param([], [], id="no-keyframes"),
    ],
)
def test_choose_cuts(times: list[float], expected: list[float]) -> None:
    assert choose_cuts(times) == expected


def test_no_short_segment_just_before_the_end() -> None:
    assert choose_cuts([0, 2, 4, 6, 8, 10, 12, 14], end=15) == [0, 6, 12]


@pytest.mark.parametrize(
    ("times", "duration", "expected"),
    [
        pytest.param(
            [0, 2, 4, 6, 8], 9.5,
            (SegmentSpan(0, 0, 6, 6), SegmentSpan(1, 6, None, 3.5)), id="last-ends-at-the-duration",
        ),
        pytest.param(
            [0.021, 6.021], 8.0,
            (SegmentSpan(0, 0.021, 6.021, 6.021), SegmentSpan(1, 6.021, None, 8.0 - 6.021)), id="first-starts-at-zero",
        ),
        pytest.param([0], 3.0, (SegmentSpan(0, 0, None, 3.0),), id="one-keyframe-one-segment"),
        pytest.param([0, 6], 6.0, (SegmentSpan(0, 0, None, 6.0),), id="keyframe-at-the-end-ignored"),
        pytest.param([7], 6.0, None, id="keyframes-only-after-the-end"),
        pytest.param([], 6.0, None, id="no-keyframes"),
        pytest.param([0], float("inf"), None, id="infinite-duration"),
    ],
)
def test_plan_segments(times: list[float], duration: float, expected: tuple[SegmentSpan, ...] | None) -> None:
    assert plan_segments(times, duration) == expected


@pytest.mark.parametrize(
    ("times", "duration", "start", "expected"),
    [
        pytest.param(
            [36000.04, 36006.04], 36008.0, 36000.0,
            (SegmentSpan(0, 36000.04, 36006.04, 6.04), SegmentSpan(1, 36006.04, None, 8.0 - 6.04)),
            id="a-recordings-clock-ten-hours-in-sums-to-its-length",
        ),
        pytest.param(
            [1.44, 7.44], 9.44, 1.4, (SegmentSpan(0, 1.44, 7.44, 6.04), SegmentSpan(1, 7.44, None, 2.0)),
            id="sound-first-the-first-segment-from-the-files-start",
        ),
        pytest.param([0.5, 6.5], 9.0, 1.0, (SegmentSpan(0, 0.5, 6.5, 6.0), SegmentSpan(1, 6.5, None, 2.5)), id="keyframe-before-the-start"),
        pytest.param([0, 6], 9.0, float("nan"), None, id="start-not-a-number"),
    ],
)
def test_plan_segments_from_where_the_file_starts(
    times: list[float], duration: float, start: float, expected: tuple[SegmentSpan, ...] | None
) -> None:
    plan = plan_segments(times, duration, start=start)
    if expected is None:
        assert plan is None
        return
    assert plan is not None and [(s.number, s.start, s.stop) for s in plan] == [(s.number, s.start, s.stop) for s in expected]
    assert [s.duration for s in plan] == pytest.approx([s.duration for s in expected], abs=1e-9)
    assert sum(span.duration for span in plan) == pytest.approx(duration - min(start, times[0]))


def test_extinf_sum_is_the_duration() -> None:
    plan = plan_segments([i * 1.001 for i in range(0, 700, 2)], 700.7)
    assert plan is not None
    assert sum(s.duration for s in plan) == pytest.approx(700.7, abs=1e-9)


def test_playlist_text() -> None:
    plan = plan_segments([0, 6, 16.5], 20.25)
    assert plan is not None
    assert format_playlist(plan) == (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:11\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        '#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI="init.mp4"\n'
        "#EXTINF:6.000000,\n0.m4s\n#EXTINF:10.500000,\n1.m4s\n#EXTINF:3.750000,\n2.m4s\n#EXT-X-ENDLIST\n"
    )


def test_target_duration_ignores_float_noise() -> None:
    plan = plan_segments([0, 6.000000000001], 7)
    assert plan is not None and "#EXT-X-TARGETDURATION:6\n" in format_playlist(plan)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("0.m4s", 0, id="zero"),
        pytest.param("600.m4s", 600, id="number"),
        pytest.param("999999999.m4s", 999999999, id="nine-digits"),
        pytest.param("1000000000.m4s", None, id="ten-digits"),
        pytest.param("01.m4s", None, id="leading-zero"),
        pytest.param("+1.m4s", None, id="sign"),
        pytest.param("1_0.m4s", None, id="underscore"),
        pytest.param("١.m4s", None, id="non-ascii-digit"),
        pytest.param("1.mp4", None, id="other-suffix"),
        pytest.param(" 1.m4s", None, id="space"),
        pytest.param(".m4s", None, id="no-number"),
    ],
)
def test_parse_segment_number(name: str, expected: int | None) -> None:
    assert parse_segment_number(name) == expected
