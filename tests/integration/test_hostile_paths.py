"""A generated corpus of hostile request paths, sent byte for byte to a real server in both io forms.

The media root sits next to ``outside/secret.txt``, whose content is a marker
found nowhere else, and every traversal payload is aimed at that file (through
real subdirectories, so each ``..`` would land exactly on it). For every
payload: no 5xx, no 2xx unless the path really names a servable file inside the
root (then exactly its bytes), no marker anywhere in the response, and
``/healthz`` still answers afterwards. ``{base}`` in a target stands for the
absolute path of the folder holding both, without its leading slash.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from streamer import Settings
from streamer.web.limits import MAX_TARGET_BYTES
from tests.conftest import ServerThread, start_server
from tests.http import wire

MARKER = b"hostile-corpus-marker-5d1f0c93"
HIDDEN = b"hidden-inside-root-5d1f0c93"
FORBIDDEN = (MARKER, HIDDEN, b"root:x:0:0")  # the secret, a dotfile, /etc/passwd
OK, INNER, NAIVE, DOTS_IN_NAME = b"ok-file-body", b"inner-file-body", b"naive-file-body", b"dots-in-name-body"
DEPTHS = range(1, 9)
PARSER_URL_LIMIT = 65535  # httptools keeps URL offsets in 16 bits: a longer target is its 400
MIN_PAYLOADS = 300
KINDS = {
    "traversal", "pct", "double", "overlong", "backslash", "unicode", "nul", "long", "absolute", "windows",
    "absolute-form", "dot-segments", "escape", "symlink", "symlink-loop", "dangling", "hidden", "special", "served",
}
TIMEOUT_S = 3.0  # a FIFO opened for reading would block: the timeout fails it instead of hanging

NOT_FOUND = frozenset({404})
BAD_REQUEST = frozenset({400})  # refused by uvicorn's parser before the app sees it


@dataclass(frozen=True)
class Payload:
    kind: str
    variant: str
    target: bytes
    statuses: frozenset[int] = NOT_FOUND
    served: bytes | None = None  # the body, for a path that legitimately names a file in the root
    sep: bytes = b"/"  # how ``{base}`` is joined in this payload
    needs: str | None = None  # a tree entry that may not exist here (device nodes need CAP_MKNOD)

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.variant}"


# (variant, "..", "/") as each encoding spells them; the relative part of the path is built from these.
TRAVERSAL_ENCODINGS = [
    ("plain", b"..", b"/"),
    ("pct-lower", b"%2e%2e", b"%2f"),
    ("pct-upper", b"%2E%2E", b"%2F"),
    ("pct-dots-only", b"%2E%2E", b"/"),
    ("pct-slash-only", b"..", b"%2f"),
    ("pct-half-dot", b".%2e", b"/"),
    ("pct-backslash", b"%2e%2e", b"%5c"),
    ("double-pct", b"%252e%252e", b"%252f"),
    ("double-dots-only", b"%252e%252e", b"/"),
    ("double-slash-only", b"..", b"%252f"),
    ("double-backslash", b"..", b"%255c"),
    ("overlong-2-byte", b"%c0%ae%c0%ae", b"%c0%af"),
    ("overlong-3-byte", b"%e0%80%ae%e0%80%ae", b"%e0%80%af"),
    ("overlong-4-byte", b"%f0%80%80%ae%f0%80%80%ae", b"%f0%80%80%af"),
    ("overlong-slash-only", b"..", b"%c0%af"),
    ("overlong-backslash", b"..", b"%c1%9c"),
    ("backslash-raw", b"..", b"\\"),
    ("backslash-pct", b"..", b"%5c"),
    ("backslash-pct-upper", b"..", b"%5C"),
    ("unicode-fullwidth", b"%ef%bc%8e%ef%bc%8e", b"%ef%bc%8f"),
    ("unicode-fullwidth-dots-only", b"%ef%bc%8e%ef%bc%8e", b"/"),
    ("unicode-percent-u", b"%u002e%u002e", b"%u002f"),
    ("unicode-percent-u-fullwidth", b"%uff0e%uff0e", b"%uff0f"),
    ("unicode-one-dot-leader", b"%e2%80%a4%e2%80%a4", b"/"),
    ("unicode-division-slash", b"..", b"%e2%88%95"),
    ("unicode-fullwidth-backslash", b"..", b"%ef%bc%bc"),
]


def traversal() -> list[Payload]:
    """Each encoding at depths 1..8: d-1 real subdirectories, then d steps up, then the secret."""
    payloads = []
    for variant, dots, sep in TRAVERSAL_ENCODINGS:
        kind, _, rest = ("traversal-" if variant == "plain" else variant).partition("-")
        for depth in DEPTHS:
            relative = sep.join([b"deep"] * (depth - 1) + [dots] * depth + [b"outside", b"secret.txt"])
            payloads.append(Payload(kind, f"{rest}-depth-{depth}".lstrip("-"), b"/media/" + relative))
    return payloads


def nul() -> list[Payload]:
    encoded = [
        ("suffix", b"/media/ok.bin%00"),
        ("extension-trick", b"/media/ok.bin%00.mp4"),
        ("alone", b"/media/%00"),
        ("after-dots", b"/media/..%00/outside/secret.txt"),
        ("before-dots", b"/media/%00../outside/secret.txt"),
        ("after-secret", b"/media/../outside/secret.txt%00"),
        ("secret-extension-trick", b"/media/../outside/secret.txt%00.mp4"),
        ("in-encoded-traversal", b"/media/%2e%2e%00%2foutside%2fsecret.txt"),
        ("segment", b"/media/sub/%00/../../outside/secret.txt"),
        ("double-encoded", b"/media/ok.bin%2500"),
        ("overlong", b"/media/ok.bin%c0%80"),
    ]
    raw = [
        ("raw-suffix", b"/media/ok.bin\x00"),
        ("raw-before-dots", b"/media/\x00../outside/secret.txt"),
        ("raw-after-dots", b"/media/..\x00/outside/secret.txt"),
        ("raw-extension-trick", b"/media/../outside/secret.txt\x00.mp4"),
    ]
    return [Payload("nul", v, t) for v, t in encoded] + [Payload("nul", v, t, BAD_REQUEST) for v, t in raw]


def length_statuses(target: bytes) -> frozenset[int]:
    """The documented limit (414 over 8 KiB), and the parser's own 400 past 64 KiB."""
    if len(target) > PARSER_URL_LIMIT:
        return frozenset({400, 414})
    return frozenset({414}) if len(target) > MAX_TARGET_BYTES else NOT_FOUND


