"""The plain-Python baseline: Starlette's FileResponse under uvicorn, nothing else.

Serves ``$BENCH_DATA_DIR/<name>`` at ``/media/<name>`` (Range handled by
Starlette's FileResponse, 64 KiB chunks) and ``ok`` at ``/healthz``. Only the
files present at start-up are served. Run with
``uvicorn bench.starlette_app:app --loop uvloop --http httptools --no-access-log``.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

DATA_DIR_ENV = "BENCH_DATA_DIR"
DATA_DIR = Path(os.environ.get(DATA_DIR_ENV, "."))
SERVED = frozenset(p.name for p in DATA_DIR.iterdir() if p.is_file()) if DATA_DIR.is_dir() else frozenset()


async def media(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in SERVED:
        raise HTTPException(404)
    return FileResponse(DATA_DIR / name)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/media/{name}", media), Route("/healthz", healthz)])
