"""A planned route's function as a pure ASGI app, answering exactly as FastAPI would, for the front door.

``direct_endpoint(call)`` validates the function's path and query parameters as FastAPI
does (pydantic in lax mode on the strings, the last value of a repeated parameter; a 422
with the same errors), hands it the ``Request`` and an injected ``Response``, and answers
as FastAPI answers a route: a ``Response`` the function returns as it is; a ``MediaFile``
streamed by the route's response class (``io``: the ``def`` or ``async def`` generator
form), with the status and headers set on the injected ``Response``. It knows no other
dependency: a function that asks for one is refused when the app is made.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi import Request, Response, params
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined
from starlette.types import Receive, Scope, Send

from streamer.web.planned import MediaFile, check_io
from streamer.web.responses import MediaResponse

REQUIRED = object()  # the default of a parameter that has none


@dataclass(frozen=True)
class Param:
    """One parameter of the function: where its value comes from, how it is validated, its default."""

    name: str
    kind: str  # "request", "response" or "value" (a path parameter if the route has one so named, else query)
    adapter: TypeAdapter[Any] | None = None
    default: Any = REQUIRED


def param_of(parameter: inspect.Parameter) -> Param:
    """What FastAPI would make of ``parameter``; ``TypeError`` for anything but a plain or ``Query`` value."""
    annotation, default = parameter.annotation, parameter.default
    if annotation is Request:
        return Param(parameter.name, "request")
    if annotation is Response:
        return Param(parameter.name, "response")
    metadata: list[Any] = []
    if get_origin(annotation) is Annotated:
        annotation, *metadata = get_args(annotation)
        if any(not isinstance(m, params.Query) for m in metadata):
            raise TypeError(f"{parameter.name}: only Query(...) metadata is served directly")
    if isinstance(default, params.Query):
        metadata, default = [*metadata, default], default.default  # its constraints (max_length...) apply
    elif isinstance(default, params.Param | params.Depends | params.Body):
        raise TypeError(f"{parameter.name}: {type(default).__name__} is not served directly")
    if default is inspect.Parameter.empty or default is PydanticUndefined or default is Ellipsis:
        default = REQUIRED
    adapter = TypeAdapter(Annotated[annotation, *metadata]) if metadata else TypeAdapter(annotation)
    return Param(parameter.name, "value", adapter, default)


def _validate(param: Param, where: str, raw: str | None, errors: list[dict[str, Any]]) -> Any:
    if raw is None:
        if param.default is not REQUIRED:
            return param.default
        errors.append({"type": "missing", "loc": (where, param.name), "msg": "Field required", "input": None})
        return None
    assert param.adapter is not None
    try:
        return param.adapter.validate_python(raw)
    except ValidationError as exc:
        errors.extend({**e, "loc": (where, param.name, *e["loc"])} for e in exc.errors(include_url=False))
        return None


class DirectEndpoint:
    """The ASGI app answering for ``call`` (an ``async def``) as its FastAPI route would."""

    def __init__(self, call: Callable[..., Awaitable[Any]], io: str = "async",
                 response_class: type[MediaResponse] = MediaResponse) -> None:
        if not inspect.iscoroutinefunction(call) and not inspect.iscoroutinefunction(getattr(call, "__call__", None)):
            raise TypeError(f"{call!r}: only an async def function is served directly")
        check_io(io)
        self.call = call
        self.io = io
        self.response_class = response_class
        self.params = [param_of(p) for p in inspect.signature(call, eval_str=True).parameters.values()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        injected = Response()
        del injected.headers["content-length"]
        injected.status_code = None  # type: ignore[assignment]
        await self._answer(await self.call(**self._arguments(scope, request, injected)), injected)(scope, receive, send)

    def _arguments(self, scope: Scope, request: Request, injected: Response) -> dict[str, Any]:
        path = scope.get("path_params", {})
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        arguments: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for param in self.params:
            if param.kind == "request":
                arguments[param.name] = request
            elif param.kind == "response":
                arguments[param.name] = injected
            elif param.name in path:
                arguments[param.name] = _validate(param, "path", path[param.name], errors)
            else:
                arguments[param.name] = _validate(param, "query", query.get(param.name), errors)
        if errors:
            raise RequestValidationError(errors)
        return arguments

    def _answer(self, result: Any, injected: Response) -> Response:
        if isinstance(result, Response):
            return result
        if not isinstance(result, MediaFile):
            raise TypeError(f"{self.call!r} returned {type(result).__name__}, not a Response or a MediaFile")
        content = result.iter_chunks() if self.io == "sync" else result.aiter_chunks()
        status = {} if injected.status_code is None else {"status_code": injected.status_code}
        response = self.response_class(content, **status)
        response.headers.raw.extend(injected.headers.raw)  # as FastAPI does: the response class keeps the last type
        return response
