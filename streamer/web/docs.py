"""``/docs`` that works offline: Swagger UI's page, its script and its style all from this app.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so on an isolated network it is
a blank page. The assets come from the ``fastapi-offline`` package (Swagger UI 5,
which reads OpenAPI 3.1) and are answered like any in-memory body (``planned_bytes``:
ETag, 304, Range). Every URL in the page is relative, so it works under a prefix too.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

from streamer.web.planned import planned_bytes
from streamer.web.responses import MediaResponse

ASSETS = {  # the only files served, with the types a browser needs to run them (never guessed from a name)
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
ASSET_PREFIX = "docs-assets"


@cache
def _asset(name: str) -> bytes:
    return (files("fastapi_offline") / "static" / name).read_bytes()


def docs_router(title: str) -> APIRouter:
    """``GET /docs`` and its assets; give the app ``docs_url=None`` so FastAPI's CDN page is not made."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="openapi.json",  # relative to /docs: the app's own schema, under any prefix
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{ASSET_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSET_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{ASSET_PREFIX}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},  # else Swagger UI asks an outside validator about the schema
        )

    @router.get(f"/{ASSET_PREFIX}/{{name}}")
    def asset(name: str, request: Request) -> MediaResponse:  # def: the first read of each file is from the disk
        if name not in ASSETS:
            raise HTTPException(404, "Not Found")
        return planned_bytes(request, _asset(name), filename=name, media_type=ASSETS[name])

    return router
