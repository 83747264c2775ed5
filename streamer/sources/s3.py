"""S3-compatible object storage as a byte source, through obstore (Rust object_store).

The store is asked only normalised questions: HEAD for metadata (size, ETag,
Last-Modified; cached for ``META_TTL_S``), one ``Range: bytes=a-b`` GET per read
with ``If-Match: <etag>``, so an object replaced mid-stream fails the read
(``ObjectChangedError``) and two versions are never spliced. Any other store
failure (down, slow, 5xx) is ``StoreUnavailableError``. Both are
``SourceTruncatedError``: after the first byte they end the stream. Every call
here blocks (run in worker threads); GETs run on the bucket's own event loop
(``StoreLoop``), so a source's ``cancel()`` from any thread drops its GET and the
connection at once, and at most ``max_gets`` run at a time. Credentials come from
the AWS environment and never appear in messages.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import obstore
from obstore.exceptions import BaseError, NotFoundError, PreconditionError
from obstore.store import S3Store

from streamer.http.multipart import Segment
from streamer.http.paths import is_served_name
from streamer.http.ranges import ByteRange
from streamer.http.representation import Representation, kind_of, media_type_for
from streamer.sources.awsprofile import profile_settings
from streamer.sources.base import ReadCancelledError, SourceClosedError, SourceTruncatedError
from streamer.sources.catalog import THUMB_KINDS, Entry, Page, Subtitle
from streamer.sources.listing import Position, encode_cursor, sort_key, subtitle_tracks
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
        now = time.monotonic()
        if (cached := self.cached_head(key)) is not None:
            return cached
        with self._request(key) as store:
            meta = _meta(obstore.head(store, key), key)
        with self._lock:
            self._metas[key] = (now + META_TTL_S, meta)
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
        if len(data) != stop - start:
            raise SourceTruncatedError(f"{meta.key}: the store sent {len(data)} of {stop - start} bytes")
        return data

    def get_range(self, meta: ObjectMeta, start: int, stop: int, *, wait_s: float = ADMIT_WAIT_S,
                  on_start: Callable[[Future[Buffer]], None] | None = None) -> memoryview:
        """Bytes ``start:stop`` of exactly the version ``meta`` describes, or raise; ``on_start`` gets the future."""
        future = self.start_get(meta, start, stop, wait_s=wait_s)
        if on_start is not None:
            on_start(future)
        return self.finish_get(meta, start, stop, future)

    async def _get(self, store: S3Store, key: str, options: Any, wait_s: float) -> Buffer:
        async with self._loop.slot(wait_s) as admitted:
            if not admitted:
                raise StoreBusyError(f"all {self.max_gets} GETs to the store stayed busy for {wait_s:g} s")
            result = await obstore.get_async(store, key, options=options)
            return await result.bytes_async()  # obstore's Bytes: a buffer, not copied into Python bytes

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


class S3Source:
    """One version of one object, read by position in ranged GETs of up to ``READ_AHEAD`` bytes.

    ``body`` (the planned segments) bounds the read-ahead: a GET never runs past the end of
    the range being sent, so a 2-byte probe costs 2 bytes. While one block is being sent the
    next block of the same range is already on its way (one GET in flight per stream), so
    the store's latency overlaps the client's sending. Reads of one source are serialised by
    its response; ``cancel`` and ``close`` may come from any thread.
    """

    blocking = True

    def __init__(self, bucket: S3Bucket, meta: ObjectMeta, body: Iterable[Segment] = ()) -> None:
        self.bucket = bucket
        self.meta = meta
        self._ranges = [s for s in body if isinstance(s, ByteRange)]
        self._buffer = memoryview(b"")
        self._base = 0
        self._closed = False
        self._cancelled = False
        self._reads = 0
        self._get: Future[Buffer] | None = None  # the GET a read waits for
        self._next: tuple[int, int, Future[Buffer]] | None = None  # the block after the buffer, on its way

    def _span_stop(self, offset: int, length: int) -> int:
        for span in self._ranges:
            if span.start <= offset < span.stop:
                return span.stop
        return offset + length

    def read_cached(self, offset: int, length: int) -> bytes | None:
        """The bytes if the block already fetched holds them, else ``None``: never waits (no worker thread)."""
        start = offset - self._base
        if self._closed or self._cancelled or start < 0 or start + length > len(self._buffer):
            return None
        return bytes(self._buffer[start : start + length])

    def read_at(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset`` of this version; raises rather than return fewer."""
        if self._closed:
            raise SourceClosedError(self.meta.key)
        if self._cancelled:
            raise ReadCancelledError(self.meta.key)
        start = offset - self._base
        if 0 <= start and start + length <= len(self._buffer):
            return bytes(self._buffer[start : start + length])
        span_stop = min(self._span_stop(offset, length), self.meta.size)
        stop = min(max(offset + length, min(span_stop, offset + READ_AHEAD)), self.meta.size)
        wait_s = ADMIT_WAIT_S if self._reads == 0 else STREAM_WAIT_S  # a stream under way waits longer than a newcomer
        self._reads += 1
        ahead, self._next = self._next, None
        if ahead is not None and ahead[0] == offset and ahead[1] >= offset + length:
            stop, future = ahead[1], ahead[2]
        else:
            if ahead is not None:
                ahead[2].cancel()  # a seek: the block on its way is not the one wanted
            future = self.bucket.start_get(self.meta, offset, stop, wait_s=wait_s)
        self._get = future
        try:
            if self._cancelled:  # cancelled between the check above and now
                future.cancel()
            self._buffer = memoryview(b"")
            self._buffer = self.bucket.finish_get(self.meta, offset, stop, future)
        finally:
            self._get = None
        self._base = offset
        if stop < span_stop and not self._cancelled:
            self._next = (stop, min(span_stop, stop + READ_AHEAD),
                          self.bucket.start_get(self.meta, stop, min(span_stop, stop + READ_AHEAD), wait_s=STREAM_WAIT_S))
        if len(self._buffer) < length:
            raise SourceTruncatedError(f"{self.meta.key}: ends before {offset + length}")
        return bytes(self._buffer[:length])

    def cancel(self) -> None:
        """From any thread: GETs in flight end at once, and this read and every later one raise ``ReadCancelledError``."""
        self._cancelled = True
        for future in (self._get, self._next[2] if self._next is not None else None):
            if future is not None:
                future.cancel()

    def close(self) -> None:
        self.cancel()
        self._closed = True
        self._buffer = memoryview(b"")
        self._next = None


