"""parse_range, parse_int, coalesce and format_content_range as tables (Go's range_test.go)."""

from __future__ import annotations

import pytest

from streamer.http.ranges import (
    COALESCE_GAP,
    MAX_INT_DIGITS,
    ByteRange,
    ParsedRange,
    Unsatisfiable,
    coalesce,
    format_content_range,
    parse_int,
    parse_range,
)

R = ByteRange
UNSAT_10 = Unsatisfiable(10)
HUGE = "9" * MAX_INT_DIGITS  # the longest integer accepted
TOO_LONG = "9" * (MAX_INT_DIGITS + 1)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        # Single ranges: half-open ByteRange, inclusive last-pos on the wire.
        pytest.param("bytes=0-9", 10, [R(0, 10)], id="whole"),
        pytest.param("bytes=0-0", 10, [R(0, 1)], id="first-byte"),
        pytest.param("bytes=0-1", 10, [R(0, 2)], id="safari-probe-is-two-bytes"),
        pytest.param("bytes=9-9", 10, [R(9, 10)], id="last-byte"),
        pytest.param("bytes=2-5", 10, [R(2, 6)], id="middle"),
        pytest.param("bytes=5-", 10, [R(5, 10)], id="open-ended"),
        pytest.param("bytes=0-", 10, [R(0, 10)], id="open-ended-from-zero"),
        pytest.param("bytes=9-", 10, [R(9, 10)], id="open-ended-last-byte"),
        pytest.param("bytes=5-100", 10, [R(5, 10)], id="end-clamped"),
        pytest.param("bytes=0-10", 10, [R(0, 10)], id="end-one-past-last-clamped"),
        pytest.param("bytes=-3", 10, [R(7, 10)], id="suffix"),
        pytest.param("bytes=-10", 10, [R(0, 10)], id="suffix-equal-to-file"),
        pytest.param("bytes=-15", 10, [R(0, 10)], id="suffix-longer-than-file"),
        pytest.param("bytes=-0", 10, UNSAT_10, id="suffix-zero-unsatisfiable"),
        pytest.param("bytes=10-", 10, UNSAT_10, id="start-at-size-unsatisfiable"),
        pytest.param("bytes=15-20", 10, UNSAT_10, id="start-past-end-unsatisfiable"),
        pytest.param("bytes=5-4", 10, None, id="end-before-start-invalid"),
        # Several ranges: request order kept; the parser does not coalesce.
        pytest.param("bytes=0-1,5-6", 10, [R(0, 2), R(5, 7)], id="multiple"),
        pytest.param("bytes=5-6,0-1", 10, [R(5, 7), R(0, 2)], id="multiple-request-order-kept"),
        pytest.param("bytes=0-5,3-8", 10, [R(0, 6), R(3, 9)], id="overlap-left-to-coalesce"),
        pytest.param("bytes=0-1,-2", 10, [R(0, 2), R(8, 10)], id="multiple-with-suffix"),
        pytest.param("bytes=0-1,20-30", 10, [R(0, 2)], id="mixed-keeps-only-satisfiable"),
        pytest.param("bytes=-0,3-4", 10, [R(3, 5)], id="mixed-suffix-zero-dropped"),
        pytest.param("bytes=20-30,40-,-0", 10, UNSAT_10, id="all-unsatisfiable"),
        pytest.param("bytes=0-1,x-2", 10, None, id="one-invalid-spec-invalidates-header"),
        pytest.param("bytes=0-1,5-4", 10, None, id="one-backwards-spec-invalidates-header"),
        # Unit.
        pytest.param("Bytes=0-1", 10, [R(0, 2)], id="unit-capitalised"),
        pytest.param("BYTES=0-1", 10, [R(0, 2)], id="unit-upper-case"),
        pytest.param("items=0-1", 10, None, id="other-unit-ignored"),
        pytest.param("bytess=0-1", 10, None, id="unit-prefix-match-ignored"),
        pytest.param("none", 10, None, id="no-unit-ignored"),
        pytest.param("bytes 0-1", 10, None, id="missing-equals"),
        pytest.param("", 10, None, id="empty-header"),
        # Syntax of a spec.
        pytest.param("bytes=5", 10, None, id="missing-dash"),
        pytest.param("bytes=-", 10, None, id="bare-dash"),
        pytest.param("bytes=--1", 10, None, id="negative-suffix"),
        pytest.param("bytes=1-2-3", 10, None, id="two-dashes"),
        pytest.param("bytes=+1-2", 10, None, id="plus-sign-start"),
        pytest.param("bytes=1-+2", 10, None, id="plus-sign-end"),
        pytest.param("bytes=-+2", 10, None, id="plus-sign-suffix"),
        pytest.param("bytes=1_0-20", 10, None, id="underscore-start"),
        pytest.param("bytes=0-1_0", 10, None, id="underscore-end"),
        pytest.param("bytes=\u0661-2", 10, None, id="non-ascii-digit-start"),
        pytest.param("bytes=0-\u0662", 10, None, id="non-ascii-digit-end"),
        pytest.param("bytes=\u00b2-3", 10, None, id="superscript-digit"),
        pytest.param("bytes=0x1-2", 10, None, id="hex-prefix"),
        pytest.param("bytes=1.0-2", 10, None, id="decimal-point"),
        pytest.param("bytes=0 -1", 10, None, id="space-before-dash"),
        pytest.param("bytes=0- 1", 10, None, id="space-after-dash"),
        pytest.param("bytes=1 0-20", 10, None, id="space-inside-number"),
        pytest.param("bytes=0-1;2-3", 10, None, id="semicolon-separator"),
        # List syntax (RFC 9110 §5.6.1).
        pytest.param("bytes= 0-1 ,\t2-3\t", 10, [R(0, 2), R(2, 4)], id="whitespace-around-specs"),
        pytest.param("bytes=,0-1,,2-3,", 10, [R(0, 2), R(2, 4)], id="empty-list-elements-ignored"),
        pytest.param("bytes=", 10, None, id="no-specs"),
        pytest.param("bytes=,,", 10, None, id="only-commas"),
        pytest.param("bytes= , ", 10, None, id="only-whitespace-and-commas"),
        # Integer length cap.
        pytest.param(f"bytes=0-{HUGE}", 10, [R(0, 10)], id="huge-end-within-cap-clamped"),
        pytest.param(f"bytes={HUGE}-", 10, UNSAT_10, id="huge-start-within-cap-unsatisfiable"),
        pytest.param(f"bytes=-{HUGE}", 10, [R(0, 10)], id="huge-suffix-within-cap"),
        pytest.param(f"bytes=0-{TOO_LONG}", 10, None, id="end-beyond-cap-invalid"),
        pytest.param(f"bytes={TOO_LONG}-", 10, None, id="start-beyond-cap-invalid"),
        pytest.param(f"bytes=-{TOO_LONG}", 10, None, id="suffix-beyond-cap-invalid"),
        pytest.param(f"bytes=0{HUGE}-", 10, None, id="leading-zero-counts-towards-cap"),
        pytest.param("bytes=007-008", 10, [R(7, 9)], id="leading-zeros-within-cap"),
        # Empty representation: nothing is satisfiable, but syntax still decides None.
        pytest.param("bytes=0-", 0, Unsatisfiable(0), id="size-zero-open-ended"),
        pytest.param("bytes=0-0", 0, Unsatisfiable(0), id="size-zero-first-byte"),
        pytest.param("bytes=-5", 0, Unsatisfiable(0), id="size-zero-suffix"),
        pytest.param("bytes=x", 0, None, id="size-zero-invalid-still-ignored"),
    ],
)
def test_parse_range(header: str, size: int, expected: ParsedRange) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("0", 0, id="zero"),
        pytest.param("123", 123, id="plain"),
        pytest.param("007", 7, id="leading-zeros"),
        pytest.param(HUGE, int(HUGE), id="longest-accepted"),
        pytest.param(TOO_LONG, None, id="over-length-cap"),
        pytest.param("", None, id="empty"),
        pytest.param("+5", None, id="plus-sign"),
        pytest.param("-5", None, id="minus-sign"),
        pytest.param("1_0", None, id="underscore"),
        pytest.param("\u0661", None, id="arabic-indic-digit"),
        pytest.param("\uff11", None, id="fullwidth-digit"),
        pytest.param("\u00b2", None, id="superscript-two"),
        pytest.param(" 5", None, id="leading-space"),
        pytest.param("5 ", None, id="trailing-space"),
        pytest.param("1 0", None, id="inner-space"),
        pytest.param("0x10", None, id="hex"),
        pytest.param("1e3", None, id="exponent"),
        pytest.param("1.0", None, id="decimal"),
    ],
)
def test_parse_int(text: str, expected: int | None) -> None:
    assert parse_int(text) == expected


