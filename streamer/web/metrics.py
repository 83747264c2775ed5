"""Prometheus metrics: what the server is doing, in the text format at ``/metrics``.

Works with ``--workers`` > 1 through prometheus-client's multiprocess mode: the
CLI points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers
start, and a scrape of any worker reports them all. ``MetricsMiddleware``
counts requests and body bytes by route template (never by raw path, which
would let a client create series at will) and gives each request a stream
observer that the response class tells how its body stream went.
"""

from __future__ import annotations

import os
import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE  # every scraper reads 0.0.4
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamer.web.responses import OBSERVER_KEY, ZEROCOPY_SEND

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LAG_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DURATION_BUCKETS_S = (0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)

REQUESTS = Counter("streamer_requests", "HTTP requests answered, by route template and status.", ["route", "status"])
BYTES_SENT = Counter("streamer_bytes_sent", "Response body bytes sent, by route template.", ["route"])
STREAMS_IN_PROGRESS = Gauge("streamer_streams_in_progress", "Body streams running now.", multiprocess_mode="livesum")
STREAM_DURATION = Histogram(
    "streamer_stream_duration_seconds", "Time from a stream's start to its end, by outcome.", ["outcome"],
    buckets=DURATION_BUCKETS_S,
)
STREAMS_ABORTED = Counter("streamer_streams_aborted", "Streams the client left before their end.")
STALL_TIMEOUTS = Counter("streamer_stall_timeouts", "Streams cut because the client accepted nothing for too long.")
LOOP_LAG = Histogram("streamer_loop_lag_seconds", "How late the event loop woke a sleeping task.", buckets=LAG_BUCKETS_S)
OPEN_FDS = Gauge("streamer_open_fds", "Open file descriptors of the worker process.", multiprocess_mode="liveall")


def count_open_fds() -> int:
    """Blocking (it lists /proc): call it from a worker thread."""
    return len(os.listdir("/proc/self/fd"))


def resident_bytes() -> int:
    """The process's resident set size. Blocking (it reads /proc): call it from a worker thread."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def exposition() -> tuple[bytes, str]:
    """The text format for a scrape, every worker's samples merged in multiprocess mode. Blocking."""
    OPEN_FDS.set(count_open_fds())
    if MULTIPROC_ENV in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE
    return generate_latest(REGISTRY), CONTENT_TYPE


class StreamMetrics:
    """The observer of one body stream."""

    def __init__(self) -> None:
        self._started = 0.0

    def started(self) -> None:
        self._started = time.monotonic()
        STREAMS_IN_PROGRESS.inc()

    def ended(self, outcome: str) -> None:
        STREAMS_IN_PROGRESS.dec()
        STREAM_DURATION.labels(outcome).observe(time.monotonic() - self._started)
        if outcome == "disconnect":
            STREAMS_ABORTED.inc()
        elif outcome == "stalled":
            STALL_TIMEOUTS.inc()


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, sent = 0, 0
        scope[OBSERVER_KEY] = StreamMetrics()

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            elif message["type"] == ZEROCOPY_SEND:
                await send(message)  # counted once the server took it all: it raises otherwise
                sent += message["count"]
                return
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            requests, sent_bytes = _children(getattr(scope.get("route"), "path", "unmatched"), status or 500)
            requests.inc()
            sent_bytes.inc(sent)


_CHILDREN: dict[tuple[str, int], tuple[Counter, Counter]] = {}  # bounded: route templates x status codes


def _children(route: str, status: int) -> tuple[Counter, Counter]:
    """The request and byte counters of a route and status, looked up by label once per process."""
    pair = _CHILDREN.get((route, status))
    if pair is None:
        pair = _CHILDREN[route, status] = REQUESTS.labels(route, str(status)), BYTES_SENT.labels(route)
    return pair
