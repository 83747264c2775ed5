"""schemathesis over the OpenAPI schema streamer serves, against a real server in both io forms.

Every operation in ``/openapi.json`` gets schema-valid and schema-violating
requests (schemathesis's positive and negative modes). Checks: no 5xx (except a
``/drip`` that was asked for one), invalid input refused with a 4xx, and every
documented status, content type, header and JSON body conforming; the refusals
(the 400s that name a limit, the catalog's 404) are checked one by one too.
Small limits keep each call short.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ServerThread

EXAMPLES = 25  # per operation and generation mode
MAX_BYTES = 1 << 20
MAX_DURATION_S = 0.25
FAST_RATE = 1 << 24  # bytes per second: a generated rate below it is raised, so a body takes at most 1/16 s
MIN_CHUNK = 4096  # a generated chunk size below it is raised: 1 MiB in 1-byte chunks is correct but slow
CALL_TIMEOUT_S = 10
CHECKS = [
    status_code_conformance,
    negative_data_rejection,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Refusals from the request-limits middleware count as rejecting invalid input, as 400 and 422 do.
REJECTED = ["400", "404", "405", "414", "422", "431"]
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTED}}})
REQUIRED_OPERATIONS = {
    f"{method} {path}"
    for path in ("/media/{path}", "/bytes/{n}", "/range/{n}", "/api/media", "/healthz", "/debug/lag", "/")
    for method in ("GET", "HEAD")
} | {"GET /stream-bytes/{n}", "GET /drip"}
PARAMETRIZED = {"/media/{path}", "/bytes/{n}", "/range/{n}", "/stream-bytes/{n}", "/drip", "/api/media"}

Factory = Callable[..., ServerThread]


@pytest.fixture
def api(server_factory: Factory) -> tuple[ServerThread, schemathesis.BaseSchema]:
    server = server_factory(max_bytes=MAX_BYTES, max_duration=MAX_DURATION_S)
    return server, schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", config=CONFIG)


def keep_fast(case: Case) -> None:
    """Raise a slow pace or a tiny chunk size (both tested in test_load_http); leave invalid values alone."""
    query = case.query or {}
    for name, floor in (("rate", FAST_RATE), ("chunk_size", MIN_CHUNK)):
        value = query.get(name)
        if type(value) is int and 1 <= value < floor:
            query[name] = floor


def asked_for_server_error(case: Case) -> int | None:
    """``/drip?code=5xx`` answers with that status on purpose."""
    code = (case.query or {}).get("code")
    if case.operation.path == "/drip" and type(code) is int and 500 <= code <= 599:
        return code
    return None


def fuzz_operation(server: ServerThread, operation: Any, mode: GenerationMode, calls: Counter[str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case) -> None:
        keep_fast(case)
        response = case.call(base_url=server.base_url, timeout=CALL_TIMEOUT_S)
        calls[operation.label] += 1
        requested = asked_for_server_error(case)
        if requested is not None:
            assert response.status_code == requested
            return
        case.validate_response(response, checks=[not_a_server_error, *CHECKS])

    run()


def test_schema_has_the_expected_operations(api: tuple[ServerThread, schemathesis.BaseSchema]) -> None:
    _, schema = api
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert REQUIRED_OPERATIONS <= labels


def test_every_operation_passes_the_checks(api: tuple[ServerThread, schemathesis.BaseSchema]) -> None:
    server, schema = api
    calls: Counter[str] = Counter()
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if operation.path in PARAMETRIZED else [])
        for mode in modes:
            try:
                fuzz_operation(server, operation, mode, calls)
            except FailureGroup as exc:
                failures[f"{operation.label} ({mode.value})"] = str(exc)
    assert not failures, "\n\n".join(f"{label}:\n{report}" for label, report in failures.items())
    assert set(calls) == {operation.label for operation in operations}
    for label in REQUIRED_OPERATIONS:
        minimum = EXAMPLES if label.split()[1] in PARAMETRIZED else 1
        assert calls[label] >= minimum, (label, calls[label])


@pytest.mark.parametrize(
    ("method", "path", "parameters"),
    [
        pytest.param("GET", "/bytes/{n}", {"path_parameters": {"n": MAX_BYTES + 1}}, id="bytes-limit-400"),
        pytest.param("GET", "/range/{n}", {"query": {"duration": 60}}, id="range-duration-limit-400"),
        pytest.param("GET", "/drip", {"query": {"code": 100}}, id="drip-code-limit-400"),
        pytest.param("GET", "/media/{path}", {"path_parameters": {"path": "small.bin"}, "query": {"rate": 0}},
                     id="media-rate-limit-400"),
        pytest.param("GET", "/api/media", {"query": {"path": "no-such-folder"}}, id="catalog-missing-folder-404"),
    ],
)
def test_refusals_are_documented_in_the_schema(
    api: tuple[ServerThread, schemathesis.BaseSchema], method: str, path: str, parameters: dict[str, Any]
) -> None:
    server, schema = api
    parameters.setdefault("path_parameters", {"n": 10} if "{n}" in path else None)
    case = schema[path][method].Case(**{key: value for key, value in parameters.items() if value is not None})
    response = case.call(base_url=server.base_url, timeout=CALL_TIMEOUT_S)
    assert 400 <= response.status_code < 500
    case.validate_response(response, checks=[status_code_conformance])
