"""Where a request's CPU time goes, by layer: a py-spy ``--format raw`` profile folded into a table.

``python -m bench.layers PROFILE.txt REQUESTS`` reads py-spy's collapsed stacks (one line per
stack, frames outermost first, the sample count last), gives each sample to the layer of its
innermost frame that belongs to a layer (helpers such as Starlette's header classes, contextlib
or enum take the layer of their caller), and prints microseconds of CPU per request for each,
from the sampling rate (``--rate``, as given to py-spy) and the number of requests served.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# First match wins, frame by frame from the innermost out.
LAYERS = [
    ("sendfile", r"send_cached|send_at|os\.sendfile|FileSender|FileBody"),
    ("file open/stat/cachestat/lease", r"streamer/sources/"),
    ("planning (streamer.http, plan_for)", r"streamer/http/|plan_for|request_fields|streamer/web/planned\.py"),
    ("access log (logging)", r"logging/__init__"),
    ("response class (MediaResponse, stall guard)", r"streamer/web/responses\.py"),
    ("endpoint glue (MediaEndpoint, query)", r"streamer/web/media\.py|pydantic|urllib/parse"),
    ("front dispatch / routing", r"streamer/web/front\.py|starlette/routing|fastapi/routing"),
    ("metrics", r"streamer/web/metrics\.py|prometheus_client"),
    ("access control", r"streamer/web/access\.py"),
    ("request limits", r"streamer/web/limits\.py"),
    ("CORS", r"starlette/middleware/cors"),
    ("FastAPI/Starlette outer layers", r"fastapi/|starlette/middleware/|starlette/applications|starlette/_exception"),
    ("uvicorn protocol / HTTP parse / send", r"uvicorn/|streamer/server/protocol\.py|httptools"),
    ("anyio (cancel scopes, threads)", r"anyio/"),
    ("event loop (uvloop, asyncio)", r"asyncio/|Runner\.run"),
]
NEUTRAL = re.compile(r"starlette/datastructures|starlette/requests|starlette/responses|contextlib|enum\.py|typing|"
                     r"dataclasses|functools|abc\.py|<frozen|threading|collections/|weakref|_weakrefset|types\.py")
COMPILED = [(name, re.compile(pattern)) for name, pattern in LAYERS]


def layer_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        if NEUTRAL.search(frame):
            continue
        for name, pattern in COMPILED:
            if pattern.search(frame):
                return name
        return "other: " + frame.split(" (")[0]
    return "other"


def fold(lines: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            counts[layer_of(stack.split(";"))] += int(count)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.layers", description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("requests", type=int, help="requests served while the profile was taken")
    parser.add_argument("--rate", type=int, default=500, help="py-spy's samples per second")
    parser.add_argument("--top-other", type=int, default=5)
    args = parser.parse_args(argv)
    counts = fold(args.profile.read_text().splitlines())
    per_request = 1e6 / args.rate / args.requests
    total = sum(counts.values())
    named = [(n, c) for n, c in counts.items() if not n.startswith("other")]
    other = sum(c for n, c in counts.items() if n.startswith("other"))
    print("| layer | us per request | share |\n|---|---|---|")
    for name, count in sorted(named, key=lambda item: -item[1]):
        print(f"| {name} | {count * per_request:.0f} | {count / total:.0%} |")
    print(f"| other | {other * per_request:.0f} | {other / total:.0%} |")
    print(f"| **total** | **{total * per_request:.0f}** | |")
    for name, count in sorted(((n, c) for n, c in counts.items() if n.startswith("other")), key=lambda i: -i[1])[: args.top_other]:
        print(f"  {name}: {count * per_request:.1f} us", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
