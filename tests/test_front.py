"""The front door: which route answers a request, and that a served route's answer bypasses FastAPI's router."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

from streamer import Settings, create_app
from streamer.web.front import FrontDoor, ServedRoute, first_segment, routes_by_segment, served_by


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/media/a/b.mp4", "media", id="first-of-several"),
        pytest.param("/healthz", "healthz", id="only-segment"),
        pytest.param("/", "", id="root"),
        pytest.param("/{name}", "{name}", id="template-parameter"),
        pytest.param("/media/", "media", id="trailing-slash"),
    ],
)
def test_first_segment(path: str, expected: str) -> None:
    assert first_segment(path) == expected


class Route:
    def __init__(self, path: str) -> None:
        self.path = path


def paths(table: dict[str, tuple[BaseRoute, ...]]) -> dict[str, list[str]]:
    return {segment: [r.path for r in routes] for segment, routes in table.items()}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("templates", "expected"),
    [
        pytest.param(["/media/{path:path}", "/healthz"], {"media": ["/media/{path:path}"], "healthz": ["/healthz"], "": []},
                     id="one-bucket-per-literal-segment"),
        pytest.param(["/media/{path:path}", "/media/{path:path}"], {"media": ["/media/{path:path}"] * 2, "": []},
                     id="same-template-order-kept"),
        pytest.param(["/a", "/{any}", "/b"], {"a": ["/a", "/{any}"], "b": ["/{any}", "/b"], "": ["/{any}"]},
                     id="parameter-first-segment-in-every-bucket-in-order"),
        pytest.param(["/"], {"": ["/"]}, id="root-under-empty-segment"),
    ],
)
def test_routes_by_segment(templates: list[str], expected: dict[str, list[str]]) -> None:
    assert paths(routes_by_segment([Route(t) for t in templates])) == expected  # type: ignore[list-item]


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["path_params"]["path"].encode()})


def _door() -> tuple[FrontDoor, list[str]]:
    behind: list[str] = []

    async def fastapi(scope: Scope, receive: Receive, send: Send) -> None:
        behind.append(scope["path"])

    async def endpoint(path: str) -> None: ...

    router = APIRouter()
    router.add_api_route("/media/{path:path}", endpoint, methods=["GET"], route_class_override=served_by(_answer))
    router.add_api_route("/other/{path:path}", endpoint, methods=["GET"])
    return FrontDoor(fastapi, router.routes, {}), behind


@pytest.mark.parametrize(
    ("method", "path", "served"),
    [
        pytest.param("GET", "/media/a.mp4", b"a.mp4", id="served-route-answered-in-front"),
        pytest.param("POST", "/media/a.mp4", None, id="other-method-left-to-fastapi-405"),
        pytest.param("GET", "/other/a.mp4", None, id="fastapi-route-left-to-fastapi"),
        pytest.param("GET", "/nowhere", None, id="unrouted-left-to-fastapi-404"),
    ],
)
@pytest.mark.anyio
async def test_front_door_serves_only_served_routes(method: str, path: str, served: bytes | None) -> None:
    door, behind = _door()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    await door({"type": "http", "method": method, "path": path, "root_path": "", "headers": []}, receive, send)
    assert (sent[-1]["body"] if sent else None) == served
    assert behind == ([] if served else [path])


PLANNED = ["/media/{path:path}", "/thumbs/{path:path}", "/hls/{path:path}", "/bytes/{n}", "/stream-bytes/{n}", "/range/{n}", "/drip"]


@pytest.mark.parametrize("template", PLANNED)
def test_every_planned_route_is_answered_by_the_front_door(tmp_path: Path, template: str) -> None:
    app = create_app(Settings(media_dir=tmp_path, cache_dir=tmp_path / "cache", load_testing="on"))
    routes = [route for route in app.state.method_routes if getattr(route, "path", None) == template]
    assert routes and all(isinstance(route, ServedRoute) for route in routes), routes
