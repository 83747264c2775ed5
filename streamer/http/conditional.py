"""Validators and preconditions: entity-tags, HTTP dates, RFC 9110 §13.2.2 evaluation.

No I/O in this module. Every header is three-state: absent (``Cond.NONE``), true
or false, so "no header" is never confused with "did not match". Invalid dates
are ignored, as RFC 9110 §13.1.3-4 requires; an invalid entity-tag list does
not match, as in Go's net/http.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from enum import Enum


class Cond(Enum):
    NONE = "none"
    TRUE = "true"
    FALSE = "false"


class Outcome(Enum):
    """What the preconditions decide for a GET or HEAD (RFC 9110 §13.2.2)."""

    PROCEED = "proceed"
    NOT_MODIFIED = "304"
    PRECONDITION_FAILED = "412"


@dataclass(frozen=True)
class ETag:
    opaque: str  # including the double quotes
    weak: bool = False

    def __str__(self) -> str:
        return f"W/{self.opaque}" if self.weak else self.opaque


_ETAG = re.compile(r'[ \t]*(W/)?("[\x21\x23-\x7e\x80-\xff]*")[ \t]*')
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = "(" + "|".join(_MONTHS) + ")"
_TIME = r"(\d\d):(\d\d):(\d\d)"
# RFC 9110 §5.6.7: IMF-fixdate, then the obsolete rfc850-date and asctime-date.
# re.ASCII: DIGIT is 0-9 only, as for every integer in HTTP.
_IMF_FIXDATE = re.compile(rf"{_DAY}, (\d\d) {_MONTH} (\d{{4}}) {_TIME} GMT", re.ASCII)
_RFC850 = re.compile(rf"{_LONG_DAY}, (\d\d)-{_MONTH}-(\d\d) {_TIME} GMT", re.ASCII)
_ASCTIME = re.compile(rf"{_DAY} {_MONTH} ([ \d]\d) {_TIME} (\d{{4}})", re.ASCII)


def parse_etag_list(value: str) -> list[ETag] | None:
    """Parse ``1#entity-tag``; ``None`` if any member is malformed. ``*`` is handled by callers."""
    tags: list[ETag] = []
    for member in value.split(","):
        if not member.strip(" \t"):
            continue
        match = _ETAG.fullmatch(member)
        if match is None:
            return None
        tags.append(ETag(match.group(2), weak=match.group(1) is not None))
    return tags


def strong_match(a: ETag, b: ETag) -> bool:
    """RFC 9110 §8.8.3.2: both strong and identical."""
    return not a.weak and not b.weak and a.opaque == b.opaque


def weak_match(a: ETag, b: ETag) -> bool:
    return a.opaque == b.opaque


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch for any of the three HTTP-date forms, else ``None``."""
    value = value.strip(" \t")
    if match := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hh, mm, ss = match.groups()
    elif match := _RFC850.fullmatch(value):
        day, month, yy, hh, mm, ss = match.groups()
        year = str(1900 + int(yy) if int(yy) >= 70 else 2000 + int(yy))
    elif match := _ASCTIME.fullmatch(value):
        month, day, hh, mm, ss, year = match.groups()
    else:
        return None
    fields = (int(year), _MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss))
    if fields[0] < 1:  # year 0000 is valid syntax but not a date (calendar raises on it)
        return None
    last_day = calendar.monthrange(fields[0], fields[1])[1]
    if not (1 <= fields[2] <= last_day and fields[3] <= 23 and fields[4] <= 59 and fields[5] <= 60):
        return None
    return calendar.timegm(fields + (0, 0, 0))


def format_http_date(epoch_seconds: int) -> str:
    """IMF-fixdate, the only form a sender may generate."""
    return formatdate(epoch_seconds, usegmt=True)


def check_if_match(value: str | None, etag: ETag) -> Cond:
    if value is None:
        return Cond.NONE
    if value.strip(" \t") == "*":
        return Cond.TRUE
    tags = parse_etag_list(value)
    return Cond.TRUE if tags and any(strong_match(t, etag) for t in tags) else Cond.FALSE


def check_if_none_match(value: str | None, etag: ETag) -> Cond:
    """TRUE means "none matched": the request proceeds."""
    if value is None:
        return Cond.NONE
    if value.strip(" \t") == "*":
        return Cond.FALSE
    tags = parse_etag_list(value)
    return Cond.FALSE if tags and any(weak_match(t, etag) for t in tags) else Cond.TRUE


def check_unmodified_since(value: str | None, mtime: int) -> Cond:
    date = parse_http_date(value) if value is not None else None
    if date is None:
        return Cond.NONE
    return Cond.TRUE if mtime <= date else Cond.FALSE


def check_modified_since(value: str | None, mtime: int) -> Cond:
    date = parse_http_date(value) if value is not None else None
    if date is None:
        return Cond.NONE
    return Cond.TRUE if mtime > date else Cond.FALSE


def check_if_range(value: str | None, etag: ETag, mtime: int) -> Cond:
    """RFC 9110 §13.1.5: a strong ETag compared strongly, or the exact Last-Modified date."""
    if value is None:
        return Cond.NONE
    value = value.strip(" \t")
    if value.startswith(('"', "W/")):
        tags = parse_etag_list(value)
        ok = tags is not None and len(tags) == 1 and strong_match(tags[0], etag)
        return Cond.TRUE if ok else Cond.FALSE
    date = parse_http_date(value)
    return Cond.TRUE if date is not None and date == mtime else Cond.FALSE


def evaluate_preconditions(headers: Mapping[str, str], etag: ETag, mtime: int) -> Outcome:
    """RFC 9110 §13.2.2 steps 1-4 for a GET or HEAD; ``headers`` keys are lower-case.

    If-Range (step 5) only decides whether Range applies: see ``check_if_range``.
    """
    if_match = check_if_match(headers.get("if-match"), etag)
    if if_match is Cond.FALSE:
        return Outcome.PRECONDITION_FAILED
    if if_match is Cond.NONE:
        if check_unmodified_since(headers.get("if-unmodified-since"), mtime) is Cond.FALSE:
            return Outcome.PRECONDITION_FAILED
    if_none_match = check_if_none_match(headers.get("if-none-match"), etag)
    if if_none_match is Cond.FALSE:
        return Outcome.NOT_MODIFIED
    if if_none_match is Cond.NONE:
        if check_modified_since(headers.get("if-modified-since"), mtime) is Cond.FALSE:
            return Outcome.NOT_MODIFIED
    return Outcome.PROCEED
