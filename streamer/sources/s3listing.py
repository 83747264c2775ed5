"""A bucket's objects as the catalog sees them: pages of a "folder", entries, representations.

Pure but for ``list_page``, which asks the bucket for one ListObjectsV2 listing. Entries
have the shape and order of ``catalog.list_folder``'s; an object's ETag and probe identity
are made from the store's ETag, so every replica gives the same ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from streamer.http.paths import is_served_name
from streamer.http.representation import Representation, kind_of, media_type_for
from streamer.sources.catalog import THUMB_KINDS, Entry, Page, Subtitle
from streamer.sources.listing import Position, encode_cursor, sort_key, subtitle_tracks
from streamer.sources.s3 import ObjectMeta, S3Bucket


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
