"""Entity-tags, HTTP dates and the RFC 9110 §13.2.2 precondition order, as tables."""

from __future__ import annotations

import pytest

from streamer.http.conditional import (
    Cond,
    ETag,
    Outcome,
    check_if_match,
    check_if_none_match,
    check_if_range,
    check_modified_since,
    check_unmodified_since,
    evaluate_preconditions,
    format_http_date,
    parse_etag_list,
    parse_http_date,
    strong_match,
    weak_match,
)

STRONG = ETag('"abc"')
WEAK = ETag('"abc"', weak=True)
OTHER = ETag('"xyz"')
MTIME = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
AT = "Sun, 06 Nov 1994 08:49:37 GMT"
SECOND_BEFORE = "Sun, 06 Nov 1994 08:49:36 GMT"
SECOND_AFTER = "Sun, 06 Nov 1994 08:49:38 GMT"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param('"abc"', [STRONG], id="strong"),
        pytest.param('W/"abc"', [WEAK], id="weak"),
        pytest.param('"abc", W/"xyz"', [STRONG, ETag('"xyz"', weak=True)], id="list"),
        pytest.param('"abc",,"xyz"', [STRONG, OTHER], id="empty-elements-skipped"),
        pytest.param(' \t"abc"\t ', [STRONG], id="surrounding-whitespace"),
        pytest.param('""', [ETag('""')], id="empty-opaque"),
        pytest.param('"caf\xe9"', [ETag('"caf\xe9"')], id="obs-text"),
        pytest.param("", [], id="empty-value"),
        pytest.param("abc", None, id="unquoted"),
        pytest.param('"abc', None, id="unterminated"),
        pytest.param('w/"abc"', None, id="lower-case-weak-prefix"),
        pytest.param('W/ "abc"', None, id="space-after-weak-prefix"),
        pytest.param('"a b"', None, id="space-inside"),
        pytest.param('"a"b"', None, id="quote-inside"),
        pytest.param('"abc", junk', None, id="one-bad-member"),
        pytest.param("*", None, id="star-left-to-callers"),
    ],
)
def test_parse_etag_list(value: str, expected: list[ETag] | None) -> None:
    assert parse_etag_list(value) == expected


@pytest.mark.parametrize(
    ("a", "b", "strong", "weak"),
    [
        pytest.param(STRONG, STRONG, True, True, id="strong-strong-same"),
        pytest.param(STRONG, WEAK, False, True, id="strong-weak-same"),
        pytest.param(WEAK, STRONG, False, True, id="weak-strong-same"),
        pytest.param(WEAK, WEAK, False, True, id="weak-weak-same"),
        pytest.param(STRONG, OTHER, False, False, id="strong-different"),
        pytest.param(WEAK, ETag('"xyz"', weak=True), False, False, id="weak-different"),
    ],
)
def test_etag_comparison(a: ETag, b: ETag, strong: bool, weak: bool) -> None:
    assert (strong_match(a, b), weak_match(a, b)) == (strong, weak)


