"""What runs inside a media worker process: the job loop, and the error a job raises on bad input.

Kept apart from the pool so that a worker imports nothing but the standard library before
its first job. Framing on the pipes: a 4-byte big-endian length, then a pickle; requests
``(fn, args)`` on stdin, replies ``("ok", value)`` or ``("error", exception)`` on stdout.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">I")
NICENESS = 10  # workers yield the CPU to the server's event loop when both want it


def store(target: str, data: bytes) -> None:
    """A job's result written to ``target`` whole or not at all: another process may read it at any moment."""
    temporary = f"{target}.{os.getpid()}.tmp"
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(temporary, "wb") as file:
        file.write(data)
    os.replace(temporary, target)


class JobError(Exception):
    """A job's expected failure, carried back from the worker: ``status`` and ``reason`` for the client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def serve(memory_limit: int) -> None:
    """The worker's loop: read a pickled ``(fn, args)`` from stdin, write ``(kind, value)`` to stdout."""
    import resource

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the server's group is the server's to handle
    os.nice(NICENESS)
    output = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the replies
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    source = sys.stdin.buffer
    while header := source.read(HEADER.size):
        (length,) = HEADER.unpack(header)
        fn, args = pickle.loads(source.read(length))
        reply = _outcome(fn, args)
        output.write(HEADER.pack(len(reply)) + reply)
        output.flush()


def _outcome(fn: Callable[..., Any], args: tuple[Any, ...]) -> bytes:
    try:
        result: tuple[str, Any] = ("ok", fn(*args))
    except JobError as exc:
        result = ("error", exc)
    except MemoryError:
        result = ("error", JobError(422, "The file needs more memory than a media job may use."))
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller, the worker lives on
        result = ("error", exc)
    try:
        return pickle.dumps(result)
    except Exception:  # noqa: BLE001 - an exception that does not pickle is described instead
        return pickle.dumps(("error", JobError(422, f"{type(result[1]).__name__}: {result[1]}")))
