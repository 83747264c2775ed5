"""Signed links as tables: what each token, route and moment gets, and the pieces that decide it."""

from __future__ import annotations

import base64

import pytest

from streamer.http.signing import (
    MAX_LINK_TTL_S,
    PAGE,
    Answer,
    check_grace,
    covers,
    evaluate_link,
    format_grace,
    format_link,
    parse_link,
    redact_target,
    resource_of,
)

KEY, OLD_KEY, OTHER_KEY = b"k" * 32, b"o" * 32, b"x" * 32
KEYS = {"k2": KEY, "k1": OLD_KEY}
NOW = 1_800_000_000
LATER = NOW + 3600


def link(scope: str, expires: int = LATER, kid: str = "k2", key: bytes = KEY) -> str:
    return format_link(key, kid, expires, scope)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


FILE = link("films/a.mp4")
FOLDER = link("films/")
ALL = link("/")
kid, expires, scope, mac = FILE.split(".")
FLIPPED = mac[:-1] + ("A" if mac[-1] != "A" else "B")

CASES = [
    # (token, route, ?path=, now, expected)
    pytest.param(FILE, "/media/films/a.mp4", None, NOW, Answer.OPEN, id="file-link-opens-its-file"),
    pytest.param(FILE, "/thumbs/films/a.mp4", None, NOW, Answer.OPEN, id="file-link-opens-its-thumbnail"),
    pytest.param(FILE, "/hls/films/a.mp4/index.m3u8", None, NOW, Answer.OPEN, id="file-link-opens-its-playlist"),
    pytest.param(FILE, "/hls/films/a.mp4/init.mp4", None, NOW, Answer.OPEN, id="file-link-opens-its-init-segment"),
    pytest.param(FILE, "/hls/films/a.mp4/17.m4s", None, NOW, Answer.OPEN, id="file-link-opens-its-segments"),
    pytest.param(FILE, "/", None, NOW, Answer.OPEN, id="any-link-opens-the-page"),
    pytest.param(FILE, "/favicon.ico", None, NOW, Answer.OPEN, id="any-link-opens-the-icon"),
    pytest.param(FILE, "/static/hls.light.min.js", None, NOW, Answer.OPEN, id="any-link-opens-the-page-scripts"),
    pytest.param(FILE, "/media/films/b.mp4", None, NOW, Answer.OUTSIDE, id="file-link-not-a-sibling"),
    pytest.param(FILE, "/media/films/a.mp4x", None, NOW, Answer.OUTSIDE, id="file-link-not-a-longer-name"),
    pytest.param(FILE, "/media/films/a.mp", None, NOW, Answer.OUTSIDE, id="file-link-not-a-prefix-of-it"),
    pytest.param(FILE, "/media/films", None, NOW, Answer.OUTSIDE, id="file-link-not-its-folder"),
    pytest.param(FILE, "/api/media", "films", NOW, Answer.OUTSIDE, id="file-link-does-not-list-its-folder"),
    pytest.param(FILE, "/hls/films/a.mp4/index.m3u8x", None, NOW, Answer.OUTSIDE, id="file-link-hls-leaf-must-be-known"),
    pytest.param(FILE, "/hls/films/a.mp4/../b.mp4/index.m3u8", None, NOW, Answer.OUTSIDE, id="file-link-dot-dot-in-hls"),
    pytest.param(FOLDER, "/api/media", "films", NOW, Answer.OPEN, id="folder-link-lists-its-folder"),
    pytest.param(FOLDER, "/api/media", "films/", NOW, Answer.OPEN, id="folder-link-lists-its-folder-slash"),
    pytest.param(FOLDER, "/api/media", "films/season 1", NOW, Answer.OPEN, id="folder-link-lists-subfolders"),
    pytest.param(FOLDER, "/media/films/a.mp4", None, NOW, Answer.OPEN, id="folder-link-opens-files-in-it"),
    pytest.param(FOLDER, "/media/films/x/y/z.mkv", None, NOW, Answer.OPEN, id="folder-link-opens-files-deep-in-it"),
    pytest.param(FOLDER, "/thumbs/films/a.jpg", None, NOW, Answer.OPEN, id="folder-link-opens-thumbnails"),
    pytest.param(FOLDER, "/subtitles/films/a.en.srt", None, NOW, Answer.OPEN, id="folder-link-opens-subtitles"),
    pytest.param(FOLDER, "/hls/films/a.mkv/3.m4s", None, NOW, Answer.OPEN, id="folder-link-opens-segments"),
    pytest.param(FOLDER, "/api/media", "", NOW, Answer.OUTSIDE, id="folder-link-not-the-root-listing"),
    pytest.param(FOLDER, "/api/media", None, NOW, Answer.OUTSIDE, id="folder-link-not-the-default-listing"),
    pytest.param(FOLDER, "/api/media", "filmsx", NOW, Answer.OUTSIDE, id="folder-link-not-a-longer-folder"),
    pytest.param(FOLDER, "/media/filmsx/a.mp4", None, NOW, Answer.OUTSIDE, id="path-prefix-escape"),
    pytest.param(FOLDER, "/media/films/../secret.txt", None, NOW, Answer.OUTSIDE, id="dot-dot-out-of-the-folder"),
    pytest.param(FOLDER, "/api/media", "films/..", NOW, Answer.OUTSIDE, id="dot-dot-listing"),
    pytest.param(ALL, "/media/../etc/passwd", None, NOW, Answer.OUTSIDE, id="dot-dot-even-for-the-library"),
    pytest.param(FOLDER, "/media/other/a.mp4", None, NOW, Answer.OUTSIDE, id="folder-link-not-another-folder"),
    pytest.param(ALL, "/api/media", "", NOW, Answer.OPEN, id="library-link-lists-the-root"),
    pytest.param(ALL, "/media/anything.mp4", None, NOW, Answer.OPEN, id="library-link-opens-anything"),
    pytest.param(ALL, "/metrics", None, NOW, Answer.OUTSIDE, id="no-link-opens-metrics"),
    pytest.param(ALL, "/debug/runtime", None, NOW, Answer.OUTSIDE, id="no-link-opens-debug"),
    pytest.param(ALL, "/bytes/100", None, NOW, Answer.OUTSIDE, id="no-link-opens-load-testing"),
    pytest.param(ALL, "/openapi.json", None, NOW, Answer.OUTSIDE, id="no-link-opens-the-schema"),
    pytest.param(FILE, "/media/films/a.mp4", None, LATER, Answer.OPEN, id="valid-at-the-expiry-second"),
    pytest.param(FILE, "/media/films/a.mp4", None, LATER + 1, Answer.EXPIRED, id="expired-one-second-after"),
    pytest.param(FILE, "/media/films/b.mp4", None, LATER + 1, Answer.OUTSIDE, id="expired-and-outside-is-outside"),
    pytest.param(link("films/a.mp4", NOW + MAX_LINK_TTL_S + 30), "/media/films/a.mp4", None, NOW, Answer.OPEN, id="future-within-clock-skew"),
    pytest.param(link("films/a.mp4", NOW + MAX_LINK_TTL_S + 600), "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="future-dated-beyond-a-year"),
    pytest.param(link("films/a.mp4", kid="k1", key=OLD_KEY), "/media/films/a.mp4", None, NOW, Answer.OPEN, id="rotated-out-key-still-verifies"),
    pytest.param(link("films/a.mp4", kid="k9"), "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="unknown-key-id"),
    pytest.param(link("films/a.mp4", kid="k2", key=OTHER_KEY), "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="wrong-key"),
    pytest.param(link("films/a.mp4", kid="k1", key=KEY), "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="key-of-another-id"),
    pytest.param(f"{kid}.{expires}.{scope}.{FLIPPED}", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="tampered-mac"),
    pytest.param(f"{kid}.{int(expires) + 1}.{scope}.{mac}", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="tampered-expiry"),
    pytest.param(f"{kid}.{expires}.{b64('films/b.mp4')}.{mac}", "/media/films/b.mp4", None, NOW, Answer.FORBIDDEN, id="tampered-scope"),
    pytest.param(f"{kid}.{expires}.{b64('films/')}.{mac}", "/media/films/b.mp4", None, NOW, Answer.FORBIDDEN, id="file-scope-widened-to-folder"),
    pytest.param(f"k1.{expires}.{scope}.{mac}", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="tampered-key-id"),
    pytest.param(f"{expires}.{kid}.{scope}.{mac}", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="reordered-fields"),
    pytest.param(f"{kid}.{expires}.{scope}", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="truncated-no-mac"),
    pytest.param(FILE[:-3], "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="truncated-mac"),
    pytest.param(FILE + "A", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="mac-too-long"),
    pytest.param(FILE + ".x", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="extra-field"),
    pytest.param(f"{kid}.{expires}.{scope}.{mac}=", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="padded-mac"),
    pytest.param(f"{kid}.{expires}.{scope}=.{mac}", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="padded-scope"),
    pytest.param(f"{kid}.+{expires}.{scope}.{mac}", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="signed-expiry"),
    pytest.param(f"{kid}.{expires}.{scope}.{mac.lower()}", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="mac-case-changed"),
    pytest.param("", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="empty-token"),
    pytest.param("...", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="only-dots"),
    pytest.param("k2." + "9" * 13 + f".{scope}.{mac}", "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="huge-expiry"),
    pytest.param("x" * 5000, "/media/films/a.mp4", None, NOW, Answer.FORBIDDEN, id="huge-token"),
    pytest.param(link("../etc/"), "/media/etc/passwd", None, NOW, Answer.FORBIDDEN, id="scope-with-dot-dot-never-parses"),
    pytest.param(link("/etc/"), "/media/etc/passwd", None, NOW, Answer.FORBIDDEN, id="absolute-scope-never-parses"),
    pytest.param(link(".secret/"), "/media/.secret/key", None, NOW, Answer.FORBIDDEN, id="hidden-scope-never-parses"),
    pytest.param(link("a//b"), "/media/a//b", None, NOW, Answer.FORBIDDEN, id="empty-name-scope-never-parses"),
    pytest.param(link(""), "/media/a", None, NOW, Answer.FORBIDDEN, id="empty-scope-never-parses"),
    pytest.param(link("naïve café.mp4"), "/media/naïve café.mp4", None, NOW, Answer.OPEN, id="non-ascii-scope"),
]


@pytest.mark.parametrize(("token", "route", "query_path", "now", "expected"), CASES)
def test_evaluate_link(token: str, route: str, query_path: str | None, now: int, expected: Answer) -> None:
    answer, _ = evaluate_link(token, route, query_path, KEYS, now)
    assert answer is expected
    assert answer.status == {Answer.OPEN: 200, Answer.FORBIDDEN: 403, Answer.OUTSIDE: 403, Answer.EXPIRED: 410}[expected]


def test_there_are_at_least_fifty_cases() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize(
    ("scope", "resource", "expected"),
    [
        pytest.param("a/b.mp4", "a/b.mp4", True, id="file-itself"),
        pytest.param("a/b.mp4", "a/b.mp4/", False, id="file-with-slash"),
        pytest.param("a/", "a", True, id="folder-itself"),
        pytest.param("a/", "a/b", True, id="folder-child"),
        pytest.param("a/", "ab", False, id="folder-prefix-escape"),
        pytest.param("a/", PAGE, True, id="page"),
        pytest.param("/", "", True, id="library-root"),
    ],
)
def test_covers(scope: str, resource: str, expected: bool) -> None:
    assert covers(scope, resource) is expected


@pytest.mark.parametrize(
    ("route", "query", "expected"),
    [
        pytest.param("/media/a/b", None, "a/b", id="media"),
        pytest.param("/api/media", "/a/b/", "a/b", id="listing-trimmed"),
        pytest.param("/hls/a/b.mkv/index.m3u8", None, "a/b.mkv", id="hls-playlist"),
        pytest.param("/hls/index.m3u8", None, None, id="hls-without-a-file"),
        pytest.param("/hls/a/b.mkv/x.ts", None, None, id="hls-unknown-leaf"),
        pytest.param("/healthz", None, None, id="not-a-media-route"),
        pytest.param("/static/x.js", None, PAGE, id="static"),
    ],
)
def test_resource_of(route: str, query: str | None, expected: str | None) -> None:
    assert resource_of(route, query) == expected


def test_format_and_parse_are_symmetric() -> None:
    parsed = parse_link(FOLDER)
    assert parsed is not None and (parsed.kid, parsed.expires, parsed.scope, parsed.folder) == ("k2", LATER, "films/", True)
    assert format_link(KEY, parsed.kid, parsed.expires, parsed.scope) == FOLDER


@pytest.mark.parametrize(
    ("cookie", "token", "now", "expected"),
    [
        pytest.param(format_grace(KEY, FILE, LATER + 60), FILE, LATER + 30, True, id="within-grace"),
        pytest.param(format_grace(KEY, FILE, LATER + 60), FILE, LATER + 61, False, id="grace-over"),
        pytest.param(format_grace(KEY, FILE, LATER + 60), FOLDER, LATER + 30, False, id="grace-of-another-link"),
        pytest.param(format_grace(OTHER_KEY, FILE, LATER + 60), FILE, LATER + 30, False, id="grace-of-another-key"),
        pytest.param(f"{LATER + 999}." + format_grace(KEY, FILE, LATER + 60).split(".")[1], FILE, LATER + 30, False, id="grace-extended-by-hand"),
        pytest.param("garbage", FILE, LATER, False, id="grace-garbage"),
        pytest.param("", FILE, LATER, False, id="grace-empty"),
    ],
)
def test_check_grace(cookie: str, token: str, now: int, expected: bool) -> None:
    assert check_grace(cookie, KEY, token, now) is expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param(f"/s/{FILE}/media/films/a.mp4", "/s/<link>/media/films/a.mp4", id="link-in-path"),
        pytest.param("/?token=abc", "/?token=<redacted>", id="token-first"),
        pytest.param("/api/media?path=a&token=abc&x=1", "/api/media?path=a&token=<redacted>&x=1", id="token-middle"),
        pytest.param("/media/tokens.mp4?xtoken=1", "/media/tokens.mp4?xtoken=1", id="other-parameters-kept"),
    ],
)
def test_redact_target(target: str, expected: str) -> None:
    assert redact_target(target) == expected
