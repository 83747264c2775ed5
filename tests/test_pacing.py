"""Token bucket arithmetic: how long to wait before each piece, with and without a head start."""

from __future__ import annotations

import pytest

from streamer.http.pacing import PIECES_PER_S, TokenBucket, piece_size


@pytest.mark.parametrize(
    ("rate", "chunk", "expected"),
    [
        pytest.param(1_000_000, 65536, 1_000_000 // PIECES_PER_S, id="a-twentieth-of-a-second"),
        pytest.param(10_000_000_000, 65536, 65536, id="never-more-than-the-chunk"),
        pytest.param(5, 65536, 1, id="at-least-one-byte"),
    ],
)
def test_piece_size(rate: float, chunk: int, expected: int) -> None:
    assert piece_size(rate, chunk) == expected


@pytest.mark.parametrize(
    ("tokens", "takes", "expected_delays"),
    [
        pytest.param(None, [(100, 0.0), (100, 0.0)], [0.0, 0.1], id="full-bucket-first-piece-free"),
        pytest.param(0, [(100, 0.0)], [0.1], id="empty-bucket-first-piece-waits"),
        pytest.param(0, [(100, 0.0), (100, 0.1)], [0.1, 0.1], id="each-piece-waits-its-own-share"),
        pytest.param(0, [(100, 0.0), (100, 0.0)], [0.1, 0.2], id="debt-carries-over"),
        pytest.param(None, [(100, 0.0), (100, 10.0), (100, 10.0)], [0.0, 0.0, 0.1], id="idle-refill-capped-at-burst"),
        pytest.param(None, [(50, 0.0), (50, 0.0), (50, 0.0)], [0.0, 0.0, 0.05], id="burst-spent-then-paced"),
    ],
)
def test_token_bucket_delays(tokens: float | None, takes: list[tuple[int, float]], expected_delays: list[float]) -> None:
    bucket = TokenBucket(rate=1000, burst=100, now=0.0, tokens=tokens)
    delays = [bucket.delay(n, now) for n, now in takes]
    assert delays == pytest.approx(expected_delays)


def test_a_long_paced_run_keeps_the_rate() -> None:
    bucket, now, sent = TokenBucket(rate=10_000, burst=500, now=0.0), 0.0, 0
    while sent < 1_000_000:
        now += bucket.delay(500, now)  # the caller sleeps exactly as told
        sent += 500
    assert sent / now == pytest.approx(10_000, rel=0.001)


@pytest.mark.parametrize(("rate", "burst"), [pytest.param(0, 1, id="zero-rate"), pytest.param(1, 0, id="zero-burst")])
def test_bucket_refuses_nonsense(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst, now=0.0)
