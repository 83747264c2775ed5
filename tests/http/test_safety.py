"""Nothing outside the media root, hidden, or not a regular file is ever served.

Paths go out as raw bytes, exactly as written here. ``{out}`` is the name of
the sibling directory holding ``secret.txt`` (the target of ``escape.bin``), so
a traversal that worked would really reach a file: the test checks that the
file is there before checking that it is not served.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ServerThread
from tests.http import wire

SECRET = b"outside the root"
HIDDEN_BYTES = (b"dotfile", b"dot-directory", SECRET, b"root:x:0:0")
FIFO_TIMEOUT_S = 2.0


def outside_name(media_root: Path) -> str:
    outside = (media_root / "escape.bin").resolve().parent
    assert outside.parent == media_root.parent
    assert (media_root / ".." / outside.name / "secret.txt").read_bytes() == SECRET
    return outside.name


def assert_not_served(response: wire.WireResponse) -> None:
    assert response.status == 404
    for secret in HIDDEN_BYTES:
        assert secret not in response.body


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(b"/media/../{out}/secret.txt", id="dotdot"),
        pytest.param(b"/media/../conftest.py", id="dotdot-to-repo-file"),
        pytest.param(b"/media/sub/../../{out}/secret.txt", id="dotdot-after-subdirectory"),
        pytest.param(b"/media/sub/../small.bin", id="dotdot-staying-inside"),
        pytest.param(b"/media/./small.bin", id="dot-segment"),
        pytest.param(b"/media/../../../../../../../../etc/passwd", id="dotdot-to-etc-passwd"),
        pytest.param(b"/media/%2e%2e/{out}/secret.txt", id="pct-encoded-dots"),
        pytest.param(b"/media/%2E%2E%2F{out}%2Fsecret.txt", id="pct-encoded-dots-and-slashes-upper"),
        pytest.param(b"/media/.%2e/{out}/secret.txt", id="half-encoded-dots"),
        pytest.param(b"/media/%252e%252e/{out}/secret.txt", id="double-encoded-dots"),
        pytest.param(b"/media/%252e%252e%252f{out}%252fsecret.txt", id="double-encoded-dots-and-slashes"),
        pytest.param(b"/media/..%2f{out}%2fsecret.txt", id="dotdot-encoded-slash"),
        pytest.param(b"/media/..%5c{out}%5csecret.txt", id="dotdot-encoded-backslash"),
        pytest.param(b"/media/..\\{out}\\secret.txt", id="dotdot-backslash"),
        pytest.param(b"/media/sub\\..\\..\\{out}\\secret.txt", id="backslash-segments"),
        pytest.param(b"/media//etc/passwd", id="absolute-path"),
        pytest.param(b"/media/%2fetc%2fpasswd", id="absolute-path-encoded-slash"),
        pytest.param(b"/media/small.bin%00", id="nul-suffix"),
        pytest.param(b"/media/small.bin%00.mp4", id="nul-extension-trick"),
        pytest.param(b"/media/%00/../{out}/secret.txt", id="nul-segment"),
        pytest.param(b"/media/%c0%ae%c0%ae/{out}/secret.txt", id="overlong-utf8-dots"),
        pytest.param(b"/media/%c0%ae%c0%ae%c0%af{out}%c0%afsecret.txt", id="overlong-utf8-dots-and-slash"),
        pytest.param(b"/media/%ff%fe/small.bin", id="invalid-utf8"),
        pytest.param(b"/media/small.bin%0d%0aX-Injected:%201", id="encoded-crlf"),
    ],
)
def test_traversal_is_404(server: ServerThread, media_root: Path, target: bytes) -> None:
    raw = target.replace(b"{out}", outside_name(media_root).encode())
    response = wire.get(server.port, raw)
    assert_not_served(response)
    assert not response.has("x-injected")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("escape.bin", id="symlink-to-file-outside"),
        pytest.param("escape-dir/secret.txt", id="symlinked-directory-outside"),
        pytest.param("to-hidden.bin", id="symlink-into-dot-directory"),
        pytest.param(".hidden", id="dotfile"),
        pytest.param(".secret/key.bin", id="file-in-dot-directory"),
        pytest.param("%2ehidden", id="encoded-dotfile"),
        pytest.param("dir.mp4", id="directory-with-media-name"),
        pytest.param("sub", id="directory"),
        pytest.param("sub/", id="directory-with-slash"),
        pytest.param("sub/missing.webm", id="missing-in-subdirectory"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_not_servable_is_404(server: ServerThread, name: str, method: str) -> None:
    response = wire.request(server.port, method, "/media/" + name)
    assert_not_served(response)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_fifo_is_404_without_blocking(server: ServerThread, method: str) -> None:
    # A server that opened the FIFO for reading would block until a writer came: the timeout fails it.
    response = wire.request(server.port, method, "/media/pipe.mp4", [("Range", "bytes=0-")], timeout=FIFO_TIMEOUT_S)
    assert response.status == 404


def test_symlink_inside_root_is_served(server: ServerThread, small: bytes) -> None:
    response = wire.get(server.port, "/media/alias.bin")
    assert response.status == 200
    assert response.body == small
    ranged = wire.get(server.port, "/media/alias.bin", [("Range", "bytes=-10")])
    assert ranged.status == 206
    assert ranged.body == small[-10:]
