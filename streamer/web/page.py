"""GET / (the media library page), /favicon.ico and /static/{name}: the page's own files, from the package.

Only the files named in ``ASSETS`` are served, each with a strong ETag from its
content, so a browser keeps them and revalidates with a 304. The page links to
everything by relative URL, so it works as well under a mount or a ``root_path``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from streamer.http.representation import Representation
from streamer.web.openapi import BINARY, add_get_and_head, error
from streamer.web.planned import bytes_response, planned_responses
from streamer.web.responses import MediaResponse

STATIC = files("streamer").joinpath("static")
PAGE_HEADERS = {
    # Everything the page needs is inline or same-origin; blob: is where hls.js puts what it plays.
    "content-security-policy": (
        "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self'; "
        "media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
ASSET_TYPES = {".ico": "image/vnd.microsoft.icon", ".js": "text/javascript; charset=utf-8"}
ASSET_CACHE_CONTROL = "public, max-age=86400"


@dataclass(frozen=True)
class Asset:
    data: bytes
    rep: Representation


def load_asset(name: str) -> Asset:
    data = STATIC.joinpath(name).read_bytes()
    media_type = ASSET_TYPES[name[name.rindex(".") :]]
    validator = hashlib.sha256(data).hexdigest()[:16]
    return Asset(data, Representation(len(data), 0, media_type, name, validator=validator))


def assets() -> dict[str, Asset]:
    """Every file of the package's static folder that the page may load, by name."""
    found = (entry.name for entry in STATIC.iterdir() if entry.is_file())
    return {name: load_asset(name) for name in sorted(found) if "." in name and name[name.rindex(".") :] in ASSET_TYPES}


def page_router() -> APIRouter:
    router = APIRouter()
    page = STATIC.joinpath("index.html").read_text(encoding="utf-8")
    served = assets()

    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    def answer_asset(request: Request, name: str) -> MediaResponse:
        asset = served.get(name)
        if asset is None:
            raise HTTPException(404, "Not Found")
        response = bytes_response(request, asset.data, asset.rep)
        response.headers["cache-control"] = ASSET_CACHE_CONTROL
        return response

    async def favicon(request: Request) -> MediaResponse:
        return answer_asset(request, "favicon.ico")

    async def static(request: Request, name: str) -> MediaResponse:
        return answer_asset(request, name)

    icon = {"image/vnd.microsoft.icon": BINARY}
    scripts = {"text/javascript": {"schema": {"type": "string"}}}
    add_get_and_head(router, "/", index, response_class=HTMLResponse, summary="The media library page")
    add_get_and_head(
        router, "/favicon.ico", favicon, response_class=MediaResponse,
        responses=planned_responses(icon, "icon"), summary="The page's icon",
    )
    add_get_and_head(
        router, "/static/{name}", static, response_class=MediaResponse,
        responses={**planned_responses(scripts, "file"), 404: error("The page has no file of this name.")},
        summary="A script the page loads",
    )
    return router
