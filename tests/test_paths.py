"""Which decoded URL paths may name a file under the media root, as tables."""

from __future__ import annotations

import pytest

from streamer.http.paths import MAX_NAME_BYTES, MAX_PATH_BYTES, is_served_name, parse_media_path

LONGEST_NAME = "x" * MAX_NAME_BYTES
# Five names joined by "/" to exactly MAX_PATH_BYTES: 3 * 255 + 254 + 1 + 4 slashes = 1024.
LONGEST_PATH = "/".join(["a" * 255] * 3 + ["a" * 254, "a"])
assert len(LONGEST_PATH.encode()) == MAX_PATH_BYTES


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Accepted.
        pytest.param("clip.mp4", ("clip.mp4",), id="plain-name"),
        pytest.param("sub/nested.webm", ("sub", "nested.webm"), id="nested"),
        pytest.param("a/b/c/d.mp4", ("a", "b", "c", "d.mp4"), id="deeply-nested"),
        pytest.param("naïve café.mp4", ("naïve café.mp4",), id="unicode-name-with-space"),
        pytest.param("日本語/動画.mp4", ("日本語", "動画.mp4"), id="cjk-directory-and-name"),
        pytest.param("🎬 take 1.webm", ("🎬 take 1.webm",), id="emoji"),
        pytest.param("file.name.with.dots.mp4", ("file.name.with.dots.mp4",), id="inner-dots"),
        pytest.param("dir.d/clip", ("dir.d", "clip"), id="dot-inside-directory-name"),
        pytest.param("clip.", ("clip.",), id="trailing-dot"),
        pytest.param("-dash~tilde_(1)", ("-dash~tilde_(1)",), id="punctuation"),
        pytest.param("%2e%2e/x", ("%2e%2e", "x"), id="percent-escapes-are-literal-not-decoded-again"),
        pytest.param(LONGEST_NAME, (LONGEST_NAME,), id="name-at-255-bytes"),
        pytest.param("é" * 127 + "a", ("é" * 127 + "a",), id="multibyte-name-at-255-bytes"),
        pytest.param(LONGEST_PATH, tuple(LONGEST_PATH.split("/")), id="path-at-1024-bytes"),
        # Traversal and relative segments.
        pytest.param("", None, id="empty"),
        pytest.param("/", None, id="root"),
        pytest.param("/etc/passwd", None, id="leading-slash"),
        pytest.param("//etc/passwd", None, id="double-leading-slash"),
        pytest.param("..", None, id="dot-dot"),
        pytest.param("../secret", None, id="dot-dot-first"),
        pytest.param("sub/../../etc", None, id="dot-dot-inside"),
        pytest.param("sub/..", None, id="dot-dot-last"),
        pytest.param(".", None, id="dot"),
        pytest.param("./clip.mp4", None, id="dot-first"),
        pytest.param("sub/./clip.mp4", None, id="dot-inside"),
        pytest.param("...", None, id="three-dots"),
        pytest.param("a//b", None, id="empty-segment"),
        pytest.param("sub/", None, id="trailing-slash"),
        # Hidden files and directories, anywhere.
        pytest.param(".hidden", None, id="dotfile"),
        pytest.param("sub/.hidden", None, id="nested-dotfile"),
        pytest.param(".secret/key.bin", None, id="dot-directory"),
        pytest.param("sub/.git/config", None, id="nested-dot-directory"),
        # Characters that are not plain names.
        pytest.param("a\\b", None, id="backslash"),
        pytest.param("..\\secret", None, id="backslash-traversal"),
        pytest.param("C:\\Windows", None, id="windows-path"),
        pytest.param("a\x00b", None, id="nul"),
        pytest.param("clip.mp4\x00.txt", None, id="nul-truncation"),
        pytest.param("a\nb", None, id="newline"),
        pytest.param("a\rb", None, id="carriage-return"),
        pytest.param("a\tb", None, id="tab"),
        pytest.param("a\x1b[31mb", None, id="escape"),
        pytest.param("a\x7fb", None, id="delete"),
        pytest.param("a\x85b", None, id="c1-control"),
        pytest.param("a\u2028b", None, id="line-separator"),
        pytest.param("a\u200bb", None, id="zero-width-space"),
        pytest.param("clip\u202e4pm.exe", None, id="bidi-override"),
        pytest.param("\udc80.mp4", None, id="lone-surrogate"),
        # Lengths.
        pytest.param("x" * (MAX_NAME_BYTES + 1), None, id="name-over-255-bytes"),
        pytest.param("é" * 128, None, id="multibyte-name-over-255-bytes"),
        pytest.param(LONGEST_PATH + "a", None, id="path-over-1024-bytes"),
        pytest.param("/".join(["é" * 100] * 6), None, id="multibyte-path-over-1024-bytes"),
    ],
)
def test_parse_media_path(raw: str, expected: tuple[str, ...] | None) -> None:
    assert parse_media_path(raw) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("clip.mp4", True, id="plain"),
        pytest.param("naïve café.mp4", True, id="unicode"),
        pytest.param("a b", True, id="ascii-space"),
        pytest.param(LONGEST_NAME, True, id="at-255-bytes"),
        pytest.param("", False, id="empty"),
        pytest.param(".", False, id="dot"),
        pytest.param("..", False, id="dot-dot"),
        pytest.param(".hidden", False, id="dotfile"),
        pytest.param("a\\b", False, id="backslash"),
        pytest.param("a\x00", False, id="nul"),
        pytest.param("\t", False, id="tab"),
        pytest.param("a\u00a0b", False, id="no-break-space"),
        pytest.param("x" * (MAX_NAME_BYTES + 1), False, id="over-255-bytes"),
        pytest.param("é" * 128, False, id="multibyte-over-255-bytes"),
    ],
)
def test_is_served_name(name: str, expected: bool) -> None:
    assert is_served_name(name) is expected
