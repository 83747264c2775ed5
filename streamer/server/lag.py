"""Event-loop lag: how late a task that sleeps ``interval`` is woken up.

A blocked loop wakes every sleeper late by the time it was blocked, so the lag
of one small task is a direct measure of how responsive the loop is. Reusable
by the app (``/debug/lag``), the tests and the benchmarks.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

LAG_INTERVAL_S = 0.1
LAG_WINDOW = 600  # samples kept (one minute at the default interval)


@dataclass(frozen=True)
class LagSnapshot:
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float


class LagMonitor:
    """Samples loop lag every ``interval`` seconds while ``run()`` is running."""

    def __init__(
        self, interval: float = LAG_INTERVAL_S, window: int = LAG_WINDOW, on_sample: Callable[[float], None] | None = None
    ) -> None:
        self.interval = interval
        self._lags: deque[float] = deque(maxlen=window)
        self._on_sample = on_sample
        self.max_lag = 0.0
        self._closed = False

    async def run(self) -> None:
        """Sample until cancelled or closed."""
        while not self._closed:
            before = anyio.current_time()
            await anyio.sleep(self.interval)
            lag = max(anyio.current_time() - before - self.interval, 0.0)
            self._lags.append(lag)
            self.max_lag = max(self.max_lag, lag)
            if self._on_sample is not None:
                self._on_sample(lag)

    async def aclose(self) -> None:
        """Stop sampling; idempotent. The samples stay readable."""
        self._closed = True

    def reset(self) -> None:
        self._lags.clear()
        self.max_lag = 0.0

    def snapshot(self) -> LagSnapshot:
        ordered = sorted(self._lags)

        def quantile(q: float) -> float:
            return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1000 if ordered else 0.0

        return LagSnapshot(len(ordered), quantile(0.5), quantile(0.99), self.max_lag * 1000)


@asynccontextmanager
async def monitor_lag(interval: float = LAG_INTERVAL_S) -> AsyncIterator[LagMonitor]:
    """Run a LagMonitor for the duration of the block."""
    monitor = LagMonitor(interval)
    async with anyio.create_task_group() as tg:
        tg.start_soon(monitor.run)
        try:
            yield monitor
        finally:
            tg.cancel_scope.cancel()
