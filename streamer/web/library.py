"""GET /api/media: the JSON catalog of the media root, one folder page at a time.

A listing never waits long for probes: cached results come at once, uncached audio and video
entries of the page are probed concurrently (bounded) for at most PROBE_DEADLINE_S, and what is
not done by then is ``probe: null`` and named in ``pending``; those probes continue in the
background, so asking again later returns them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from urllib.parse import quote
from typing import Any, Literal

from asyncer import asyncify
from fastapi import APIRouter, HTTPException, Query

from streamer.media.playback import Playback, decide
from streamer.media.probecache import ProbeCache, ProbeKey
from streamer.sources.catalog import MAX_PAGE_LIMIT, PAGE_LIMIT, Entry, Page, list_folder
from streamer.sources.listing import Position, decode_cursor
from streamer.http.paths import parse_media_path
from streamer.web.openapi import add_get_and_head, error
from streamer.sources.base import io_limiter

Sort = Literal["name", "date", "size"]
Order = Literal["asc", "desc"]
PATH_QUERY = Query("", max_length=1024, description="Folder relative to the media root (a key prefix in a bucket); empty for the top.")
LIMIT_QUERY = Query(PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT, description="Entries per page.")
CURSOR_QUERY = Query(None, max_length=1024, description="next_cursor from the previous page (same sort and order).")
SORT_QUERY = Query("name", description="Order files by natural name, modification time or size.")
ORDER_QUERY = Query("asc", description="Ascending or descending; folders always come first.")
PROBE_DEADLINE_S = 0.4  # longest a listing waits for probes of its page before answering with `pending`
PROBED_KINDS = ("video", "audio")
API_MEDIA_DESCRIPTION = f"""One page of a folder: folders first, then files by natural name (`Episode 2` before
`Episode 10`), date or size. `total` counts the folder's visible entries. URLs are relative to the app's root.

Each audio and video file carries `probe` (container, streams with RFC 6381 codec strings, tags, cover art) and
`playback` (`direct`, `hls`, `transcode` or `unsupported`, with reasons in plain words and, where the answer
depends on the device, `mime` to ask the browser with `MediaSource.isTypeSupported`). Images get no `playback`.

Pending policy: cached probes are returned at once; uncached entries of the page are probed concurrently
(a few at a time) for at most {PROBE_DEADLINE_S} s. Entries not done by then have `probe: null` and
`playback: null` and their paths are listed in `pending`; their probes continue in the background, so a later
request (poll the same page) returns them. Results are cached by the file's size and mtime (its ETag)."""


CONVERTED = "The server converts its picture to H.264 as it plays"
NOT_CONVERTED = "This server does not convert video (it would with --transcode on)"


async def page_json(page: Page, probes: ProbeCache | None, converts_video: bool = False) -> dict[str, Any]:
    """One page of a listing as ``/api/media`` answers it, folder or bucket: probes as the pending policy says.

    ``converts_video``: the server converts video browsers cannot decode (``--transcode on``), so such
    videos get an ``hls`` URL too."""
    keys = {e.path: ProbeKey(e.real_path, e.size or 0, e.mtime_ns) for e in page.entries if e.kind in PROBED_KINDS}
    found, waiting = ({}, list(keys.values())) if probes is None else await probes.get_many(keys.values(), PROBE_DEADLINE_S)
    unfinished = set(waiting)
    pending = [p for p, key in keys.items() if key in unfinished]
    entries = [_entry_json(e, found.get(keys[e.path]) if e.path in keys else None, converts_video) for e in page.entries]
    return {"path": page.path, "total": page.total, "entries": entries, "next_cursor": page.next_cursor, "pending": pending}


def _entry_json(entry: Entry, probe: dict[str, Any] | None, converts_video: bool) -> dict[str, Any]:
    body = asdict(entry)
    del body["real_path"], body["mtime_ns"]  # the catalog's internals, never in the JSON
    if entry.kind == "folder":
        return {**body, "probe": None, "playback": None, "hls": None}
    playback = decide(entry.kind, probe, entry.faststart)
    if entry.kind == "video" and playback is not None and playback.verdict == "transcode":
        playback = replace(playback, reasons=[*playback.reasons, CONVERTED if converts_video else NOT_CONVERTED])
    if entry.kind == "video":
        body["subtitles"] += embedded_tracks(entry.path, probe)
    playback_json = asdict(playback) if playback is not None else None
    return {**body, "probe": probe, "playback": playback_json, "hls": hls_url(entry, playback, converts_video)}


def embedded_tracks(path: str, probe: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The text subtitle streams inside a video, as tracks served as WebVTT by ``/subtitles/{path}?stream=N``."""
    streams = (probe or {}).get("subtitles") or []
    return [
        {"url": f"subtitles/{quote(path)}?stream={s['index']}", "language": s.get("language"),
         "label": s.get("title") or s.get("language") or f"Subtitles {s['index']}"}
        for s in streams if s.get("text") and isinstance(s.get("index"), int)
    ]


def hls_url(entry: Entry, playback: Playback | None, converts_video: bool = False) -> str | None:
    """The playlist of a video the browser can decode once repackaged (verdict ``hls``), or once its picture
    is converted (verdict ``transcode``, if ``converts_video``), else ``None``."""
    verdicts = ("hls", "transcode") if converts_video else ("hls",)
    if entry.kind != "video" or playback is None or playback.verdict not in verdicts:
        return None
    return f"hls/{quote(entry.path)}/index.m3u8"


def parse_listing(path: str, cursor: str | None, sort: str, order: str) -> tuple[tuple[str, ...], Position | None]:
    """The folder's names and the position after which the page starts: 404 for a bad path, 400 for a bad cursor."""
    names = parse_media_path(path.strip("/")) if path.strip("/") else ()
    if names is None:
        raise HTTPException(404, "No such folder.")
    after = decode_cursor(cursor, sort, order) if cursor is not None else None
    if cursor is not None and after is None:
        raise HTTPException(400, "Invalid cursor: pass next_cursor from a previous page of the same sort and order unchanged.")
    return names, after


def catalog_router(root: str | os.PathLike[str], probes: ProbeCache | None = None, converts_video: bool = False) -> APIRouter:
    real_root = os.path.realpath(root)
    router = APIRouter()

    async def api_media(
        path: str = PATH_QUERY,
        limit: int = LIMIT_QUERY,
        cursor: str | None = CURSOR_QUERY,
        sort: Sort = SORT_QUERY,
        order: Order = ORDER_QUERY,
    ) -> dict[str, Any]:
        names, after = parse_listing(path, cursor, sort, order)
        try:
            page = await asyncify(list_folder, limiter=io_limiter())(real_root, names, after, limit, sort, order)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise HTTPException(404, "No such folder.") from exc
        return await page_json(page, probes, converts_video)

    refusals = {400: error("The cursor is not one this server gave out for this sort and order."), 404: error("No such folder.")}
    add_get_and_head(
        router, "/api/media", api_media, responses=refusals, summary="One page of a media folder's listing",
        description=API_MEDIA_DESCRIPTION,
    )
    return router
