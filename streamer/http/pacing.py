"""Pacing a stream to a byte rate: a token bucket, and the piece size that keeps it smooth.

No I/O in this module: ``TokenBucket.delay`` says how long to wait before sending
``n`` more bytes at time ``now``; the caller sleeps (never spins). The bucket
starts full with ``burst`` bytes unless told to start empty (a drip's first byte
waits its turn too), and never holds more, so a paced stream does not burst.
"""

from __future__ import annotations

PIECES_PER_S = 20  # a paced send carries at most 1/20 s worth of bytes: smooth, not bursty


def piece_size(rate: float, chunk: int) -> int:
    """The largest piece of a ``chunk`` to send at once at ``rate`` bytes per second."""
    return max(1, min(chunk, int(rate / PIECES_PER_S)))


class TokenBucket:
    """``rate`` bytes per second, with up to ``burst`` bytes of credit."""

    def __init__(self, rate: float, burst: float, now: float, tokens: float | None = None) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"rate and burst must be positive, not {rate} and {burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = burst if tokens is None else tokens
        self._updated = now

    def delay(self, n: int, now: float) -> float:
        """Take ``n`` tokens; return the seconds to wait before sending them (0 if none)."""
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