@pytest.mark.parametrize(
    ("tag", "text"),
    [
        pytest.param(STRONG, '"abc"', id="strong"),
        pytest.param(WEAK, 'W/"abc"', id="weak"),
    ],
)
def test_etag_str(tag: ETag, text: str) -> None:
    assert str(tag) == text
    assert parse_etag_list(text) == [tag]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(AT, MTIME, id="imf-fixdate"),
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", MTIME, id="rfc850-date"),
        pytest.param("Sun Nov  6 08:49:37 1994", MTIME, id="asctime-date"),
        pytest.param("Wed Nov 16 08:49:37 1994", 784975777, id="asctime-two-digit-day"),
        pytest.param("Saturday, 01-Jan-00 00:00:00 GMT", 946684800, id="rfc850-year-00-is-2000"),
        pytest.param("Thu, 01 Jan 1970 00:00:00 GMT", 0, id="epoch"),
        pytest.param("Thu, 29 Feb 1996 00:00:00 GMT", 825552000, id="leap-day"),
        pytest.param(f" \t{AT}\t ", MTIME, id="surrounding-whitespace"),
        pytest.param("Mon, 06 Nov 1994 08:49:37 GMT", MTIME, id="weekday-not-cross-checked"),
        # Invalid: ignored by the caller.
        pytest.param("", None, id="empty"),
        pytest.param("yesterday", None, id="junk"),
        pytest.param("784111777", None, id="epoch-number"),
        pytest.param("1994-11-06T08:49:37Z", None, id="iso-8601"),
        pytest.param("Sunday, 06 Nov 1994 08:49:37 GMT", None, id="long-weekday-in-imf-fixdate"),
        pytest.param("Sun, 06-Nov-94 08:49:37 GMT", None, id="short-weekday-in-rfc850-date"),
        pytest.param("sun, 06 Nov 1994 08:49:37 GMT", None, id="lower-case-weekday"),
        pytest.param("Sun, 06 nov 1994 08:49:37 GMT", None, id="lower-case-month"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 gmt", None, id="lower-case-gmt"),
        pytest.param("Sun, 32 Nov 1994 08:49:37 GMT", None, id="day-32"),
        pytest.param("Sun, 00 Nov 1994 08:49:37 GMT", None, id="day-zero"),
        pytest.param("Fri, 31 Nov 1994 08:49:37 GMT", None, id="day-past-end-of-month"),
        pytest.param("Wed, 29 Feb 1995 00:00:00 GMT", None, id="leap-day-in-common-year"),
        pytest.param("Sat, 06 Nov 0000 08:49:37 GMT", None, id="year-zero"),
        pytest.param("Sun, 06 Nov 1994 24:00:00 GMT", None, id="hour-24"),
        pytest.param("Sun, 06 Nov 1994 08:60:00 GMT", None, id="minute-60"),
        pytest.param("Sun, 06 Nov 1994 08:49:61 GMT", None, id="second-61"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 UTC", None, id="utc-zone"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 +0000", None, id="numeric-zone"),
        pytest.param("Sun, 06 Nov 1994 08:49:37", None, id="missing-zone"),
        pytest.param(f"{AT} junk", None, id="trailing-junk"),
        pytest.param(f"{AT};", None, id="trailing-semicolon"),
        pytest.param("Sun, 6 Nov 1994 08:49:37 GMT", None, id="one-digit-day-in-imf-fixdate"),
        pytest.param("Sun, 06 Nov 94 08:49:37 GMT", None, id="two-digit-year-in-imf-fixdate"),
        pytest.param("Sun,  06 Nov 1994 08:49:37 GMT", None, id="double-space"),
        pytest.param("Sun, 06 Nov 1994 8:49:37 GMT", None, id="one-digit-hour"),
        pytest.param("Sun, \u0660\u0666 Nov 1994 08:49:37 GMT", None, id="non-ascii-digits-day"),
        pytest.param("Sun, 06 Nov \u0661\u0669\u0669\u0664 08:49:37 GMT", None, id="non-ascii-digits-year"),
        pytest.param("Sun Nov  \u0666 08:49:37 1994", None, id="non-ascii-digit-asctime"),
    ],
)
def test_parse_http_date(value: str, expected: int | None) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        pytest.param(0, "Thu, 01 Jan 1970 00:00:00 GMT", id="epoch"),
        pytest.param(MTIME, AT, id="rfc-example"),
        pytest.param(825552000, "Thu, 29 Feb 1996 00:00:00 GMT", id="leap-day"),
        pytest.param(4102444799, "Thu, 31 Dec 2099 23:59:59 GMT", id="end-of-century"),
    ],
)
def test_format_http_date(epoch: int, expected: str) -> None:
    assert format_http_date(epoch) == expected
    assert parse_http_date(expected) == epoch


@pytest.mark.parametrize(
    ("value", "etag", "expected"),
    [
        pytest.param(None, STRONG, Cond.NONE, id="absent"),
        pytest.param("*", STRONG, Cond.TRUE, id="star"),
        pytest.param(" * ", STRONG, Cond.TRUE, id="star-with-whitespace"),
        pytest.param('"abc"', STRONG, Cond.TRUE, id="same-strong"),
        pytest.param('"xyz", "abc"', STRONG, Cond.TRUE, id="in-list"),
        pytest.param('W/"abc"', STRONG, Cond.FALSE, id="weak-request-tag-never-matches"),
        pytest.param('"abc"', WEAK, Cond.FALSE, id="weak-current-tag-never-matches"),
        pytest.param('"xyz"', STRONG, Cond.FALSE, id="different"),
        pytest.param("junk", STRONG, Cond.FALSE, id="malformed-false"),
    ],
)
def test_check_if_match(value: str | None, etag: ETag, expected: Cond) -> None:
    assert check_if_match(value, etag) is expected