def long_paths() -> list[Payload]:
    def at(size: int, filler: bytes = b"a") -> bytes:
        return b"/media/" + filler * ((size - len(b"/media/")) // len(filler))

    targets = [
        ("segment-255-bytes", b"/media/" + b"a" * 255),
        ("segment-256-bytes", b"/media/" + b"a" * 256),
        ("path-1025-bytes", b"/media/" + b"a/" * 512 + b"a"),
        ("4-kib-segment", at(4096)),
        ("4-kib-traversal", b"/media/" + b"../" * 1300 + b"{base}/outside/secret.txt"),
        ("4-kib-encoded-traversal", b"/media/" + b"%2e%2e%2f" * 440 + b"outside%2fsecret.txt"),
        ("8-kib-exactly", at(MAX_TARGET_BYTES)),
        ("8-kib-plus-one", at(MAX_TARGET_BYTES) + b"a"),
        ("8-kib-of-segments", at(MAX_TARGET_BYTES, b"a/")),
        ("9-kib-encoded-traversal", b"/media/" + b"%2e%2e%2f" * 1000 + b"outside%2fsecret.txt"),
        ("16-kib", at(16 * 1024)),
        ("32-kib-traversal", b"/media/" + b"../" * 10900 + b"outside/secret.txt"),
        ("64-kib-segment", b"/media/" + b"a" * 65536),
        ("64-kib-traversal", b"/media/" + b"../" * 21900 + b"outside/secret.txt"),
        ("128-kib", at(128 * 1024)),
        ("8-kib-query", b"/media/ok.bin?x=" + b"a" * MAX_TARGET_BYTES),
    ]
    return [Payload("long", v, t, length_statuses(t)) for v, t in targets]


def absolute() -> list[Payload]:
    targets = [
        ("double-slash-etc-passwd", b"//etc/passwd"),
        ("triple-slash-etc-passwd", b"///etc/passwd"),
        ("double-slash-secret", b"//{base}/outside/secret.txt"),
        ("media-double-slash-etc-passwd", b"/media//etc/passwd"),
        ("media-double-slash-secret", b"/media//{base}/outside/secret.txt"),
        ("media-pct-slash-etc-passwd", b"/media/%2fetc%2fpasswd"),
        ("media-pct-slash-upper-etc-passwd", b"/media/%2Fetc/passwd"),
        ("media-double-pct-slash-etc-passwd", b"/media/%252fetc%252fpasswd"),
        ("media-backslash-etc-passwd", b"/media/\\etc\\passwd"),
        ("media-tilde-root", b"/media/~root/.bashrc"),
        ("media-tilde", b"/media/~/secret.txt"),
        ("media-drive-letter", b"/media/C:/Windows/win.ini"),
        ("media-drive-letter-backslash", b"/media/C:%5cWindows%5cwin.ini"),
        ("media-unc", b"/media/\\\\localhost\\c$\\secret.txt"),
        ("media-dos-device", b"/media/%5c%5c%3f%5cC:%5cWindows"),
        ("media-file-url", b"/media/file:///etc/passwd"),
    ]
    payloads = [Payload("absolute", v, t) for v, t in targets]
    for variant, sep in [("media-pct-slash-secret", b"%2f"), ("media-double-pct-slash-secret", b"%252f")]:
        target = b"/media/" + sep.join([b"", b"{base}", b"outside", b"secret.txt"])
        payloads.append(Payload("absolute", variant, target, sep=sep))
    return payloads


WINDOWS_DEVICES = [b"CON", b"PRN", b"AUX", b"NUL", b"COM1", b"COM9", b"LPT1", b"LPT9", b"CONIN$", b"CONOUT$", b"CLOCK$"]


def windows() -> list[Payload]:
    payloads = [
        Payload("windows", f"{name.decode().lower().rstrip('$')}{ext.decode() or '-bare'}", b"/media/" + name + ext)
        for name in WINDOWS_DEVICES
        for ext in (b"", b".txt", b".mp4")
    ]
    extras = [
        ("aux-lower-txt", b"/media/aux.txt"),
        ("con-trailing-dot", b"/media/CON."),
        ("nul-trailing-space", b"/media/NUL%20"),
        ("com1-in-subdirectory", b"/media/sub/COM1.mp4"),
        ("ads-data-stream", b"/media/ok.bin::$DATA"),
        ("ads-named-stream", b"/media/ok.bin:secret"),
        ("trailing-dot", b"/media/ok.bin."),
        ("trailing-space", b"/media/ok.bin%20"),
        ("short-name", b"/media/OUTSID~1/secret.txt"),
        ("device-in-traversal", b"/media/CON/../../outside/secret.txt"),
    ]
    return payloads + [Payload("windows", v, t) for v, t in extras]


def absolute_form() -> list[Payload]:
    targets = [
        ("http-traversal", b"http://127.0.0.1/media/../outside/secret.txt", NOT_FOUND),
        ("http-encoded-traversal", b"http://127.0.0.1/media/%2e%2e%2foutside%2fsecret.txt", NOT_FOUND),
        ("http-other-host", b"http://evil.example/media/../outside/secret.txt", NOT_FOUND),
        ("http-other-port", b"http://127.0.0.1:1/media/..%2foutside/secret.txt", NOT_FOUND),
        ("http-userinfo", b"http://127.0.0.1@evil.example/media/../outside/secret.txt", NOT_FOUND),
        ("http-above-route", b"http://127.0.0.1/../outside/secret.txt", NOT_FOUND),
        ("https-traversal", b"https://127.0.0.1/media/../outside/secret.txt", NOT_FOUND),
        ("http-absolute-path", b"http://127.0.0.1/media//{base}/outside/secret.txt", NOT_FOUND),
        ("file-etc-passwd", b"file:///etc/passwd", BAD_REQUEST),
        ("file-secret", b"file:///{base}/outside/secret.txt", BAD_REQUEST),
        ("file-no-authority", b"file:/etc/passwd", BAD_REQUEST),
        ("ftp", b"ftp://127.0.0.1/media/../outside/secret.txt", NOT_FOUND),
        ("asterisk", b"*", NOT_FOUND),
        ("network-path", b"//127.0.0.1/media/ok.bin", NOT_FOUND),
        ("no-scheme-host", b"127.0.0.1/media/ok.bin", BAD_REQUEST),
    ]
    return [Payload("absolute-form", v, t, s) for v, t, s in targets]


def unicode_names() -> list[Payload]:
    targets = [
        ("fullwidth-dots-raw", "/media/．．／outside／secret.txt".encode(), BAD_REQUEST),
        ("fullwidth-letters", b"/media/%ef%bd%8f%ef%bd%8b.bin", NOT_FOUND),
        ("decomposed-name", b"/media/nai%cc%88ve.bin", NOT_FOUND),
        ("percent-u-letter", b"/media/%u006fk.bin", NOT_FOUND),
        ("zero-width-space", b"/media/ok.bin%e2%80%8b", NOT_FOUND),
        ("right-to-left-override", b"/media/%e2%80%aenib.ko", NOT_FOUND),
        ("byte-order-mark", b"/media/%ef%bb%bfok.bin", NOT_FOUND),
        ("small-full-stops", b"/media/%ef%b9%92%ef%b9%92/outside/secret.txt", NOT_FOUND),
        ("combining-dot", b"/media/.%cc%87./outside/secret.txt", NOT_FOUND),
        ("invalid-utf8", b"/media/%ff%fe/ok.bin", NOT_FOUND),
        ("lone-surrogate", b"/media/%ed%a0%80ok.bin", NOT_FOUND),
        ("big-solidus", b"/media/..%e2%a7%b8outside%e2%a7%b8secret.txt", NOT_FOUND),
    ]
    return [Payload("unicode", v, t, s) for v, t, s in targets]


def dot_segments() -> list[Payload]:
    targets = [
        ("sub-up-up", b"/media/sub/../../outside/secret.txt"),
        ("sub-dot-up-up", b"/media/sub/./../../outside/secret.txt"),
        ("dot-up", b"/media/./../outside/secret.txt"),
        ("file-as-directory-up-up", b"/media/ok.bin/../../outside/secret.txt"),
        ("tomcat-semicolon", b"/media/sub/..;/..;/outside/secret.txt"),
        ("semicolon-segment", b"/media/sub;/../../outside/secret.txt"),
        ("empty-segment-up", b"/media/sub//../../outside/secret.txt"),
        ("encoded-dot-segments", b"/media/sub/%2e/%2e%2e/%2e%2e/outside/secret.txt"),
        ("triple-dots", b"/media/.../outside/secret.txt"),
        ("quadruple-dots", b"/media/..../outside/secret.txt"),
        ("dots-slash-dot", b"/media/.././outside/secret.txt"),
        ("up-staying-inside", b"/media/sub/../ok.bin"),
        ("dot-staying-inside", b"/media/./ok.bin"),
        ("trailing-dot-segment", b"/media/sub/."),
        ("file-trailing-dot-segment", b"/media/ok.bin/."),
        ("file-trailing-slash", b"/media/ok.bin/"),
        ("file-trailing-up", b"/media/ok.bin/.."),
        ("only-up", b"/media/.."),
        ("only-dot", b"/media/."),
        ("root", b"/media/"),
        ("no-slash", b"/media"),
        ("route-dot", b"/./media/ok.bin"),
        ("route-up", b"/x/../media/ok.bin"),
        ("route-reentered", b"/media/../media/ok.bin"),
        ("route-case", b"/MEDIA/ok.bin"),
        ("name-case", b"/media/OK.BIN"),
        ("query-traversal", b"/media/..?x=/outside/secret.txt"),
    ]
    return [Payload("dot-segments", v, t) for v, t in targets]


def malformed_escapes() -> list[Payload]:
    targets = [b"%", b"%2", b"%g0", b"%%32%65%%32%65/outside/secret.txt", b"%25%32%65%25%32%65/outside/secret.txt"]
    variants = ["bare-percent", "truncated", "not-hex", "nested", "double-nested"]
    return [Payload("escape", v, b"/media/" + t) for v, t in zip(variants, targets, strict=True)]


def links_and_special_files() -> list[Payload]:
    refused = [
        ("symlink", "file-outside-absolute", b"escape.bin"),
        ("symlink", "file-outside-relative", b"escape-rel.bin"),
        ("symlink", "file-outside-from-subdirectory", b"sub/up-escape.bin"),
        ("symlink", "chain-leading-outside", b"chain.bin"),
        ("symlink", "directory-outside-absolute", b"escape-dir/secret.txt"),
        ("symlink", "directory-outside-relative", b"escape-dir-rel/secret.txt"),
        ("symlink", "directory-outside-itself", b"escape-dir"),
        ("symlink", "parent-directory", b"up/outside/secret.txt"),
        ("symlink", "filesystem-root-etc-passwd", b"rootfs/etc/passwd"),
        ("symlink", "filesystem-root-secret", b"rootfs/{base}/outside/secret.txt"),
        ("symlink", "directory-named-as-media", b"outdir.mp4"),
        ("symlink", "into-dot-file", b"to-hidden.bin"),
        ("symlink", "encoded-name", b"%65scape%2ebin"),
        ("symlink", "to-dev-zero", b"dev-zero.bin"),
        ("symlink", "to-proc-environ", b"environ.bin"),
        ("symlink", "to-proc-root", b"proc-root/etc/passwd"),
        ("symlink", "to-root-itself", b"self"),
        ("symlink-loop", "self", b"loop"),
        ("symlink-loop", "self-then-name", b"loop/x"),
        ("symlink-loop", "two-links", b"loop-a"),
        ("dangling", "inside", b"dangling.bin"),
        ("dangling", "outside", b"dangling-out.bin"),
        ("dangling", "as-directory", b"dangling.bin/x"),
        ("hidden", "dotfile", b".hidden"),
        ("hidden", "encoded-dotfile", b"%2ehidden"),
        ("special", "fifo", b"fifo.mp4"),
        ("special", "fifo-as-directory", b"fifo.mp4/x"),
        ("special", "unix-socket", b"sock.bin"),
        ("special", "directory", b"sub"),
        ("special", "directory-with-media-name", b"dir.mp4"),
    ]
    devices = [("char-device-null", "null.mp4"), ("char-device-zero", "zero.bin"), ("block-device", "disk.bin")]
    payloads = [Payload(kind, v, b"/media/" + name) for kind, v, name in refused]
    return payloads + [Payload("special", v, b"/media/" + name.encode(), needs=name) for v, name in devices]


def served() -> list[Payload]:
    """Controls: paths that name a file inside the root are served, so the refusals above mean something."""
    targets = [
        ("plain", b"/media/ok.bin", OK),
        ("subdirectory", b"/media/sub/inner.bin", INNER),
        ("encoded-letter", b"/media/%6fk.bin", OK),
        ("encoded-dot", b"/media/ok%2ebin", OK),
        ("encoded-slash", b"/media/sub%2finner.bin", INNER),
        ("symlink-inside", b"/media/alias.bin", OK),
        ("symlinked-directory-inside", b"/media/alias-dir/inner.bin", INNER),
        ("symlink-back-to-root", b"/media/sub/back/ok.bin", OK),
        ("absolute-form", b"http://127.0.0.1/media/ok.bin", OK),
        ("traversal-in-query", b"/media/ok.bin?x=../../outside/secret.txt", OK),
        ("traversal-in-fragment", b"/media/ok.bin#/../../outside/secret.txt", OK),  # the parser drops a fragment
        ("composed-name", b"/media/na%c3%afve.bin", NAIVE),
        ("dots-inside-name", b"/media/a..b.bin", DOTS_IN_NAME),
    ]
    return [Payload("served", v, t, frozenset({200}), served=body) for v, t, body in targets]


def corpus() -> list[Payload]:
    return [
        *traversal(), *nul(), *long_paths(), *absolute(), *windows(), *absolute_form(),
        *unicode_names(), *dot_segments(), *malformed_escapes(), *links_and_special_files(), *served(),
    ]


CORPUS = corpus()


@dataclass
class Tree:
    base: Path
    root: Path
    missing: set[str] = field(default_factory=set)

    def target(self, payload: Payload) -> bytes:
        parts = [quote(part, safe="").encode() for part in self.base.parts[1:]]
        return payload.target.replace(b"{base}", payload.sep.join(parts))


def make_device(path: Path, kind: int, major: int, minor: int, tree: Tree) -> None:
    try:
        os.mknod(path, kind | 0o600, os.makedev(major, minor))
    except PermissionError:
        tree.missing.add(path.name)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    base = tmp_path_factory.mktemp("hostile")
    root, outside = base / "media", base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(MARKER)
    Path(root, *["deep"] * (max(DEPTHS) - 1)).mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "dir.mp4").mkdir()
    files = {"ok.bin": OK, "sub/inner.bin": INNER, "naïve.bin": NAIVE, "a..b.bin": DOTS_IN_NAME, ".hidden": HIDDEN}
    for name, body in files.items():
        (root / name).write_bytes(body)
    links = {
        "escape.bin": outside / "secret.txt", "escape-rel.bin": "../outside/secret.txt",
        "sub/up-escape.bin": "../../outside/secret.txt", "chain.bin": "escape-rel.bin",
        "escape-dir": outside, "escape-dir-rel": "../outside", "up": "..", "rootfs": "/",
        "outdir.mp4": outside, "to-hidden.bin": ".hidden", "dev-zero.bin": "/dev/zero",
        "environ.bin": "/proc/self/environ", "proc-root": "/proc/self/root", "self": ".",
        "loop": "loop", "loop-a": "loop-b", "loop-b": "loop-a",
        "dangling.bin": "missing.bin", "dangling-out.bin": "/nonexistent/secret.txt",
        "alias.bin": "ok.bin", "alias-dir": "sub", "sub/back": "..",
    }
    for name, points_to in links.items():
        (root / name).symlink_to(points_to)
    os.mkfifo(root / "fifo.mp4")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock.bin"))  # the socket file stays after the socket is closed
    made = Tree(base, root)
    make_device(root / "null.mp4", stat.S_IFCHR, 1, 3, made)
    make_device(root / "zero.bin", stat.S_IFCHR, 1, 5, made)
    make_device(root / "disk.bin", stat.S_IFBLK, 7, 0, made)
    return made


