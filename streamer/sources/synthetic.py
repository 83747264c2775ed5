"""Synthetic content for load testing: deterministic, seekable, and fast to produce.

No I/O in this module. A ``PatternSource`` is ``pattern`` repeated forever:
byte ``i`` is ``pattern[i % len(pattern)]``, so any range is one or two slices
of memory. ``/bytes`` and ``/stream-bytes`` use ``seeded_pattern(seed)``: the
first 1 MiB of SHAKE256 over ``b"streamer-bytes-v1:" + str(seed)``, so anyone
can regenerate and verify a body with ``hashlib`` alone. ``/range`` uses the
alphabet, as go-httpbin does; ``/drip`` sends asterisks.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

PATTERN_BYTES = 1 << 20
PATTERN_PREFIX = b"streamer-bytes-v1:"
DEFAULT_SEED = 0
MAX_SEED = (1 << 63) - 1
ALPHABET = b"abcdefghijklmnopqrstuvwxyz"
DRIP_BYTE = b"*"


@lru_cache(maxsize=16)
def seeded_pattern(seed: int) -> bytes:
    """The 1 MiB period of the seeded byte stream."""
    return hashlib.shake_256(PATTERN_PREFIX + str(seed).encode("ascii")).digest(PATTERN_BYTES)


def expected_bytes(seed: int, offset: int, length: int) -> bytes:
    """What a client should have received at ``offset``: for verification, here and in tests."""
    return PatternSource(seeded_pattern(seed)).read_at(offset, length)


class PatternSource:
    """``pattern`` repeated without end; a ByteSource with nothing to close."""

    blocking = False  # slices of memory: no thread needed

    def __init__(self, pattern: bytes) -> None:
        if not pattern:
            raise ValueError("pattern must not be empty")
        self._period = len(pattern)
        self._doubled = pattern * 2 if len(pattern) > 1 else pattern * PATTERN_BYTES

    def read_at(self, offset: int, length: int) -> bytes:
        window = len(self._doubled) - self._period + 1  # longest slice that never wraps
        parts = []
        while length > 0:
            start = offset % self._period
            take = min(length, window)
            parts.append(self._doubled[start : start + take])
            offset += take
            length -= take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        """Nothing is held."""
