"""Range and the conditional headers, fuzzed against a live server (both io forms) with a spec oracle.

Every generated value carries what it means, by construction: an If-Match that
names the current strong ETag passes, a date one second before Last-Modified
makes If-Unmodified-Since fail, a single well-formed range names its bytes, and
free text means "unknown". For every response: no 5xx, a status RFC 9110 allows
for the headers sent, exact framing, and bytes equal to the known content
(multipart parts one by one). When every header's meaning is known, the status
must be the one RFC 9110 §13.2.2 gives. ``/media`` files are read from the
media root; ``/bytes`` is regenerated with hashlib as the README shows; ``/range``
is a..z.
"""

from __future__ import annotations

import hashlib
import resource
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from streamer.web.limits import MAX_FIELD_BYTES
from streamer.http.plan import MAX_RANGES, MULTIPART_MAX_RATIO
from tests.conftest import BIG_SIZE, ServerThread
from tests.http import wire

EXAMPLES = 150
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # The autouse server-log guard is function-scoped on purpose: it spans every example of a test.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
RESOURCES = {
    "media": ["/media/small.bin", "/media/clip.mp4", "/media/empty.bin", "/media/sub/nested.webm"],
    "bytes": ["/bytes/0", "/bytes/1", "/bytes/1000?seed=7", "/bytes/70000"],
    "range": ["/range/0", "/range/26", "/range/1000", "/range/70000"],
}
ALLOWED = {200, 206, 304, 412, 416}
UNKNOWN = None  # the meaning of a value the oracle does not model (free text)
IGNORED = "ignored"  # a field value RFC 9110 says to ignore (an invalid date)
SUPERSCRIPT_TWO = "\u00b2"  # str.isdigit() is true for it; HTTP digits are ASCII only
TEXT = st.text(st.characters(codec="latin-1", categories=["L", "N", "P", "S", "Zs"]), max_size=40)

# ---------------------------------------------------------------- the content and its validators


@dataclass(frozen=True)
class Known:
    path: str
    content: bytes
    etag: str
    last_modified: int  # epoch seconds
    media_type: str

    @property
    def size(self) -> int:
        return len(self.content)