@pytest.fixture
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """ERROR records from the server's loggers while a test runs (a 500 after the headers shows only there)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "streamer")]
    for logger in loggers:
        logger.addHandler(handler)
    yield records
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture(scope="module", params=["sync", "async"])
def hostile_server(request: pytest.FixtureRequest, tree: Tree) -> Iterator[ServerThread]:
    running = start_server(Settings(media_dir=tree.root, io=request.param))
    yield running
    running.stop()


def test_corpus_is_large_and_distinct() -> None:
    targets = [payload.target for payload in CORPUS]
    assert len(CORPUS) >= MIN_PAYLOADS
    assert len(set(targets)) == len(targets), "duplicate targets"
    assert len({payload.id for payload in CORPUS}) == len(CORPUS), "duplicate ids"
    assert {payload.kind for payload in CORPUS} == KINDS


def test_payloads_aim_at_the_secret(tree: Tree) -> None:
    # The traversals are only meaningful if, taken literally, they land on the marker.
    for depth in DEPTHS:
        literal = Path(tree.root, *["deep"] * (depth - 1), *[".."] * depth, "outside", "secret.txt")
        assert literal.read_bytes() == MARKER
    assert (tree.root / "escape-dir" / "secret.txt").read_bytes() == MARKER
    assert Path("/", tree.target(Payload("x", "y", b"{base}/outside/secret.txt")).decode()).read_bytes() == MARKER


@pytest.mark.parametrize("payload", CORPUS, ids=lambda payload: payload.id)
def test_hostile_path(
    hostile_server: ServerThread, tree: Tree, server_errors: list[logging.LogRecord], payload: Payload
) -> None:
    if payload.needs in tree.missing:
        pytest.skip(f"{payload.needs} could not be made here (mknod needs CAP_MKNOD)")
    raw = wire.exchange(hostile_server.port, wire.build_request("GET", tree.target(payload)), TIMEOUT_S)
    response = wire.parse_response(raw)
    assert response.status < 500, response.body[:300]
    for secret in FORBIDDEN:
        assert secret not in raw
    assert response.status in payload.statuses, response.body[:300]
    if payload.served is not None:
        assert response.body == payload.served
    else:
        assert not 200 <= response.status < 300
    health = wire.get(hostile_server.port, "/healthz")
    assert (health.status, health.body) == (200, b"ok")
    assert not server_errors, [record.getMessage() for record in server_errors]
