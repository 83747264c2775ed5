"""The pure layer stays pure: no I/O, no event loop, no web framework, read with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "streamer"
PURE = ("ranges", "conditional", "representation", "plan", "multipart", "paths", "pacing", "synthetic")
FORBIDDEN = frozenset(
    {
        "os",
        "io",
        "pathlib",
        "shutil",
        "socket",
        "asyncio",
        "anyio",
        "starlette",
        "fastapi",
        "aiofiles",
        "uvicorn",
        "threading",
        "subprocess",
        "tempfile",
        "mmap",
    }
)


def imported_modules(tree: ast.Module) -> set[str]:
    """Absolute dotted names of every module imported anywhere in ``tree`` (relative ones under streamer)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = "streamer" + (f".{base}" if base else "")
            if base == "streamer":  # `from streamer import x` / `from . import x`: the submodule x
                found.update(f"{base}.{alias.name}" for alias in node.names)
            else:
                found.add(base)
    return found


def layering_violations(source: str) -> list[str]:
    tree = ast.parse(source)
    problems = []
    for name in sorted(imported_modules(tree)):
        top = name.split(".")[0]
        if top in FORBIDDEN:
            problems.append(f"imports {name}")
        elif top == "streamer" and name.partition(".")[2].split(".")[0] not in PURE:
            problems.append(f"imports impure {name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Name) and func.id in ("open", "__import__")) or (
                isinstance(func, ast.Attribute) and func.attr == "import_module"
            ):
                problems.append(f"calls {ast.unparse(func)}() on line {node.lineno}")
    return problems


@pytest.mark.parametrize("module", PURE)
def test_pure_module_does_no_io(module: str) -> None:
    assert layering_violations((PACKAGE / f"{module}.py").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import os", ["imports os"], id="import"),
        pytest.param("import os.path", ["imports os.path"], id="dotted-import"),
        pytest.param("import asyncio as aio", ["imports asyncio"], id="aliased-import"),
        pytest.param("from pathlib import Path", ["imports pathlib"], id="from-import"),
        pytest.param("from starlette.responses import Response", ["imports starlette.responses"], id="framework"),
        pytest.param("def f():\n    import threading", ["imports threading"], id="import-inside-function"),
        pytest.param("from streamer.chunks import CHUNK_SIZE", ["imports impure streamer.chunks"], id="impure-sibling"),
        pytest.param("from .sources import ByteSource", ["imports impure streamer.sources"], id="relative-impure"),
        pytest.param("from . import sources", ["imports impure streamer.sources"], id="relative-submodule"),
        pytest.param("from streamer import sources", ["imports impure streamer.sources"], id="absolute-submodule"),
        pytest.param("import streamer", ["imports impure streamer"], id="package-init"),
        pytest.param("from streamer.ranges import ByteRange", [], id="pure-sibling-allowed"),
        pytest.param("from . import ranges", [], id="relative-pure-sibling-allowed"),
        pytest.param("import posixpath\nimport re", [], id="string-only-stdlib-allowed"),
        pytest.param("data = open('x').read()", ["calls open() on line 1"], id="open-call"),
        pytest.param(
            "m = importlib.import_module('os')", ["calls importlib.import_module() on line 1"], id="import-module"
        ),
    ],
)
def test_layering_checker(source: str, expected: list[str]) -> None:
    """The checker itself must be able to fail."""
    assert layering_violations(source) == expected
