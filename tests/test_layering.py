"""The layers hold, read with ``ast``: the HTTP core stays pure, and no layer imports one above it.

Layers, lowest first: ``http`` (pure), ``sources``, ``media``, ``web``, ``server``. A module may
import its own layer and those below; pure modules import only other pure modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "streamer"
LAYERS = ("http", "sources", "media", "web", "server")
PURE_EXTRA = (  # pure modules outside the HTTP core, one per line
    "sources.synthetic",
    "sources.listing",
    "media.adts",
    "media.bmff",
    "media.ebml",
    "media.fmp4",
    "media.mkvblocks",
    "media.hlsplan",
    "media.subtitles",
    "media.codecs",
    "media.playback",
)
PURE = tuple(
    sorted(
        [f"http.{p.stem}" for p in (PACKAGE / "http").glob("*.py") if p.stem != "__init__"]
        + [name for name in PURE_EXTRA]
    )
)
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


def imported_modules(tree: ast.Module, package: str = "streamer.http") -> set[str]:
    """Absolute dotted names of every module imported anywhere in ``tree``; relative ones from ``package``."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = parent + (f".{base}" if base else "")
            if base in ("streamer", package):  # `from streamer import x` / `from . import x`: the submodule x
                found.update(f"{base}.{alias.name}" for alias in node.names)
            else:
                found.add(base)
    return found


def is_pure(dotted: str) -> bool:
    """``http`` (the package) and ``http.x``, or a listed pure module, are pure."""
    return dotted == "http" or dotted in PURE or dotted.split(".")[0] == "http"


def layer_of(dotted: str) -> int | None:
    """The rank of a module's layer (``web.media`` -> 3); ``None`` for the package root."""
    first = dotted.split(".")[0]
    return LAYERS.index(first) if first in LAYERS else None


def upward_imports(module: str, source: str) -> list[str]:
    """Imports of ``streamer.<module>`` that reach a layer above its own."""
    own = layer_of(module)
    problems = []
    package = "streamer." + module.rpartition(".")[0]
    for name in sorted(imported_modules(ast.parse(source), package)):
        if name.split(".")[0] != "streamer" or own is None:
            continue
        target = layer_of(name.partition(".")[2])
        if target is None or target > own:
            problems.append(f"{module} imports {name}")
    return problems


def layering_violations(source: str) -> list[str]:
    tree = ast.parse(source)
    problems = []
    for name in sorted(imported_modules(tree)):
        top = name.split(".")[0]
        if top in FORBIDDEN:
            problems.append(f"imports {name}")
        elif top == "streamer" and not is_pure(name.partition(".")[2]):
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
    assert layering_violations((PACKAGE / f"{module.replace('.', '/')}.py").read_text(encoding="utf-8")) == []


MODULES = sorted(
    ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
    for p in PACKAGE.rglob("*.py")
    if p.parent != PACKAGE
)


@pytest.mark.parametrize("module", MODULES)
def test_no_layer_imports_a_higher_one(module: str) -> None:
    source = (PACKAGE / f"{module.replace('.', '/')}.py").read_text(encoding="utf-8")
    assert upward_imports(module, source) == []


def test_every_module_lives_in_a_layer() -> None:
    """Only the package's public face and ``python -m`` sit at the top; everything else is layered."""
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "__main__.py"]
    assert {m.split(".")[0] for m in MODULES} <= set(LAYERS)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        pytest.param("sources.file", "from streamer.http.paths import x", [], id="down-allowed"),
        pytest.param("web.media", "from streamer.web.planned import x", [], id="same-layer-allowed"),
        pytest.param(
            "sources.file", "from streamer.web.responses import x", ["sources.file imports streamer.web.responses"], id="up-refused"
        ),
        pytest.param("media.probe", "import streamer.server.app", ["media.probe imports streamer.server.app"], id="import-up"),
        pytest.param("web.media", "from streamer import create_app", ["web.media imports streamer.create_app"], id="package-root-refused"),
    ],
)
def test_upward_import_checker(module: str, source: str, expected: list[str]) -> None:
    assert upward_imports(module, source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import os", ["imports os"], id="import"),
        pytest.param("import os.path", ["imports os.path"], id="dotted-import"),
        pytest.param("import asyncio as aio", ["imports asyncio"], id="aliased-import"),
        pytest.param("from pathlib import Path", ["imports pathlib"], id="from-import"),
        pytest.param("from starlette.responses import Response", ["imports starlette.responses"], id="framework"),
        pytest.param("def f():\n    import threading", ["imports threading"], id="import-inside-function"),
        pytest.param("from streamer.sources.chunks import CHUNK_SIZE", ["imports impure streamer.sources.chunks"], id="impure-sibling"),
        pytest.param("from ..sources import ByteSource", ["imports impure streamer.sources"], id="relative-impure"),
        pytest.param("from .. import sources", ["imports impure streamer.sources"], id="relative-submodule"),
        pytest.param("from streamer import sources", ["imports impure streamer.sources"], id="absolute-submodule"),
        pytest.param("import streamer", ["imports impure streamer"], id="package-init"),
        pytest.param("from streamer.http.ranges import ByteRange", [], id="pure-sibling-allowed"),
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