@pytest.mark.parametrize(
    ("value", "etag", "expected"),
    [
        pytest.param(None, STRONG, Cond.NONE, id="absent"),
        pytest.param("*", STRONG, Cond.FALSE, id="star-matches-any"),
        pytest.param('"abc"', STRONG, Cond.FALSE, id="same-matches"),
        pytest.param('W/"abc"', STRONG, Cond.FALSE, id="weak-compare-request-weak"),
        pytest.param('"abc"', WEAK, Cond.FALSE, id="weak-compare-current-weak"),
        pytest.param('"xyz", W/"abc"', STRONG, Cond.FALSE, id="in-list"),
        pytest.param('"xyz"', STRONG, Cond.TRUE, id="different-proceeds"),
        pytest.param("junk", STRONG, Cond.TRUE, id="malformed-proceeds"),
    ],
)
def test_check_if_none_match(value: str | None, etag: ETag, expected: Cond) -> None:
    assert check_if_none_match(value, etag) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, Cond.NONE, id="absent"),
        pytest.param(AT, Cond.TRUE, id="same-second"),
        pytest.param(SECOND_AFTER, Cond.TRUE, id="date-after-mtime"),
        pytest.param(SECOND_BEFORE, Cond.FALSE, id="modified-after-date"),
        pytest.param("yesterday", Cond.NONE, id="invalid-ignored"),
    ],
)
def test_check_unmodified_since(value: str | None, expected: Cond) -> None:
    assert check_unmodified_since(value, MTIME) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, Cond.NONE, id="absent"),
        pytest.param(AT, Cond.FALSE, id="same-second-not-modified"),
        pytest.param(SECOND_AFTER, Cond.FALSE, id="date-after-mtime-not-modified"),
        pytest.param(SECOND_BEFORE, Cond.TRUE, id="modified-after-date"),
        pytest.param("yesterday", Cond.NONE, id="invalid-ignored"),
        pytest.param("Sun, 32 Nov 1994 08:49:37 GMT", Cond.NONE, id="impossible-date-ignored"),
    ],
)
def test_check_modified_since(value: str | None, expected: Cond) -> None:
    assert check_modified_since(value, MTIME) is expected


@pytest.mark.parametrize(
    ("value", "etag", "expected"),
    [
        pytest.param(None, STRONG, Cond.NONE, id="absent"),
        pytest.param('"abc"', STRONG, Cond.TRUE, id="same-strong-etag"),
        pytest.param(' "abc" ', STRONG, Cond.TRUE, id="etag-with-whitespace"),
        pytest.param('W/"abc"', STRONG, Cond.FALSE, id="weak-request-etag"),
        pytest.param('"abc"', WEAK, Cond.FALSE, id="weak-current-etag"),
        pytest.param('"xyz"', STRONG, Cond.FALSE, id="other-etag"),
        pytest.param('"abc", "xyz"', STRONG, Cond.FALSE, id="list-not-allowed"),
        pytest.param('"abc', STRONG, Cond.FALSE, id="malformed-etag"),
        pytest.param(AT, STRONG, Cond.TRUE, id="exact-date"),
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", STRONG, Cond.TRUE, id="exact-date-rfc850"),
        pytest.param(SECOND_AFTER, STRONG, Cond.FALSE, id="later-date"),
        pytest.param(SECOND_BEFORE, STRONG, Cond.FALSE, id="earlier-date"),
        pytest.param("yesterday", STRONG, Cond.FALSE, id="invalid-date"),
        pytest.param("*", STRONG, Cond.FALSE, id="star-not-allowed"),
    ],
)
def test_check_if_range(value: str | None, etag: ETag, expected: Cond) -> None:
    assert check_if_range(value, etag, MTIME) is expected


