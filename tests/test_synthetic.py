"""The synthetic byte streams are exactly what the README says, from any offset."""

from __future__ import annotations

import hashlib

import pytest

from streamer.sources.synthetic import ALPHABET, PATTERN_BYTES, PatternSource, expected_bytes, seeded_pattern


def documented_stream(seed: int, offset: int, length: int) -> bytes:
    """The README's definition, written independently: SHAKE256 of the prefix and seed, repeated."""
    period = hashlib.shake_256(b"streamer-bytes-v1:" + str(seed).encode()).digest(1 << 20)
    return bytes(period[(offset + i) % len(period)] for i in range(length))


@pytest.mark.parametrize(
    ("seed", "offset", "length"),
    [
        pytest.param(0, 0, 64, id="start"),
        pytest.param(7, PATTERN_BYTES - 10, 30, id="across-the-period-boundary"),
        pytest.param(2**63 - 1, 5 * PATTERN_BYTES + 3, 100, id="largest-seed-far-offset"),
    ],
)
def test_seeded_stream_matches_its_definition(seed: int, offset: int, length: int) -> None:
    assert expected_bytes(seed, offset, length) == documented_stream(seed, offset, length)


def test_seeds_give_different_streams() -> None:
    assert seeded_pattern(1)[:64] != seeded_pattern(2)[:64]


@pytest.mark.parametrize(
    ("pattern", "offset", "length"),
    [
        pytest.param(ALPHABET, 0, 26, id="alphabet-once"),
        pytest.param(ALPHABET, 25, 3, id="alphabet-wraps"),
        pytest.param(ALPHABET, 10**12, 100, id="alphabet-far"),
        pytest.param(b"*", 123, 5000, id="single-byte-pattern"),
        pytest.param(bytes(range(256)), 100, 3 * 256 + 7, id="longer-than-two-periods"),
        pytest.param(seeded_pattern(0), 3, 3 * PATTERN_BYTES, id="several-megabytes"),
    ],
)
def test_pattern_source_reads_any_range(pattern: bytes, offset: int, length: int) -> None:
    reference = bytes(pattern[(offset + i) % len(pattern)] for i in range(min(length, 5000)))
    got = PatternSource(pattern).read_at(offset, length)
    assert len(got) == length
    assert got[:5000] == reference
    if length > 5000:  # the tail, checked cheaply
        assert got[-1] == pattern[(offset + length - 1) % len(pattern)]
