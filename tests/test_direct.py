"""DirectEndpoint reads a route function's parameters as FastAPI would, and refuses what it cannot serve."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import pytest
from fastapi import Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from streamer.web.direct import REQUIRED, DirectEndpoint, param_of


def _parameter(function: Any) -> inspect.Parameter:
    return next(iter(inspect.signature(function, eval_str=True).parameters.values()))


async def _request(request: Request) -> None: ...
async def _response(response: Response) -> None: ...
async def _plain(n: int = 3) -> None: ...
async def _required(n: int) -> None: ...
async def _query(size: str = Query("320", max_length=3)) -> None: ...
async def _annotated(rate: Annotated[int | None, Query(description="r")] = None) -> None: ...


@pytest.mark.parametrize(
    ("function", "kind", "default", "valid", "invalid"),
    [
        pytest.param(_request, "request", None, None, None, id="request-injected"),
        pytest.param(_response, "response", None, None, None, id="response-injected"),
        pytest.param(_plain, "value", 3, ("5", 5), "x", id="plain-default-lax-int"),
        pytest.param(_required, "value", REQUIRED, ("0", 0), "", id="no-default-required"),
        pytest.param(_query, "value", "320", ("640", "640"), "1234", id="query-constraints-apply"),
        pytest.param(_annotated, "value", None, ("7", 7), "seven", id="annotated-query"),
    ],
)
def test_param_of(function: Any, kind: str, default: Any, valid: tuple[str, Any] | None, invalid: str | None) -> None:
    param = param_of(_parameter(function))
    assert param.kind == kind
    if kind != "value":
        return
    assert param.default is default or param.default == default
    assert param.adapter is not None and valid is not None
    assert param.adapter.validate_python(valid[0]) == valid[1]
    with pytest.raises(Exception):
        param.adapter.validate_python(invalid)


async def _depends(x: int = Depends(lambda: 1)) -> None: ...
async def _header(x: str = Header("a")) -> None: ...


@pytest.mark.parametrize("function", [pytest.param(_depends, id="depends"), pytest.param(_header, id="header")])
def test_what_fastapi_alone_can_serve_is_refused_when_the_app_is_made(function: Any) -> None:
    with pytest.raises(TypeError, match="not served directly"):
        DirectEndpoint(function)


def test_a_def_function_is_refused() -> None:
    def sync(n: int) -> None: ...

    with pytest.raises(TypeError, match="async def"):
        DirectEndpoint(sync)


def test_errors_name_where_and_which_parameter_as_fastapi_does() -> None:
    async def endpoint(n: int, seed: int = 0) -> None: ...

    direct = DirectEndpoint(endpoint)
    scope = {"type": "http", "path_params": {"n": "x"}, "query_string": b"seed=1&seed=y", "headers": []}
    with pytest.raises(RequestValidationError) as caught:
        direct._arguments(scope, Request(scope), Response())
    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [
        ("int_parsing", ("path", "n")), ("int_parsing", ("query", "seed"))  # the last value of a repeated one
    ]