PROCEED = Outcome.PROCEED
NOT_MODIFIED = Outcome.NOT_MODIFIED
FAILED = Outcome.PRECONDITION_FAILED


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, PROCEED, id="no-preconditions"),
        # Step 1: If-Match.
        pytest.param({"if-match": '"abc"'}, PROCEED, id="if-match-matches"),
        pytest.param({"if-match": "*"}, PROCEED, id="if-match-star"),
        pytest.param({"if-match": '"xyz"'}, FAILED, id="if-match-mismatch"),
        pytest.param({"if-match": 'W/"abc"'}, FAILED, id="weak-etag-never-satisfies-if-match"),
        pytest.param({"if-match": "junk"}, FAILED, id="malformed-if-match-fails"),
        # Step 2: If-Unmodified-Since, only without If-Match.
        pytest.param({"if-unmodified-since": AT}, PROCEED, id="if-unmodified-since-same-second"),
        pytest.param({"if-unmodified-since": SECOND_AFTER}, PROCEED, id="if-unmodified-since-later"),
        pytest.param({"if-unmodified-since": SECOND_BEFORE}, FAILED, id="if-unmodified-since-earlier"),
        pytest.param({"if-unmodified-since": "yesterday"}, PROCEED, id="invalid-if-unmodified-since-ignored"),
        pytest.param(
            {"if-match": '"abc"', "if-unmodified-since": SECOND_BEFORE},
            PROCEED,
            id="if-unmodified-since-ignored-when-if-match-present",
        ),
        pytest.param(
            {"if-match": '"xyz"', "if-unmodified-since": SECOND_AFTER}, FAILED, id="if-match-fails-despite-date"
        ),
        # Step 3: If-None-Match.
        pytest.param({"if-none-match": '"abc"'}, NOT_MODIFIED, id="if-none-match-matches"),
        pytest.param({"if-none-match": "*"}, NOT_MODIFIED, id="if-none-match-star"),
        pytest.param({"if-none-match": 'W/"abc"'}, NOT_MODIFIED, id="weak-etag-matches-if-none-match"),
        pytest.param({"if-none-match": '"xyz"'}, PROCEED, id="if-none-match-mismatch"),
        pytest.param({"if-none-match": "junk"}, PROCEED, id="malformed-if-none-match-proceeds"),
        # Step 4: If-Modified-Since, only without If-None-Match.
        pytest.param({"if-modified-since": AT}, NOT_MODIFIED, id="if-modified-since-same-second"),
        pytest.param({"if-modified-since": SECOND_AFTER}, NOT_MODIFIED, id="if-modified-since-later"),
        pytest.param({"if-modified-since": SECOND_BEFORE}, PROCEED, id="if-modified-since-earlier"),
        pytest.param({"if-modified-since": "yesterday"}, PROCEED, id="invalid-if-modified-since-ignored"),
        pytest.param(
            {"if-none-match": '"xyz"', "if-modified-since": AT},
            PROCEED,
            id="if-none-match-beats-if-modified-since",
        ),
        pytest.param(
            {"if-none-match": '"abc"', "if-modified-since": SECOND_BEFORE},
            NOT_MODIFIED,
            id="if-none-match-match-beats-modified-date",
        ),
        # Order between the steps.
        pytest.param({"if-match": '"xyz"', "if-none-match": '"abc"'}, FAILED, id="if-match-beats-if-none-match"),
        pytest.param(
            {"if-match": '"abc"', "if-none-match": '"abc"'}, NOT_MODIFIED, id="if-match-passes-to-if-none-match"
        ),
        pytest.param(
            {"if-unmodified-since": SECOND_BEFORE, "if-none-match": '"abc"'},
            FAILED,
            id="if-unmodified-since-beats-if-none-match",
        ),
        pytest.param(
            {"if-unmodified-since": SECOND_BEFORE, "if-modified-since": AT},
            FAILED,
            id="if-unmodified-since-beats-if-modified-since",
        ),
        pytest.param({"if-range": '"xyz"'}, PROCEED, id="if-range-is-not-a-precondition"),
    ],
)
def test_evaluate_preconditions(headers: dict[str, str], expected: Outcome) -> None:
    assert evaluate_preconditions(headers, STRONG, MTIME) is expected
