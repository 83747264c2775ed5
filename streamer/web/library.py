"""GET /api/media: the JSON catalog of the media root, one folder page at a time."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from asyncer import asyncify
from fastapi import APIRouter, HTTPException, Query

from streamer.sources.catalog import MAX_PAGE_LIMIT, PAGE_LIMIT, decode_cursor, list_folder
from streamer.http.paths import parse_media_path
from streamer.web.openapi import add_get_and_head, error
from streamer.sources.base import io_limiter

def catalog_router(root: str | os.PathLike[str]) -> APIRouter:
    real_root = os.path.realpath(root)
    router = APIRouter()

    async def api_media(
        path: str = Query("", max_length=1024, description="Folder relative to the media root; empty for the root."),
        limit: int = Query(PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT, description="Entries per page."),
        cursor: str | None = Query(None, max_length=1024, description="next_cursor from the previous page."),
    ) -> dict[str, Any]:
        names = parse_media_path(path.strip("/")) if path.strip("/") else ()
        if names is None:
            raise HTTPException(404, "No such folder.")
        after = decode_cursor(cursor) if cursor is not None else None
        if cursor is not None and after is None:
            raise HTTPException(400, "Invalid cursor: pass next_cursor from a previous page unchanged.")
        try:
            page = await asyncify(list_folder, limiter=io_limiter())(real_root, names, after, limit)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise HTTPException(404, "No such folder.") from exc
        return asdict(page)

    refusals = {400: error("The cursor is not one this server gave out."), 404: error("No such folder.")}
    add_get_and_head(router, "/api/media", api_media, responses=refusals, summary="One page of a media folder's listing")
    return router