@pytest.mark.parametrize(
    ("ranges", "gap", "expected"),
    [
        pytest.param([], 0, [], id="empty"),
        pytest.param([R(3, 5)], 0, [R(3, 5)], id="single"),
        pytest.param([R(0, 5), R(3, 8)], 0, [R(0, 8)], id="overlap-merged"),
        pytest.param([R(0, 10), R(2, 3)], 0, [R(0, 10)], id="contained-merged"),
        pytest.param([R(0, 5), R(0, 5)], 0, [R(0, 5)], id="duplicate-merged"),
        pytest.param([R(0, 5), R(5, 8)], 0, [R(0, 8)], id="adjacent-merged"),
        pytest.param([R(0, 5), R(6, 8)], 0, [R(0, 5), R(6, 8)], id="one-byte-apart-kept-without-gap"),
        pytest.param([R(0, 5), R(15, 20)], 10, [R(0, 20)], id="at-gap-merged"),
        pytest.param([R(0, 5), R(16, 20)], 10, [R(0, 5), R(16, 20)], id="beyond-gap-kept"),
        pytest.param([R(50, 60), R(0, 10)], 0, [R(0, 10), R(50, 60)], id="unsorted-input-sorted"),
        pytest.param([R(20, 30), R(0, 10), R(9, 21)], 0, [R(0, 30)], id="unsorted-chain-merged"),
        pytest.param([R(0, 100), R(10, 20), R(90, 150)], 0, [R(0, 150)], id="merge-extends-stop"),
        pytest.param(
            [R(0, 1), R(100, 101), R(1000, 1001)], 100, [R(0, 101), R(1000, 1001)], id="merge-some-keep-others"
        ),
    ],
)
def test_coalesce(ranges: list[ByteRange], gap: int, expected: list[ByteRange]) -> None:
    assert coalesce(ranges, gap) == expected


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        pytest.param([R(0, 5), R(5 + COALESCE_GAP, 200)], [R(0, 200)], id="default-gap-within"),
        pytest.param([R(0, 5), R(6 + COALESCE_GAP, 200)], [R(0, 5), R(6 + COALESCE_GAP, 200)], id="default-gap-beyond"),
    ],
)
def test_coalesce_default_gap(ranges: list[ByteRange], expected: list[ByteRange]) -> None:
    assert coalesce(ranges) == expected