def list_page(bucket: S3Bucket, rel: tuple[str, ...], after: Position | None, limit: int,
              sort: str = "name", order: str = "asc") -> Page:
    """One page of the "folder" ``rel`` of the bucket, in the order and shape of ``catalog.list_folder``'s."""
    folders, objects = bucket.list("".join(name + "/" for name in rel))
    if rel and not folders and not objects:
        raise FileNotFoundError("/".join(rel))
    items: list[tuple[Position, str | ObjectMeta]] = [(Position(True, 0, f), f) for f in folders if is_served_name(f)]
    for meta in objects:
        name = meta.key.rpartition("/")[2]
        number = 0 if sort == "name" else meta.mtime_ns if sort == "date" else meta.size
        if is_served_name(name):
            items.append((Position(False, number, name), meta))
    keyed = sorted(((sort_key(p, sort, order), p, item) for p, item in items), key=lambda t: t[0])
    if after is not None:
        start = sort_key(after, sort, order)
        keyed = [k for k in keyed if k[0] > start]
    chosen = keyed[: limit + 1]
    names = [meta.key.rpartition("/")[2] for meta in objects]
    entries = [_entry(rel, position.name, item, names) for _, position, item in chosen[:limit]]
    next_cursor = encode_cursor(chosen[limit - 1][1], sort, order) if len(chosen) > limit else None
    return Page("/".join(rel), len(items), entries, next_cursor)


def _entry(rel: tuple[str, ...], name: str, item: str | ObjectMeta, names: list[str]) -> Entry:
    path = "/".join((*rel, name))
    if isinstance(item, str):
        return Entry(name, path, "folder", None, None, "", None, f"api/media?path={quote(path)}", None)
    rep = representation(item, name)
    mtime = datetime.fromtimestamp(item.mtime_ns // 10**9, UTC).isoformat(timespec="seconds")
    kind = kind_of(rep.media_type).value
    return Entry(name, path, kind, item.size, rep.media_type, mtime, str(rep.etag), f"media/{quote(path)}", None,
                 thumb=f"thumbs/{quote(path)}" if kind in THUMB_KINDS else None, real_path=probe_identity(item),
                 mtime_ns=item.mtime_ns, subtitles=_subtitles(rel, name, names) if kind == "video" else [])


def _subtitles(rel: tuple[str, ...], name: str, names: list[str]) -> list[Subtitle]:
    """The .srt/.vtt objects beside a video, as the folder catalog lists them."""
    return [Subtitle("subtitles/" + quote("/".join((*rel, n))), language, label) for n, language, label in subtitle_tracks(name, names)]


def probe_identity(meta: ObjectMeta) -> str:
    """What an object's probe is keyed by (an entry's ``real_path``): key, size and the store's ETag."""
    return f"{meta.key}\0{meta.size}\0{meta.etag}"


def parse_probe_identity(identity: str) -> ObjectMeta:
    """The version ``probe_identity`` named (no Last-Modified: a probe does not need it)."""
    key, size, etag = identity.rsplit("\0", 2)
    return ObjectMeta(key, int(size), etag, 0)


def representation(meta: ObjectMeta, name: str) -> Representation:
    """What the object looks like over HTTP; its ETag is made from the store's, so every replica agrees."""
    return Representation(meta.size, meta.mtime_ns, media_type_for(name), name, validator=meta.validator)