@cache
def expected_content(media_root: Path, path: str) -> bytes:
    route, _, rest = path.removeprefix("/").partition("/")
    if route == "media":
        return (media_root / rest).read_bytes()
    size, _, query = rest.partition("?")
    if route == "range":
        return (b"abcdefghijklmnopqrstuvwxyz" * (int(size) // 26 + 1))[: int(size)]
    seed = query.removeprefix("seed=") or "0"
    period = hashlib.shake_256(b"streamer-bytes-v1:" + seed.encode()).digest(1 << 20)
    return (period * (int(size) // len(period) + 1))[: int(size)]


@cache
def describe(port: int, media_root: Path, path: str) -> Known:
    head = wire.request(port, "HEAD", path)
    assert head.status == 200
    last_modified = int(parsedate_to_datetime(head.header("last-modified")).timestamp())
    content = expected_content(media_root, path)
    assert head.header("content-length") == str(len(content))
    return Known(path, content, head.header("etag"), last_modified, head.header("content-type"))


# ---------------------------------------------------------------- values, each with its meaning


@dataclass(frozen=True)
class Field:
    value: str
    meaning: object  # see each strategy


def fields(*pairs: tuple[str, object]) -> st.SearchStrategy[Field]:
    return st.sampled_from([Field(value, meaning) for value, meaning in pairs])


MaybeField = st.SearchStrategy[Field | None]


def one_in(n: int, rare: MaybeField, usual: MaybeField) -> MaybeField:
    return st.sampled_from([rare] + [usual] * (n - 1)).flatmap(lambda chosen: chosen)


def with_noise(known: st.SearchStrategy[Field]) -> st.SearchStrategy[Field]:
    """Values of known meaning, and one time in four free text."""
    return one_in(4, TEXT.map(lambda text: Field(text, UNKNOWN)), known)  # type: ignore[return-value]


def if_match(etag: str) -> st.SearchStrategy[Field]:
    """Meaning: True passes (``*`` or the strong ETag listed), False fails with 412."""
    other = etag[:-1] + 'x"'
    return with_noise(fields(
        ("*", True), (etag, True), (f'"a", {etag}', True), (f" {etag} ,W/\"b\"", True),
        (f"W/{etag}", False), (other, False), (f'{other}, W/"c"', False), ('""', False),
    ))


def if_none_match(etag: str) -> st.SearchStrategy[Field]:
    """Meaning: True means some tag matches weakly (304), False that none does."""
    other = etag[:-1] + 'x"'
    return with_noise(fields(
        ("*", True), (etag, True), (f"W/{etag}", True), (f'W/"a", {etag}', True),
        (other, False), (f"W/{other}", False), ('"", W/"b"', False),
    ))


def http_dates(epoch: int) -> list[str]:
    """The three HTTP-date forms of RFC 9110 §5.6.7."""
    moment = time.gmtime(epoch)
    return [formatdate(epoch, usegmt=True), time.strftime("%A, %d-%b-%y %H:%M:%S GMT", moment),
            time.strftime("%a %b %e %H:%M:%S %Y", moment)]


def malformed_dates(epoch: int) -> list[str]:
    """Not HTTP-dates by the grammar (or a list of two), which RFC 9110 §13.1.3-4 says to ignore."""
    imf = formatdate(epoch, usegmt=True)  # "Sat, 21 Nov 2026 12:50:16 GMT"
    return [
        imf.replace("GMT", "UTC"), imf.removesuffix(" GMT"), imf.lower(), imf[5:], imf.replace(":", "."),
        imf[:12] + imf[14:], f"{imf}, {imf}", str(epoch), "", imf.replace("2", SUPERSCRIPT_TWO, 1),
    ]


def dates(last_modified: int) -> st.SearchStrategy[Field]:
    """Meaning: the epoch seconds of a valid date, IGNORED for an invalid one, or UNKNOWN."""
    valid = [
        Field(text, epoch)
        for epoch in (last_modified - 1, last_modified, last_modified + 1, last_modified - 86400, 0)
        for text in http_dates(epoch)
    ]
    invalid = [Field(text, IGNORED) for text in malformed_dates(last_modified)]
    impossible = [Field(text, UNKNOWN) for text in ("Sat, 31 Feb 2024 10:00:00 GMT", "Sun, 00 Jan 0000 00:00:00 GMT")]
    return with_noise(st.sampled_from(valid + invalid + impossible))


def if_range(known: Known) -> st.SearchStrategy[Field]:
    """Meaning: True when the validator is the strong ETag or exactly Last-Modified (RFC 9110 §13.1.5)."""
    imf, before, after = (formatdate(known.last_modified + delta, usegmt=True) for delta in (0, -1, 1))
    return with_noise(fields(
        (known.etag, True), (imf, True), (f"W/{known.etag}", False), (known.etag[:-1] + 'x"', False),
        (before, False), (after, False),
    ))


@dataclass(frozen=True)
class Single:
    first: int
    last: int


@dataclass(frozen=True)
class Several:
    parts: tuple[Single, ...]  # in request order, which the parts keep (RFC 9110 §14.6)


UNSATISFIABLE = "unsatisfiable"
SEPARATE_GAP = 200  # bytes between ranges: more than the 128 under which the server merges them
SEPARATE_SPAN = 60  # bytes per range at most, so five parts stay well under twice a 1000-byte file
HUGE = [2**63 - 1, 2**64, 10**40, 10**63, 10**64, 10**70]  # up to 64 digits parse; 65 and more are invalid
BAD_SPECS = ["", "-", "5", "+1-2", "1-+2", "-+3", "0x1-2", "1_0-20", f"{SUPERSCRIPT_TWO}-5", "1 -2", "1.0-2", "--1",
             "1--2", "a-b", "*", "-1-2", "1-2-3"]
UNITS = ["bytes", "Bytes", "BYTES", " bytes ", "bytes\t", "items", "none", "byte", "", "bytes;q=1"]


def single_range(size: int) -> st.SearchStrategy[Field]:
    """One satisfiable range in any of its spellings; meaning: the inclusive first and last byte."""
    first = st.integers(0, size - 1)
    closed = st.tuples(first, st.integers(0, size + 10) | st.sampled_from(HUGE[:4])).map(
        lambda ab: (f"{ab[0]}-{max(ab)}", Single(ab[0], min(max(ab), size - 1)))
    )
    opened = first.map(lambda a: (f"{a}-", Single(a, size - 1)))
    suffix = (st.integers(1, size + 10) | st.sampled_from(HUGE[:4])).map(
        lambda n: (f"-{n}", Single(max(size - n, 0), size - 1))
    )
    spelled = st.sampled_from(["bytes={}", "Bytes={}", "bytes= {}", "bytes={},", "bytes=,{}", "bytes={}, {}"])
    return st.tuples(closed | opened | suffix, spelled).map(
        lambda spec_form: Field(spec_form[1].replace("{}", spec_form[0][0]), spec_form[0][1])
    )


def several_ranges(size: int) -> st.SearchStrategy[Field]:
    """Two to five short ranges far apart, in any order; meaning: the parts of the multipart answer."""
    positions = range(0, size - SEPARATE_SPAN, SEPARATE_GAP)
    starts = st.lists(st.sampled_from(positions), min_size=2, max_size=5, unique=True)
    spans = st.lists(st.integers(1, SEPARATE_SPAN), min_size=5, max_size=5)

    def field(firsts: list[int], lengths: list[int]) -> Field:
        parts = tuple(Single(first, first + length - 1) for first, length in zip(firsts, lengths))
        return Field("bytes=" + ",".join(f"{part.first}-{part.last}" for part in parts), Several(parts))

    return st.builds(field, starts, spans)


def unsatisfiable_range(size: int) -> st.SearchStrategy[Field]:
    """Well-formed, but no range overlaps the content (RFC 9110 §14.1.1); meaning: UNSATISFIABLE."""
    start = st.integers(size, size + 100) | st.sampled_from(HUGE[:4])
    spec = start.map(lambda a: f"{a}-") | st.tuples(start, st.integers(0, 50)).map(lambda a_n: f"{a_n[0]}-{sum(a_n)}")
    return st.lists(spec | st.just("-0"), min_size=1, max_size=3).map(
        lambda specs: Field("bytes=" + ",".join(specs), UNSATISFIABLE)
    )


def any_range(size: int) -> st.SearchStrategy[Field]:
    """Lists mixing good and bad specs, other units, huge numbers, whitespace and free text; meaning unknown."""
    number = st.integers(0, size + 2) | st.sampled_from(HUGE) | st.integers(0, 10**70)
    spec = st.one_of(
        st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.tuples(number, number).map(lambda ab: f"{max(ab)}-{min(ab)}"),
        number.map(lambda a: f"{a}-"), number.map(lambda n: f"-{n}"), st.sampled_from(BAD_SPECS),
    )
    listed = st.builds(
        lambda unit, eq, specs, sep: unit + eq + sep.join(specs),
        st.sampled_from(UNITS), st.sampled_from(["=", "=", " = ", ":", ""]),
        st.lists(spec, min_size=0, max_size=20), st.sampled_from([",", ", ", " ,", ",\t", ",,"]),
    )
    return (listed | TEXT).map(lambda text: Field(text, UNKNOWN))


def range_field(size: int) -> st.SearchStrategy[Field]:
    """Mostly one good range, then anything, then several far apart or well-formed but unsatisfiable."""
    if size == 0:
        return any_range(size) | unsatisfiable_range(size)
    kinds = [single_range(size)] * 4 + [any_range(size)] * 3 + [unsatisfiable_range(size)] * 2
    if size >= 2 * SEPARATE_GAP:
        kinds += [several_ranges(size)] * 2
    return st.sampled_from(kinds).flatmap(lambda kind: kind)


# ---------------------------------------------------------------- one request and the oracle


@dataclass(frozen=True)
class Case:
    sent: dict[str, Field]
    split_range: bool  # Range sent as two field lines: the same field, once joined with ", " (RFC 9110 §5.3)

    def lines(self) -> list[tuple[str, str]]:
        lines = [(name, field.value) for name, field in self.sent.items() if name != "range"]
        if "range" in self.sent:
            value = self.sent["range"].value
            head, comma, tail = value.partition(",")
            parts = [head, tail] if self.split_range and comma else [value]
            lines += [("range", part) for part in parts]
        return lines


def cases(known: Known) -> st.SearchStrategy[Case]:
    strategies = {
        "range": range_field(known.size),
        "if-range": if_range(known),
        "if-match": if_match(known.etag),
        "if-none-match": if_none_match(known.etag),
        "if-modified-since": dates(known.last_modified),
        "if-unmodified-since": dates(known.last_modified),
    }
    # Range nearly always, each conditional one time in five: most answers get as far as the ranges.
    optional = {name: one_in(5, strategy, st.none()) for name, strategy in strategies.items()}
    optional["range"] = one_in(6, st.none(), strategies["range"])
    return st.builds(
        lambda drawn, split: Case({name: field for name, field in drawn.items() if field is not None}, split),
        st.fixed_dictionaries(optional), st.booleans(),
    )


def meaning(case: Case, name: str) -> object:
    return case.sent[name].meaning if name in case.sent else IGNORED


def precondition_status(case: Case, last_modified: int) -> int | None:
    """RFC 9110 §13.2.2 steps 1-4 for a GET: 412, 304, 0 to go on, or None if a value is unknown."""
    if_match, unmodified = meaning(case, "if-match"), meaning(case, "if-unmodified-since")
    if_none_match, modified = meaning(case, "if-none-match"), meaning(case, "if-modified-since")
    if if_match is IGNORED:  # step 2 only without If-Match
        if_match = unmodified is IGNORED or (isinstance(unmodified, int) and last_modified <= unmodified)
        if_match = UNKNOWN if unmodified is UNKNOWN else if_match
    if if_match is UNKNOWN:
        return None
    if if_match is False:
        return 412
    if if_none_match is IGNORED:  # step 4 only without If-None-Match
        if_none_match = isinstance(modified, int) and last_modified <= modified
        if_none_match = UNKNOWN if modified is UNKNOWN else if_none_match
    if if_none_match is UNKNOWN:
        return None
    return 304 if if_none_match else 0


def expected_status(case: Case, known: Known) -> int | None:
    """The one status RFC 9110 (and the README's local choices) gives, or None when it depends on an unknown."""
    status = precondition_status(case, known.last_modified)
    if status != 0:
        return status
    if "range" not in case.sent or known.size == 0:  # Range on empty content is ignored, as in Go (README)
        return 200
    applies, ranges = meaning(case, "if-range"), case.sent["range"].meaning
    if applies is False:
        return 200
    if applies is UNKNOWN or ranges is UNKNOWN:
        return None
    return 416 if ranges == UNSATISFIABLE else 206


def check(response: wire.WireResponse, case: Case, known: Known) -> None:
    assert response.status in ALLOWED, response.status
    assert response.status not in (206, 416) or "range" in case.sent
    assert response.status != 304 or {"if-none-match", "if-modified-since"} & case.sent.keys()
    assert response.status != 412 or {"if-match", "if-unmodified-since"} & case.sent.keys()
    if response.status in (200, 206, 304):
        assert response.header("etag") == known.etag
    if response.status == 416:
        assert response.header("content-range") == f"bytes */{known.size}"
    if response.status in (200, 206):
        wire.assert_body_matches(response, known.content)
    if response.status == 206:
        check_partial(response, known)
    expected = expected_status(case, known)
    multipart = " multipart" if any(v.startswith(wire.MULTIPART) for v in response.values("content-type")) else ""
    event(f"{response.status}{multipart}, oracle {'rules only' if expected is None else 'exact'}")
    assert expected is None or response.status == expected, f"RFC 9110 says {expected}"
    named = expected_content_ranges(case.sent["range"].meaning, known.size) if "range" in case.sent else None
    if response.status == 206 and named is not None:
        assert content_ranges(response) == named


def content_ranges(response: wire.WireResponse) -> list[str]:
    content_type = response.header("content-type")
    if not content_type.startswith(wire.MULTIPART):
        return [response.header("content-range")]
    parts = wire.parse_byteranges(response.body, content_type.removeprefix(wire.MULTIPART))
    return [headers["content-range"] for headers, _ in parts]


def expected_content_ranges(meaning: object, size: int) -> list[str] | None:
    parts = [meaning] if isinstance(meaning, Single) else meaning.parts if isinstance(meaning, Several) else None
    return None if parts is None else [f"bytes {part.first}-{part.last}/{size}" for part in parts]


def check_partial(response: wire.WireResponse, known: Known) -> None:
    content_type = response.header("content-type")
    if not content_type.startswith(wire.MULTIPART):
        assert content_type == known.media_type
        return
    parts = wire.parse_byteranges(response.body, content_type.removeprefix(wire.MULTIPART))
    assert 2 <= len(parts) <= MAX_RANGES
    assert len(response.body) <= MULTIPART_MAX_RATIO * known.size
    assert all(headers["content-type"] == known.media_type for headers, _ in parts)


@pytest.mark.parametrize("family", list(RESOURCES))
@FUZZ
@given(data=st.data())
def test_fuzzed_range_and_conditionals(
    server: ServerThread, media_root: Path, family: str, data: st.DataObject
) -> None:
    known = describe(server.port, media_root, data.draw(st.sampled_from(RESOURCES[family]), label="path"))
    case = data.draw(cases(known), label="case")
    check(wire.get(server.port, known.path, case.lines()), case, known)


# ---------------------------------------------------------------- huge Range headers: bounded work


WALL_LIMIT_S = 2.0
RSS_GROWTH_LIMIT = 64 << 20  # a coarse ceiling (freed memory is reused): a server copying per range would pass it
HEAD_ALLOWANCE = 64 * 1024  # status line and header fields


def thousand(spec: str) -> str:
    return "bytes=" + ",".join(spec.format(i=i) for i in range(1000))


def fill(spec: str, step: int = 0) -> str:
    """As many ranges as fit in one Range field line of at most 8 KiB (name included)."""
    specs: list[str] = []
    while len("Range" + "bytes=" + ",".join([*specs, spec.format(i=len(specs) * step)])) <= MAX_FIELD_BYTES:
        specs.append(spec.format(i=len(specs) * step))
    return "bytes=" + ",".join(specs)


HUGE_HEADERS = [
    pytest.param(thousand("0-0"), 206, "bytes 0-0/", id="1000-identical-coalesced"),
    pytest.param(thousand("-{i}"), 206, f"bytes {BIG_SIZE - 999}-", id="1000-suffixes-coalesced"),
    pytest.param(thousand("{i}-"), 206, "bytes 0-", id="1000-open-ended-coalesced"),
    pytest.param(fill("{i}-{i}", 9000), 200, None, id="8-kib-far-apart-over-the-cap"),
    pytest.param(fill("{i}-{i}", 1), 206, "bytes 0-", id="8-kib-adjacent-coalesced"),
    pytest.param(fill("0-0"), 206, "bytes 0-0/", id="8-kib-identical"),
    pytest.param(fill("0-0") + ",0-0", 431, None, id="over-8-kib-refused"),
]


@contextmanager
def peak_rss_growth() -> Iterator[list[int]]:
    """Samples this process's RSS (the server runs in it) while the block runs; yields [growth in bytes]."""
    page = resource.getpagesize()

    def rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * page

    baseline, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.002):
            peak[0] = max(peak[0], rss() - baseline)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], rss() - baseline)


def bounded_get(port: int, path: str, header: str) -> tuple[wire.WireResponse, float]:
    """A GET that gives up past twice the content or the wall limit, so a regression fails instead of eating memory."""
    started, received = time.perf_counter(), bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=WALL_LIMIT_S) as sock:
        sock.sendall(wire.build_request("GET", path.encode(), [("Range", header)]))
        while chunk := sock.recv(1 << 16):
            received += chunk
            assert len(received) <= MULTIPART_MAX_RATIO * BIG_SIZE + HEAD_ALLOWANCE, "body over twice the content"
            assert time.perf_counter() - started < WALL_LIMIT_S
    response = wire.parse_response(bytes(received))
    wire.check_framing("GET", response)
    return response, time.perf_counter() - started


@pytest.mark.parametrize("path", ["/media/big.bin", f"/bytes/{BIG_SIZE}", f"/range/{BIG_SIZE}"])
@pytest.mark.parametrize(("header", "status", "content_range"), HUGE_HEADERS)
def test_huge_range_headers_are_bounded_work(
    server: ServerThread, media_root: Path, path: str, header: str, status: int, content_range: str | None
) -> None:
    assert header.count(",") + 1 >= 1000 or len("Range" + header) > MAX_FIELD_BYTES - 16
    with peak_rss_growth() as growth:
        response, elapsed = bounded_get(server.port, path, header)
    assert response.status == status
    assert elapsed < WALL_LIMIT_S
    assert growth[0] < RSS_GROWTH_LIMIT
    if content_range is not None:
        assert response.header("content-range").startswith(content_range)
    if status in (200, 206):
        wire.assert_body_matches(response, expected_content(media_root, path))
