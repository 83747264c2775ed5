"""An S3-compatible bucket through obstore (Rust object_store): metadata, ranged GETs, listings.

The store is asked only normalised questions: HEAD for metadata (size, ETag,
Last-Modified; cached for ``META_TTL_S``), one ``Range: bytes=a-b`` GET per read
with ``If-Match: <etag>``, so an object replaced mid-stream fails the read
(``ObjectChangedError``) and two versions are never spliced. Any other store
failure (down, slow, 5xx) is ``StoreUnavailableError``. Both are
``SourceTruncatedError``: after the first byte they end the stream. GETs run on one
event loop (``StoreLoop``: the server's once ``use_loop`` gave it, else a thread's),
at most ``max_gets`` at a time. On that loop they are awaited in place (``aget_range``,
``ahead``: no thread; cancelling the awaiting task drops the GET and its connection);
the blocking calls (``head``, ``get_range``, ``finish_get``) are for worker threads,
whose futures any thread may cancel. Credentials come from the AWS environment and
never appear in messages.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
import obstore
from obstore.exceptions import BaseError, NotFoundError, PreconditionError
from obstore.store import S3Store

from streamer.sources.awsprofile import profile_settings
from streamer.sources.base import ReadCancelledError, SourceClosedError, SourceTruncatedError, io_limiter
from streamer.sources.s3loop import StoreLoop

MiB = 1024 * 1024
READ_AHEAD = 4 * MiB  # bytes per ranged GET while streaming: one request costs ~2-6 ms, 4 MiB ~30 ms
META_TTL_S = 5.0  # a replaced object's new metadata is seen within this; If-Match guards the bytes meanwhile
META_ENTRIES = 4096  # metadata cache bound, least recently used out first
CONNECT_TIMEOUT = "2s"
REQUEST_TIMEOUT = "30s"  # a whole GET of READ_AHEAD bytes, or a HEAD
POOL_IDLE_TIMEOUT = "15s"  # an idle pooled connection to the store is closed after this
MAX_RETRIES = 2
RETRY_TIMEOUT_S = 5.0
DEFAULT_REGION = "us-east-1"
Buffer = Any  # what a GET returns: obstore's Bytes, read through the buffer protocol (no copy)
MAX_GETS = 32  # GETs to the store in flight per process, by default (each one a pooled connection)
ADMIT_WAIT_S = 1.0  # a new request waits this long for a GET slot, then 503 + Retry-After
STREAM_WAIT_S = 30.0  # a stream already under way waits this long (as long as a GET may take)


class StoreUnavailableError(SourceTruncatedError):
    """The store is unreachable, too slow, or failing (5xx): the caller should answer 503."""


class StoreBusyError(StoreUnavailableError):
    """Every GET slot of this process stayed taken for the whole wait: the caller should answer 503."""


class ObjectChangedError(SourceTruncatedError):
    """The object's ETag no longer matches (the store said 412): it was replaced."""


@dataclass(frozen=True)
class ObjectMeta:
    key: str
    size: int
    etag: str  # as the store gives it, quotes included
    mtime_ns: int

    @property
    def validator(self) -> str:
        """The store's ETag as an opaque-tag fragment: no quotes, no weakness prefix."""
        return self.etag.removeprefix("W/").strip('"')


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET[/PREFIX]`` → (bucket, prefix without slashes); ``ValueError`` otherwise."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix.strip("/")


def _meta(found: Any, key: str) -> ObjectMeta:
    return ObjectMeta(key, int(found["size"]), str(found["e_tag"] or ""), int(found["last_modified"].timestamp()) * 10**9)


