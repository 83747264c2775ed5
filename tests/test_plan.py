"""plan_response as one named table (Go's TestServeContent): request → status, headers, body."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from streamer.http.plan import MAX_RANGES, plan_response
from streamer.http.ranges import ByteRange
from streamer.http.representation import Representation

R = ByteRange
MTIME_NS = 784111777_500_000_000  # half a second past the Last-Modified second
LM = "Sun, 06 Nov 1994 08:49:37 GMT"
LM_BEFORE = "Sun, 06 Nov 1994 08:49:36 GMT"
LM_AFTER = "Sun, 06 Nov 1994 08:49:38 GMT"
MULTIPART = "multipart/byteranges; boundary=streamer-boundary"


def rep_of(size: int, name: str = "clip.mp4") -> Representation:
    return Representation.from_stat(SimpleNamespace(st_size=size, st_mtime_ns=MTIME_NS), name)


REP = rep_of(1000)
BIG = rep_of(100_000, "big.mp4")
TINY = rep_of(131, "tiny.mp4")  # two 1-byte parts at its ends are more than 128 bytes apart
EMPTY = rep_of(0, "empty.mp4")
ETAG = str(REP.etag)
OTHER_ETAG = '"not-this-one"'

VALIDATORS = {"etag": ETAG, "last-modified": LM}
NO_BODY = {"content-type": None, "content-length": None, "content-range": None}


def common(rep: Representation) -> dict[str, str | None]:
    return {
        "etag": str(rep.etag),
        "last-modified": LM,
        "accept-ranges": "bytes",
        "content-disposition": f'inline; filename="{rep.filename}"',
        "x-content-type-options": "nosniff",
    }


COMMON = common(REP)


def whole(rep: Representation = REP) -> dict[str, str | None]:
    return {**common(rep), "content-type": rep.media_type, "content-length": str(rep.size), "content-range": None}


def part(first: int, last: int, rep: Representation = REP) -> dict[str, str | None]:
    return {
        **common(rep),
        "content-type": rep.media_type,
        "content-length": str(last - first + 1),
        "content-range": f"bytes {first}-{last}/{rep.size}",
    }


def spread(count: int, step: int = 1000) -> str:
    """``count`` one-byte ranges ``step`` bytes apart, too far apart to coalesce."""
    return "bytes=" + ",".join(f"{i * step}-{i * step}" for i in range(count))


def case(
    case_id: str,
    headers: dict[str, str],
    status: int,
    expected: dict[str, str | None],
    body: tuple[ByteRange, ...],
    *,
    method: str = "GET",
    rep: Representation = REP,
    **options: object,
) -> object:
    return pytest.param(method, headers, rep, options, status, expected, body, id=case_id)


CASES = [
    # 200: the whole file, every header once.
    case("plain-get-200", {}, 200, whole(), (R(0, 1000),)),
    case("plain-head-200", {}, 200, whole(), (R(0, 1000),), method="HEAD"),
    case(
        "attachment-disposition",
        {},
        200,
        {**whole(), "content-disposition": 'attachment; filename="clip.mp4"'},
        (R(0, 1000),),
        attachment=True,
    ),
    case(
        "non-ascii-name-filename-star",
        {},
        200,
        {"content-disposition": "inline; filename=\"caf_.mp4\"; filename*=UTF-8''caf%C3%A9.mp4"},
        (R(0, 1000),),
        rep=rep_of(1000, "café.mp4"),
    ),
    case(
        "html-file-served-as-octet-stream-nosniff",
        {},
        200,
        {"content-type": "application/octet-stream", "x-content-type-options": "nosniff"},
        (R(0, 25),),
        rep=rep_of(25, "page.html"),
    ),
    case("empty-file-200", {}, 200, whole(EMPTY), (), rep=EMPTY),
    # 206 single range.
    case("range-206", {"range": "bytes=100-199"}, 206, part(100, 199), (R(100, 200),)),
    case("range-safari-probe-two-bytes", {"range": "bytes=0-1"}, 206, part(0, 1), (R(0, 2),)),
    case("range-suffix-206", {"range": "bytes=-100"}, 206, part(900, 999), (R(900, 1000),)),
    case("range-suffix-longer-than-file", {"range": "bytes=-5000"}, 206, part(0, 999), (R(0, 1000),)),
    case("range-open-ended-206", {"range": "bytes=990-"}, 206, part(990, 999), (R(990, 1000),)),
    case("range-end-clamped", {"range": "bytes=990-5000"}, 206, part(990, 999), (R(990, 1000),)),
    case("range-last-byte", {"range": "bytes=999-999"}, 206, part(999, 999), (R(999, 1000),)),
    case("range-whole-file-still-206", {"range": "bytes=0-"}, 206, part(0, 999), (R(0, 1000),)),
    case("range-unit-case-insensitive", {"range": "Bytes=0-9"}, 206, part(0, 9), (R(0, 10),)),
    case("range-partly-unsatisfiable", {"range": "bytes=0-9,5000-"}, 206, part(0, 9), (R(0, 10),)),
    # Several ranges: multipart, or coalesced into one.
    case(
        "multipart-two-ranges",
        {"range": "bytes=0-9,500-509"},
        206,
        {**COMMON, "content-type": MULTIPART, "content-length": "209", "content-range": None},
        (R(0, 10), R(500, 510)),
    ),
    case(
        "multipart-parts-in-request-order",
        {"range": "bytes=500-509,0-9"},
        206,
        {"content-type": MULTIPART, "content-length": "209"},
        (R(500, 510), R(0, 10)),
    ),
    case(
        "coalesced-part-placed-by-its-first-request",
        {"range": "bytes=900-909,0-9,600-609,5-20"},
        206,
        {"content-type": MULTIPART},
        (R(900, 910), R(0, 21), R(600, 610)),
    ),
    case(
        "multipart-boundary-from-caller",
        {"range": "bytes=0-9,500-509"},
        206,
        {"content-type": "multipart/byteranges; boundary=abc"},
        (R(0, 10), R(500, 510)),
        boundary="abc",
    ),
    case("overlapping-ranges-coalesced-to-single", {"range": "bytes=0-99,50-149"}, 206, part(0, 149), (R(0, 150),)),
    case("nearby-ranges-coalesced-to-single", {"range": "bytes=0-9,100-109"}, 206, part(0, 109), (R(0, 110),)),
    case("duplicate-ranges-coalesced", {"range": "bytes=5-9,5-9,5-9"}, 206, part(5, 9), (R(5, 10),)),
    case(
        "many-ranges-coalesced-under-cap",
        {"range": "bytes=" + ",".join(f"{i}-{i}" for i in range(MAX_RANGES * 4))},
        206,
        part(0, MAX_RANGES * 4 - 1, BIG),
        (R(0, MAX_RANGES * 4),),
        rep=BIG,
    ),
    case(
        "max-ranges-allowed",
        {"range": spread(MAX_RANGES)},
        206,
        {"content-type": MULTIPART, "content-range": None},
        tuple(R(i * 1000, i * 1000 + 1) for i in range(MAX_RANGES)),
        rep=BIG,
    ),
    case(
        "too-many-ranges-200",
        {"range": spread(MAX_RANGES + 1)},
        200,
        whole(BIG),
        (R(0, 100_000),),
        rep=BIG,
    ),
    case(
        "max-ranges-option",
        {"range": spread(3)},
        200,
        whole(BIG),
        (R(0, 100_000),),
        rep=BIG,
        max_ranges=2,
    ),
    case(
        "multipart-within-twice-file-206",
        {"range": "bytes=0-0,130-130"},
        206,
        {"content-type": MULTIPART, "content-length": "189"},
        (R(0, 1), R(130, 131)),
        rep=TINY,
    ),
    case(
        "multipart-over-twice-file-200",
        {"range": "bytes=0-0,130-130"},
        200,
        whole(TINY),
        (R(0, 131),),
        rep=TINY,
        boundary="b" * 70,  # the longest boundary RFC 2046 allows
    ),
    # 416.
    case("unsatisfiable-416", {"range": "bytes=1000-"}, 416, {"content-range": "bytes */1000"}, ()),
    case("unsatisfiable-suffix-zero-416", {"range": "bytes=-0"}, 416, {"content-range": "bytes */1000"}, ()),
    case(
        "unsatisfiable-all-ranges-416", {"range": "bytes=1000-1999,2000-"}, 416, {"content-range": "bytes */1000"}, ()
    ),
    # Invalid or foreign Range: ignored.
    case("invalid-range-ignored-200", {"range": "bytes=5-4"}, 200, whole(), (R(0, 1000),)),
    case("garbage-range-ignored-200", {"range": "bytes=abc"}, 200, whole(), (R(0, 1000),)),
    case("plus-sign-range-ignored-200", {"range": "bytes=+0-9"}, 200, whole(), (R(0, 1000),)),
    case("non-ascii-digit-range-ignored-200", {"range": "bytes=\u0660-9"}, 200, whole(), (R(0, 1000),)),
    case("other-unit-ignored-200", {"range": "items=0-9"}, 200, whole(), (R(0, 1000),)),
    case("empty-range-value-ignored-200", {"range": ""}, 200, whole(), (R(0, 1000),)),
    # Empty file: Range ignored (200), never 416.
    case("empty-file-range-200", {"range": "bytes=0-"}, 200, whole(EMPTY), (), rep=EMPTY),
    case("empty-file-suffix-range-200", {"range": "bytes=-1"}, 200, {"content-length": "0"}, (), rep=EMPTY),
    # Range is for GET only.
    case("head-with-range-200", {"range": "bytes=0-9"}, 200, whole(), (R(0, 1000),), method="HEAD"),
    case("head-with-unsatisfiable-range-200", {"range": "bytes=5000-"}, 200, whole(), (R(0, 1000),), method="HEAD"),
    # If-Range.
    case("if-range-matching-etag-206", {"range": "bytes=0-9", "if-range": ETAG}, 206, part(0, 9), (R(0, 10),)),
    case("if-range-weak-etag-200", {"range": "bytes=0-9", "if-range": "W/" + ETAG}, 200, whole(), (R(0, 1000),)),
    case("if-range-other-etag-200", {"range": "bytes=0-9", "if-range": OTHER_ETAG}, 200, whole(), (R(0, 1000),)),
    case("if-range-exact-date-206", {"range": "bytes=0-9", "if-range": LM}, 206, part(0, 9), (R(0, 10),)),
    case("if-range-later-date-200", {"range": "bytes=0-9", "if-range": LM_AFTER}, 200, whole(), (R(0, 1000),)),
    case("if-range-earlier-date-200", {"range": "bytes=0-9", "if-range": LM_BEFORE}, 200, whole(), (R(0, 1000),)),
    case("if-range-invalid-date-200", {"range": "bytes=0-9", "if-range": "yesterday"}, 200, whole(), (R(0, 1000),)),
    case(
        "if-range-mismatch-beats-416",
        {"range": "bytes=5000-", "if-range": OTHER_ETAG},
        200,
        whole(),
        (R(0, 1000),),
    ),
    case("if-range-without-range-200", {"if-range": ETAG}, 200, whole(), (R(0, 1000),)),
    # 304: validators, no body.
    case("if-none-match-304", {"if-none-match": ETAG}, 304, {**VALIDATORS, **NO_BODY}, ()),
    case("if-none-match-star-304", {"if-none-match": "*"}, 304, {**VALIDATORS, **NO_BODY}, ()),
    case("if-none-match-weak-304", {"if-none-match": "W/" + ETAG}, 304, {**VALIDATORS, **NO_BODY}, ()),
    case("if-none-match-other-200", {"if-none-match": OTHER_ETAG}, 200, whole(), (R(0, 1000),)),
    case("if-modified-since-same-second-304", {"if-modified-since": LM}, 304, {**VALIDATORS, **NO_BODY}, ()),
    case("if-modified-since-earlier-200", {"if-modified-since": LM_BEFORE}, 200, whole(), (R(0, 1000),)),
    case("invalid-if-modified-since-ignored", {"if-modified-since": "yesterday"}, 200, whole(), (R(0, 1000),)),
    case(
        "year-zero-if-modified-since-ignored",
        {"if-modified-since": "Sat, 06 Nov 0000 08:49:37 GMT"},
        200,
        whole(),
        (R(0, 1000),),
    ),
    case(
        "year-zero-if-range-ignores-range",
        {"range": "bytes=0-9", "if-range": "Sat, 06 Nov 0000 08:49:37 GMT"},
        200,
        whole(),
        (R(0, 1000),),
    ),
    case(
        "if-none-match-beats-if-modified-since",
        {"if-none-match": OTHER_ETAG, "if-modified-since": LM},
        200,
        whole(),
        (R(0, 1000),),
    ),
    case("304-beats-range", {"if-none-match": ETAG, "range": "bytes=0-9"}, 304, {**VALIDATORS, **NO_BODY}, ()),
    case("304-beats-416", {"if-none-match": ETAG, "range": "bytes=5000-"}, 304, {**VALIDATORS, **NO_BODY}, ()),
    case("head-if-none-match-304", {"if-none-match": ETAG}, 304, {**VALIDATORS, **NO_BODY}, (), method="HEAD"),
    # 412.
    case("if-match-other-412", {"if-match": OTHER_ETAG}, 412, {"etag": ETAG, **NO_BODY}, ()),
    case("if-match-weak-412", {"if-match": "W/" + ETAG}, 412, {"etag": ETAG, **NO_BODY}, ()),
    case("if-match-matching-200", {"if-match": ETAG}, 200, whole(), (R(0, 1000),)),
    case("if-match-star-range-206", {"if-match": "*", "range": "bytes=0-9"}, 206, part(0, 9), (R(0, 10),)),
    case("if-unmodified-since-earlier-412", {"if-unmodified-since": LM_BEFORE}, 412, {"etag": ETAG, **NO_BODY}, ()),
    case("if-unmodified-since-same-second-200", {"if-unmodified-since": LM}, 200, whole(), (R(0, 1000),)),
    case(
        "if-unmodified-since-ignored-when-if-match-present",
        {"if-match": ETAG, "if-unmodified-since": LM_BEFORE},
        200,
        whole(),
        (R(0, 1000),),
    ),
    case("412-beats-304", {"if-match": OTHER_ETAG, "if-none-match": ETAG}, 412, {"etag": ETAG}, ()),
    case("412-beats-416", {"if-match": OTHER_ETAG, "range": "bytes=5000-"}, 412, {"content-range": None}, ()),
    case("head-412", {"if-match": OTHER_ETAG}, 412, {"etag": ETAG, **NO_BODY}, (), method="HEAD"),
]


@pytest.mark.parametrize(("method", "headers", "rep", "options", "status", "expected", "body"), CASES)
def test_plan_response(
    method: str,
    headers: dict[str, str],
    rep: Representation,
    options: dict[str, object],
    status: int,
    expected: dict[str, str | None],
    body: tuple[ByteRange, ...],
) -> None:
    plan = plan_response(method, headers, rep, **options)  # type: ignore[arg-type]
    assert plan.status == status
    names = [name for name, _ in plan.headers]
    assert len(names) == len(set(names)), f"a header appears twice: {names}"
    assert all(name == name.lower() for name in names)
    for name, value in expected.items():
        assert plan.header(name) == value, name
    assert tuple(s for s in plan.body if isinstance(s, ByteRange)) == body
    if status in (200, 206):
        assert plan.header("content-type") is not None
        assert plan.header("content-length") == str(plan.content_length)
        if not str(plan.header("content-type")).startswith("multipart/"):
            assert plan.body == body
    else:
        assert plan.body == ()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "head"])
def test_plan_response_rejects_other_methods(method: str) -> None:
    with pytest.raises(ValueError, match=method):
        plan_response(method, {}, REP)


@pytest.mark.parametrize(
    "size", [pytest.param(1, id="one-byte"), pytest.param(1000, id="small"), pytest.param(10**12, id="terabyte")]
)
def test_whole_body_is_one_range(size: int) -> None:
    plan = plan_response("GET", {}, rep_of(size))
    assert plan.body == (ByteRange(0, size),)
    assert plan.content_length == size == int(plan.header("content-length") or "")


def test_plan_detail_for_errors() -> None:
    assert "1000" in plan_response("GET", {"range": "bytes=5000-"}, REP).detail
    assert plan_response("GET", {"if-match": OTHER_ETAG}, REP).detail
