"""HTTP routes. Every GET route answers HEAD too (RFC 9110 §9.3.2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


def add_get_and_head(router: APIRouter, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
    """Route GET and HEAD to ``endpoint`` as two routes, so OpenAPI gets one operation id for each."""
    for method in ("GET", "HEAD"):
        router.add_api_route(path, endpoint, methods=[method], name=f"{endpoint.__name__}_{method.lower()}", **kwargs)