class S3Bucket:
    """One bucket (under an optional prefix) with one pooled client; requests in flight are counted."""

    def __init__(self, url: str, endpoint: str | None = None, max_gets: int = MAX_GETS) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL") or None
        profile = profile_settings()  # a ~/.aws profile's static keys, when the environment has none
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or profile.pop("region", DEFAULT_REGION)
        options = {
            "connect_timeout": CONNECT_TIMEOUT,
            "timeout": REQUEST_TIMEOUT,
            "pool_idle_timeout": POOL_IDLE_TIMEOUT,
            "allow_http": bool(endpoint and endpoint.startswith("http://")),
        }
        retry = {"max_retries": MAX_RETRIES, "retry_timeout": timedelta(seconds=RETRY_TIMEOUT_S)}
        self.endpoint = endpoint
        self._store: S3Store | None = S3Store(
            self.bucket, prefix=self.prefix or None, endpoint=endpoint, region=region,
            client_options=options, retry_config=retry, **profile,  # type: ignore[arg-type]
        )
        self._lock = threading.Lock()
        self._loop = StoreLoop(max_gets)
        self.max_gets = max_gets
        self._metas: OrderedDict[str, tuple[float, ObjectMeta]] = OrderedDict()
        self.in_flight = 0
        self.requests = 0

    def __repr__(self) -> str:  # never the credentials: only where the bytes are
        return f"S3Bucket(s3://{self.bucket}/{self.prefix} at {self.endpoint or 'AWS'})"

    @contextmanager
    def _request(self, key: str) -> Iterator[S3Store]:
        store = self._store
        if store is None:
            raise SourceClosedError(repr(self))
        with self._lock:
            self.in_flight += 1
            self.requests += 1
        try:
            yield store
        except (NotFoundError, FileNotFoundError):  # HEAD of a missing key is a plain FileNotFoundError
            raise FileNotFoundError(key) from None
        except PreconditionError as exc:
            self.forget(key)
            raise ObjectChangedError(f"{key} changed in the store") from exc
        except (BaseError, OSError, TimeoutError) as exc:
            raise StoreUnavailableError(f"the object store did not answer for {key}: {type(exc).__name__}") from exc
        finally:
            with self._lock:
                self.in_flight -= 1

    def cached_head(self, key: str) -> ObjectMeta | None:
        """The object's metadata if the cache has it younger than ``META_TTL_S``, else ``None``; never waits."""
        with self._lock:
            cached = self._metas.get(key)
            if cached is not None and cached[0] > time.monotonic():
                self._metas.move_to_end(key)
                return cached[1]
        return None

    def head(self, key: str) -> ObjectMeta:
        """The object's metadata, from the cache if younger than ``META_TTL_S``; ``FileNotFoundError`` if absent."""
        if (cached := self.cached_head(key)) is not None:
            return cached
        asked = time.monotonic()
        with self._request(key) as store:
            return self._remember(key, _meta(obstore.head(store, key), key), asked)

    async def ahead(self, key: str) -> ObjectMeta:
        """``head`` awaited: in place on the bucket's loop (cancellable), else through a worker thread."""
        if (cached := self.cached_head(key)) is not None:
            return cached
        if not self._loop.is_current():
            return await anyio.to_thread.run_sync(self.head, key, limiter=io_limiter())
        asked = time.monotonic()
        with self._request(key) as store:
            return self._remember(key, _meta(await obstore.head_async(store, key), key), asked)

    def _remember(self, key: str, meta: ObjectMeta, asked: float) -> ObjectMeta:
        with self._lock:
            self._metas[key] = (asked + META_TTL_S, meta)
            self._metas.move_to_end(key)
            while len(self._metas) > META_ENTRIES:
                self._metas.popitem(last=False)
        return meta

    def forget(self, key: str) -> None:
        with self._lock:
            self._metas.pop(key, None)

    def start_get(self, meta: ObjectMeta, start: int, stop: int, *, wait_s: float = ADMIT_WAIT_S) -> Future[Buffer]:
        """Start the GET of bytes ``start:stop`` of ``meta``'s version (If-Match); ``finish_get`` waits for it.

        It waits up to ``wait_s`` for one of the ``max_gets`` slots (``StoreBusyError`` after).
        Cancelling the future, from any thread, ends the GET at once and closes its connection.
        """
        store = self._store
        if store is None:
            raise SourceClosedError(repr(self))
        options = {"range": (start, stop), "if_match": meta.etag}
        return self._loop.submit(self._get(store, meta.key, options, wait_s))

    def finish_get(self, meta: ObjectMeta, start: int, stop: int, future: Future[Buffer]) -> memoryview:
        """The bytes of a started GET, all ``stop - start`` of them, or raise (``ReadCancelledError`` if cancelled)."""
        with self._request(meta.key):
            try:
                data = memoryview(future.result())
            except CancelledError:
                raise ReadCancelledError(f"{meta.key}: the read was cancelled") from None
        return _exact(meta, start, stop, data)

    def get_range(self, meta: ObjectMeta, start: int, stop: int, *, wait_s: float = ADMIT_WAIT_S,
                  on_start: Callable[[Future[Buffer]], None] | None = None) -> memoryview:
        """Bytes ``start:stop`` of exactly the version ``meta`` describes, or raise; ``on_start`` gets the future."""
        future = self.start_get(meta, start, stop, wait_s=wait_s)
        if on_start is not None:
            on_start(future)
        return self.finish_get(meta, start, stop, future)

    async def aget_range(self, meta: ObjectMeta, start: int, stop: int, *, wait_s: float = ADMIT_WAIT_S) -> memoryview:
        """``get_range`` awaited: on the bucket's loop in place (no thread, no future), else through ``start_get``.

        Cancelling the awaiting task ends the GET at once and closes its connection.
        """
        store = self._store
        if store is None:
            raise SourceClosedError(repr(self))
        if not self._loop.is_current():
            return await self.afinish_get(meta, start, stop, self.start_get(meta, start, stop, wait_s=wait_s))
        with self._request(meta.key):
            data = memoryview(await self._get(store, meta.key, {"range": (start, stop), "if_match": meta.etag}, wait_s))
        return _exact(meta, start, stop, data)

    async def afinish_get(self, meta: ObjectMeta, start: int, stop: int, future: Future[Buffer]) -> memoryview:
        """``finish_get`` awaited (the GET was started by ``start_get``): ``ReadCancelledError`` if it was cancelled."""
        with self._request(meta.key):
            try:
                data = memoryview(await asyncio.wrap_future(future))
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not future.cancelled() or (task is not None and task.cancelling()):
                    raise  # this task is being cancelled, not only the GET it waited for
                raise ReadCancelledError(f"{meta.key}: the read was cancelled") from None
        return _exact(meta, start, stop, data)

    async def _get(self, store: S3Store, key: str, options: Any, wait_s: float) -> Buffer:
        async with self._loop.slot(wait_s) as admitted:
            if not admitted:
                raise StoreBusyError(f"all {self.max_gets} GETs to the store stayed busy for {wait_s:g} s")
            result = await obstore.get_async(store, key, options=options)
            return await result.bytes_async()  # obstore's Bytes: a buffer, not copied into Python bytes

    def use_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run GETs on ``loop`` (the server's): its coroutines then await them with no thread between."""
        self._loop.adopt(loop)

    @property
    def gets_in_flight(self) -> int:
        return self._loop.in_flight

    def list(self, prefix: str) -> tuple[list[str], list[ObjectMeta]]:
        """Sub-folder names and objects directly under ``prefix`` (ListObjectsV2 with a delimiter, all pages)."""
        with self._request(prefix) as store:
            found = obstore.list_with_delimiter(store, prefix or None)
        folders = [p.rstrip("/").rpartition("/")[2] for p in found["common_prefixes"]]
        return folders, [_meta(o, o["path"]) for o in found["objects"]]

    def check(self) -> None:
        """Raise ``StoreUnavailableError`` unless the store answers (a HEAD of a key that need not exist)."""
        try:
            self.head(".streamer-ready")
        except FileNotFoundError:
            pass

    def close(self) -> None:
        """Drop the client and its pooled connections; later requests fail with ``SourceClosedError``."""
        self._store = None
        self._loop.close()


def _exact(meta: ObjectMeta, start: int, stop: int, data: memoryview) -> memoryview:
    if len(data) != stop - start:
        raise SourceTruncatedError(f"{meta.key}: the store sent {len(data)} of {stop - start} bytes")
    return data
