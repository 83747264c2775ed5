"""The front door: routes served by a pure ASGI app answered without FastAPI's router and exception layers.

A route made with ``served_by(app)`` is documented in OpenAPI from its FastAPI endpoint,
but its requests are answered by ``app``, which does its own validation (``/media``).
``FrontDoor`` is pure ASGI and the innermost of streamer's own middlewares, so request
limits, metrics, access control and CORS apply to what it serves exactly as to the rest.
It looks a request up among the app's routes with the same first path segment, in the
app's order; when the first route that matches in full is a served one, it calls that
route's app and turns an exception into the answer the app's own exception handler gives.
Anything else, a method the route does not answer (405) among it, goes on to FastAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamer.web.openapi import route_path

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


def first_segment(path: str) -> str:
    """``/media/a/b.mp4`` -> ``media``; a path template's ``/{name}`` -> ``{name}``."""
    return path[1:].partition("/")[0]


def routes_by_segment(routes: Sequence[BaseRoute]) -> dict[str, tuple[BaseRoute, ...]]:
    """The routes that may match a path with each literal first segment, in their order.

    A route whose template has a parameter in its first segment may match any path: it is
    kept, in order, in every entry, and under ``""`` for a segment no literal route names.
    """
    paths = [str(getattr(route, "path", "/{any}")) for route in routes]
    literals = {first_segment(p) for p in paths if "{" not in first_segment(p)} | {""}
    return {
        segment: tuple(r for r, p in zip(routes, paths) if first_segment(p) == segment or "{" in first_segment(p))
        for segment in literals
    }


class ServedRoute(APIRoute):
    """A FastAPI route whose requests ``served_app`` answers (set by ``served_by``)."""

    served_app: ASGIApp

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in (self.methods or ()):
            await self.served_app(scope, receive, send)
        else:  # FastAPI's 405
            await super().handle(scope, receive, send)


def served_by(app: ASGIApp) -> type[APIRoute]:
    """A route class whose requests ``app`` answers, documented in OpenAPI from its endpoint as usual."""
    return type("ServedRoute", (ServedRoute,), {"served_app": staticmethod(app)})


class FrontDoor:
    """Serves the planned routes of ``routes`` directly; ``handlers``: the app's exception handlers, by class."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], handlers: Mapping[Any, Handler]) -> None:
        self.app = app
        self.table = routes_by_segment(routes)
        self.handlers = handlers

    def served_route(self, scope: Scope) -> tuple[ServedRoute, Scope] | None:
        """The served route that answers this request, and its child scope; ``None`` if FastAPI should."""
        path = route_path(scope)
        segment = first_segment(path)
        for route in self.table.get(segment) or self.table[""]:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return (route, child) if isinstance(route, ServedRoute) and scope["method"] in (route.methods or ()) else None
            if match is Match.PARTIAL:  # another method: FastAPI's 405, with every allowed method named
                return None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.served_route(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        route, child = found
        scope.update(child)
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await route.served_app(scope, receive, sending)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            if started:  # as Starlette: too late for an error answer
                raise RuntimeError("Caught handled exception, but response already started.") from exc
            request = Request(scope, receive)
            response = handler(request, exc)
            if not isinstance(response, Response):
                response = await response
            await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None
