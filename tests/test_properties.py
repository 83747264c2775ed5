"""Property tests: any Range header gives a valid plan, every 206 body is the right slice, coalesce is exact."""

from __future__ import annotations

import random
import re

from hypothesis import assume, event, given
from hypothesis import strategies as st

from streamer.http.plan import MULTIPART_MAX_RATIO, ResponsePlan, plan_response
from streamer.http.ranges import ByteRange, coalesce
from streamer.http.representation import Representation
from tests.test_multipart import content_range, materialise, parse_multipart

BOUNDARY = "streamer-boundary"
MTIME_NS = 1_700_000_000_000_000_000
_SINGLE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+)")

positions = st.integers(min_value=0, max_value=6000)
spec = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", positions, positions),
    st.builds(lambda a: f"{a}-", positions),
    st.builds(lambda n: f"-{n}", positions),
)
well_formed = st.builds(
    lambda unit, specs, sep: unit + sep.join(specs),
    st.sampled_from(["bytes=", "Bytes=", "BYTES=", "bytes= "]),
    st.lists(spec, min_size=1, max_size=24),
    st.sampled_from([",", ", ", " ,", ",\t", ",,"]),
)
near_miss = st.text(alphabet="bytes=0123456789-, \t+_*\u0661", max_size=40)
range_headers = st.one_of(well_formed, near_miss, st.text(max_size=40))
if_range = st.sampled_from([None, "etag", "date", "W/etag", '"other"', "junk"])


def representation(size: int) -> Representation:
    return Representation(size, MTIME_NS, "video/mp4", "clip.mp4")


def request_headers(header: str, if_range_kind: str | None, rep: Representation) -> dict[str, str]:
    headers = {"range": header}
    if if_range_kind is not None:
        headers["if-range"] = {
            "etag": str(rep.etag),
            "W/etag": f"W/{rep.etag}",
            "date": "Tue, 14 Nov 2023 22:13:20 GMT",  # MTIME_NS in whole seconds
        }.get(if_range_kind, if_range_kind)
    return headers


def check_plan(plan: ResponsePlan, size: int) -> None:
    assert plan.status in (200, 206, 416)
    names = [name for name, _ in plan.headers]
    assert len(names) == len(set(names))
    if plan.status == 416:
        assert plan.header("content-range") == f"bytes */{size}"
        assert plan.body == ()
        return
    assert plan.header("content-length") == str(plan.content_length)
    if plan.status == 200:
        assert plan.body == ((ByteRange(0, size),) if size else ())
        assert plan.header("content-range") is None
    elif plan.header("content-type") == "video/mp4":
        (only,) = plan.body
        assert isinstance(only, ByteRange) and 0 <= only.start < only.stop <= size
        assert plan.header("content-range") == f"bytes {only.start}-{only.stop - 1}/{size}"
    else:
        assert plan.header("content-type") == f"multipart/byteranges; boundary={BOUNDARY}"
        assert plan.content_length <= MULTIPART_MAX_RATIO * size


@given(header=range_headers, size=st.integers(min_value=0, max_value=5000), if_range_kind=if_range)
def test_any_range_header_gives_a_valid_plan(header: str, size: int, if_range_kind: str | None) -> None:
    rep = representation(size)
    plan = plan_response("GET", request_headers(header, if_range_kind, rep), rep)
    event(f"status {plan.status}")
    check_plan(plan, size)


def satisfiable_header(size: int) -> st.SearchStrategy[str]:
    """Mostly-satisfiable well-formed headers for a file of ``size`` bytes (a few specs past the end)."""
    at = st.integers(min_value=0, max_value=size + 10)
    ordered = st.builds(lambda a, b: f"{min(a, b)}-{max(a, b)}", at, at)
    specs = st.one_of(ordered, st.builds(lambda a: f"{a}-", at), st.builds(lambda n: f"-{n}", at))
    return st.builds(",".join, st.lists(specs, min_size=1, max_size=8))


def separate_header(size: int) -> st.SearchStrategy[str]:
    """Several short ranges far enough apart that they stay separate parts."""
    starts = st.lists(st.sampled_from(range(0, size, 200)), min_size=2, max_size=6, unique=True)
    lengths = st.integers(min_value=1, max_value=60)
    return st.builds(
        lambda firsts, length: ",".join(f"{a}-{a + length - 1}" for a in firsts), starts, lengths
    )


sized_headers = st.one_of(
    st.integers(min_value=1, max_value=5000).flatmap(lambda size: st.tuples(st.just(size), satisfiable_header(size))),
    st.integers(min_value=400, max_value=5000).flatmap(lambda size: st.tuples(st.just(size), separate_header(size))),
)


@given(size_header=sized_headers, seed=st.integers(0, 2**32 - 1))
def test_every_206_body_is_the_matching_slice(size_header: tuple[int, str], seed: int) -> None:
    size, specs = size_header
    header = "bytes=" + specs
    data = random.Random(seed).randbytes(size)
    assume(b"--" + BOUNDARY.encode() not in data)
    plan = plan_response("GET", {"range": header}, representation(size))
    check_plan(plan, size)
    assume(plan.status == 206)
    body = materialise(plan.body, data)
    assert len(body) == plan.content_length
    content_type = plan.header("content-type")
    event("single range" if content_type == "video/mp4" else "multipart")
    if content_type == "video/mp4":
        match = _SINGLE.fullmatch(plan.header("content-range") or "")
        assert match is not None
        first, last, complete = map(int, match.groups())
        assert complete == size
        assert body == data[first : last + 1]
        return
    parts = parse_multipart(body, BOUNDARY)
    assert len(parts) >= 2
    part_ranges = []
    for headers, payload in parts:
        assert headers["Content-Type"] == "video/mp4"
        part_range, complete = content_range(headers["Content-Range"])
        assert complete == size
        assert payload == data[part_range.start : part_range.stop]
        part_ranges.append(part_range)
    ordered = sorted(part_ranges)
    assert all(a.stop < b.start for a, b in zip(ordered, ordered[1:]))  # coalesced: disjoint, not touching


byte_ranges = st.builds(
    lambda start, length: ByteRange(start, start + length),
    st.integers(min_value=0, max_value=2000),
    st.integers(min_value=1, max_value=300),
)


def covered(ranges: list[ByteRange]) -> set[int]:
    return {offset for r in ranges for offset in range(r.start, r.stop)}


@given(ranges=st.lists(byte_ranges, max_size=20))
def test_coalesce_without_gap_is_the_exact_union(ranges: list[ByteRange]) -> None:
    merged = coalesce(ranges, gap=0)
    assert merged == sorted(merged)
    assert all(a.stop < b.start for a, b in zip(merged, merged[1:]))
    assert covered(merged) == covered(ranges)


@given(ranges=st.lists(byte_ranges, max_size=20), gap=st.integers(min_value=0, max_value=200))
def test_coalesce_with_gap_fills_only_small_holes(ranges: list[ByteRange], gap: int) -> None:
    merged = coalesce(ranges, gap)
    assert merged == sorted(merged)
    assert all(a.stop + gap < b.start for a, b in zip(merged, merged[1:]))
    union = covered(ranges)
    assert union <= covered(merged)
    assert {r.start for r in merged} <= {r.start for r in ranges}
    assert {r.stop for r in merged} <= {r.stop for r in ranges}
    holes = sorted(covered(merged) - union)
    runs = []  # lengths of maximal runs of filled-in offsets
    for offset in holes:
        if runs and offset == runs[-1][1]:
            runs[-1][1] += 1
        else:
            runs.append([offset, offset + 1])
    assert all(stop - start <= gap for start, stop in runs)