def test_coalesce_leaves_input_unchanged() -> None:
    ranges = [R(5, 6), R(0, 10)]
    coalesce(ranges)
    assert ranges == [R(5, 6), R(0, 10)]


@pytest.mark.parametrize(
    ("byte_range", "size", "expected"),
    [
        pytest.param(R(0, 1), 10, "bytes 0-0/10", id="one-byte-inclusive-end"),
        pytest.param(R(0, 2), 10, "bytes 0-1/10", id="two-bytes"),
        pytest.param(R(5, 10), 10, "bytes 5-9/10", id="to-end"),
        pytest.param(R(0, 10), 10, "bytes 0-9/10", id="whole"),
        pytest.param(None, 10, "bytes */10", id="unsatisfiable"),
        pytest.param(None, 0, "bytes */0", id="unsatisfiable-empty"),
    ],
)
def test_format_content_range(byte_range: ByteRange | None, size: int, expected: str) -> None:
    assert format_content_range(byte_range, size) == expected


@pytest.mark.parametrize(
    ("byte_range", "expected"),
    [
        pytest.param(R(0, 0), 0, id="empty"),
        pytest.param(R(0, 2), 2, id="half-open"),
        pytest.param(R(7, 10), 3, id="offset"),
    ],
)
def test_byte_range_len(byte_range: ByteRange, expected: int) -> None:
    assert len(byte_range) == expected
