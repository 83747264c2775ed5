"""HTTP routes. Every GET route answers HEAD too (RFC 9110 §9.3.2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.types import Scope

ERROR_CONTENT = {"application/json": {"schema": {"type": "object", "properties": {"detail": {"type": "string"}}}}}
BINARY = {"schema": {"type": "string", "format": "binary"}}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}


def error(description: str, **extra: Any) -> dict[str, Any]:
    """An OpenAPI response whose body is ``{"detail": "..."}``."""
    return {"description": description, "content": ERROR_CONTENT, **extra}


# Every route that streams a body may be refused when the server streams its limit of bodies.
BUSY = {503: error("The server is streaming as many bodies as it allows; retry after Retry-After.", headers=RETRY_AFTER)}

def add_get_and_head(router: APIRouter, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
    """Route GET and HEAD to ``endpoint`` as two routes, so OpenAPI gets one operation id for each."""
    for method in ("GET", "HEAD"):
        router.add_api_route(path, endpoint, methods=[method], name=f"{endpoint.__name__}_{method.lower()}", **kwargs)


def route_path(scope: Scope) -> str:
    """The path below the app's ``root_path`` (a mount, a proxy prefix, a signed link's token)."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path
