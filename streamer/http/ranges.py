"""Byte ranges: parse a Range header, coalesce, format Content-Range (RFC 9110 §14).

No I/O in this module. One convention everywhere: ``ByteRange(start, stop)`` is
half-open like a slice; only ``format_content_range`` speaks the inclusive form.
``parse_range`` returns ``None`` to mean "ignore the header" and never picks a status.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_INT_DIGITS = 64  # far beyond any file size (u64 max has 20 digits), and still cheap to parse
COALESCE_GAP = 128  # bytes: ranges closer than about one part header are merged


@dataclass(frozen=True, order=True)
class ByteRange:
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Unsatisfiable:
    """Every range in a valid header lies outside a representation of ``size`` bytes."""

    size: int


ParsedRange = list[ByteRange] | Unsatisfiable | None


def parse_int(text: str) -> int | None:
    """Strict HTTP integer: ASCII digits only, no sign, no underscores, length-capped."""
    if not text or len(text) > MAX_INT_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _parse_spec(spec: str, size: int) -> ByteRange | Unsatisfiable | None:
    first, dash, last = spec.strip(" \t").partition("-")
    if not dash:
        return None
    if not first:  # suffix-range: the last N bytes
        length = parse_int(last)
        if length is None:
            return None
        if length == 0 or size == 0:
            return Unsatisfiable(size)
        return ByteRange(max(size - length, 0), size)
    start = parse_int(first)
    end = parse_int(last) if last else None
    if start is None or (last and (end is None or end < start)):
        return None
    if start >= size:
        return Unsatisfiable(size)
    return ByteRange(start, size if end is None else min(end + 1, size))


def parse_range(header: str, size: int) -> ParsedRange:
    """Parse a Range header against a representation of ``size`` bytes (RFC 9110 §14.1.2).

    Returns the satisfiable ranges in request order, ``Unsatisfiable`` when the
    header is valid but no range overlaps the representation, or ``None`` when
    the header is invalid or not in bytes, in which case it must be ignored.
    """
    unit, eq, specs = header.partition("=")
    if not eq or unit.strip(" \t").lower() != "bytes":
        return None
    ranges: list[ByteRange] = []
    for spec in specs.split(","):
        if not spec.strip(" \t"):
            continue  # RFC 9110 §5.6.1: empty list elements are ignored
        parsed = _parse_spec(spec, size)
        if parsed is None:
            return None
        if isinstance(parsed, ByteRange):
            ranges.append(parsed)
    if not ranges:
        return Unsatisfiable(size) if specs.strip(" \t,") else None
    return ranges


def coalesce(ranges: list[ByteRange], gap: int = COALESCE_GAP) -> list[ByteRange]:
    """Merge overlapping ranges and ranges less than ``gap`` bytes apart, in file order."""
    merged: list[ByteRange] = []
    for current in sorted(ranges):
        if merged and current.start <= merged[-1].stop + gap:
            last = merged[-1]
            merged[-1] = ByteRange(last.start, max(last.stop, current.stop))
        else:
            merged.append(current)
    return merged


def in_request_order(merged: list[ByteRange], requested: list[ByteRange]) -> list[ByteRange]:
    """Order coalesced ranges by the first requested range each contains (RFC 9110 §14.6)."""

    def first_request(group: ByteRange) -> int:
        return next(i for i, r in enumerate(requested) if group.start <= r.start < group.stop)

    return sorted(merged, key=first_request)


def format_content_range(byte_range: ByteRange | None, size: int) -> str:
    """``bytes first-last/size``, or ``bytes */size`` for a 416 when ``byte_range`` is None."""
    if byte_range is None:
        return f"bytes */{size}"
    return f"bytes {byte_range.start}-{byte_range.stop - 1}/{size}"
