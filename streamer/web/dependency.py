"""What the ``MediaFiles`` dependency shows FastAPI, and the checks that make it hard to hold wrong.

FastAPI reads a dependency's parameters from its signature when a route is made.
``DependencySignature`` gives each ``MediaFiles`` its own: ``?download=`` and
``?rate=`` only when that instance allows them (a library user's public route gets
neither unless asked for), and it refuses, right there at route creation, a route
with no ``{path}`` parameter, which would otherwise answer every request with a 422.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
from typing import Any

from fastapi import HTTPException, Query

from streamer.http.plan import ResponsePlan

MAX_PACED_S = 60.0  # longest a ?rate= stream may take: a paced stream cannot outlive this
DOWNLOAD_QUERY = Query(description="Send Content-Disposition: attachment.")
PACE_QUERY = Query(description="Pace the body to this many bytes per second (token bucket), at most the route's limit.")
OPTIONAL = {"download": "allow_download", "rate": "allow_rate"}  # query parameter -> the switch that enables it
_PATH_PARAM = re.compile(r"{(\w+)")


class DependencySignature:
    """``__signature__`` for a callable dependency object: its ``__call__``'s, less the parameters it does not allow."""

    def __get__(self, obj: Any, owner: type | None = None) -> inspect.Signature | None:
        if obj is None:  # the class itself: inspect then reads __init__ as usual
            return None
        signature = inspect.signature(obj.__call__, eval_str=True)
        kept = [p for name, p in signature.parameters.items() if getattr(obj, OPTIONAL.get(name, ""), True)]
        route = _route_being_made(obj)
        if route is not None and "path" not in _PATH_PARAM.findall(route):
            raise TypeError(
                f"{type(obj).__name__} serves the file named by a route parameter called `path`, and the route "
                f"{route!r} has none: declare it with one, e.g. '/videos/{{path:path}}' "
                "(`:path` lets it span folders)"
            )
        return signature.replace(parameters=kept)


def _route_being_made(dependency: object) -> str | None:
    """The path of the route FastAPI is analysing ``dependency`` for, if that is why the signature is read.

    FastAPI offers no hook at route creation; its ``get_dependant(path=..., call=...)``
    is on the stack then. Anywhere else (or in a FastAPI that works otherwise) this
    finds nothing, and the route simply is not checked.
    """
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "get_dependant" and frame.f_locals.get("call") is dependency:
            path = frame.f_locals.get("path")
            return path if isinstance(path, str) else None
        frame = frame.f_back
    return None


def check_paced_duration(plan: ResponsePlan, requested: int | None, pace: float | None, max_s: float) -> None:
    """400 when the client's own ``?rate=`` would stretch this body past ``max_s`` seconds.

    A paced stream sends a little at a time, so the stall timeout never cuts it: without
    this bound, ``?rate=1`` would hold a file and a connection for as long as the client
    likes. A pace set by the server itself (``rate=``/``--rate-limit``) is the operator's choice.
    """
    if requested is None or pace != requested or plan.status >= 300:
        return
    length = plan.content_length
    if length / requested > max_s:
        least = math.ceil(length / max_s)
        raise HTTPException(
            400,
            f"rate={requested} would take {length / requested:.0f} s to send these {length} bytes; a paced stream "
            f"may last at most {max_s:g} s, so ask for at least rate={least}",
        )
