"""Media types, kinds, ETags and Content-Disposition of a Representation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

import pytest

from streamer.http.conditional import parse_etag_list
from streamer.http.representation import (
    OCTET_STREAM,
    Kind,
    Representation,
    format_content_disposition,
    kind_of,
    media_type_for,
)


@dataclass(frozen=True)
class FakeStat:
    """The fields of os.stat_result a Representation may look at, and one it must not."""

    st_size: int
    st_mtime_ns: int
    st_ino: int = 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("a.mp4", "video/mp4", id="mp4"),
        pytest.param("a.m4v", "video/mp4", id="m4v"),
        pytest.param("a.mov", "video/quicktime", id="mov"),
        pytest.param("a.webm", "video/webm", id="webm"),
        pytest.param("a.mkv", "video/x-matroska", id="mkv"),
        pytest.param("a.ogv", "video/ogg", id="ogv"),
        pytest.param("a.ts", "video/mp2t", id="ts"),
        pytest.param("a.mp3", "audio/mpeg", id="mp3"),
        pytest.param("a.m4a", "audio/mp4", id="m4a"),
        pytest.param("a.aac", "audio/aac", id="aac"),
        pytest.param("a.ogg", "audio/ogg", id="ogg"),
        pytest.param("a.oga", "audio/ogg", id="oga"),
        pytest.param("a.opus", "audio/ogg", id="opus"),
        pytest.param("a.flac", "audio/flac", id="flac"),
        pytest.param("a.wav", "audio/wav", id="wav"),
        pytest.param("a.png", "image/png", id="png"),
        pytest.param("a.jpg", "image/jpeg", id="jpg"),
        pytest.param("a.jpeg", "image/jpeg", id="jpeg"),
        pytest.param("a.gif", "image/gif", id="gif"),
        pytest.param("a.webp", "image/webp", id="webp"),
        pytest.param("a.avif", "image/avif", id="avif"),
        pytest.param("a.AVI", "video/x-msvideo", id="avi-is-video"),
        pytest.param("a.m3u8", "application/vnd.apple.mpegurl", id="m3u8"),
        pytest.param("a.vtt", "text/vtt; charset=utf-8", id="vtt"),
        pytest.param("a.srt", "application/x-subrip", id="srt"),
        # Case and position of the extension.
        pytest.param("CLIP.MP4", "video/mp4", id="upper-case-extension"),
        pytest.param("Clip.Jpeg", "image/jpeg", id="mixed-case-extension"),
        pytest.param("a.tar.mp4", "video/mp4", id="last-extension-counts"),
        pytest.param("naïve café.mp4", "video/mp4", id="non-ascii-stem"),
        # Unknown: octet-stream.
        pytest.param("a.bin", OCTET_STREAM, id="unknown-extension"),
        pytest.param("README", OCTET_STREAM, id="no-extension"),
        pytest.param("a.", OCTET_STREAM, id="empty-extension"),
        pytest.param("a.txt", OCTET_STREAM, id="plain-text-not-mapped"),
        pytest.param("mp4", OCTET_STREAM, id="extension-name-without-dot"),
        # Types a browser would render or execute: never labelled as such.
        pytest.param("a.html", OCTET_STREAM, id="html-is-octet-stream"),
        pytest.param("a.htm", OCTET_STREAM, id="htm-is-octet-stream"),
        pytest.param("a.HTML", OCTET_STREAM, id="upper-case-html-is-octet-stream"),
        pytest.param("a.xhtml", OCTET_STREAM, id="xhtml-is-octet-stream"),
        pytest.param("a.svg", OCTET_STREAM, id="svg-is-octet-stream"),
        pytest.param("a.js", OCTET_STREAM, id="js-is-octet-stream"),
        pytest.param("a.mjs", OCTET_STREAM, id="mjs-is-octet-stream"),
        pytest.param("a.xml", OCTET_STREAM, id="xml-is-octet-stream"),
        pytest.param("a.css", OCTET_STREAM, id="css-is-octet-stream"),
        pytest.param("a.pdf", OCTET_STREAM, id="pdf-is-octet-stream"),
        pytest.param("clip.mp4.html", OCTET_STREAM, id="media-name-with-html-extension"),
    ],
)
def test_media_type_for(name: str, expected: str) -> None:
    assert media_type_for(name) == expected


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        pytest.param("video/mp4", Kind.VIDEO, id="video"),
        pytest.param("video/x-matroska", Kind.VIDEO, id="video-x-type"),
        pytest.param("audio/mpeg", Kind.AUDIO, id="audio"),
        pytest.param("image/png", Kind.IMAGE, id="image"),
        pytest.param("text/vtt; charset=utf-8", Kind.OTHER, id="text-with-parameter"),
        pytest.param("application/vnd.apple.mpegurl", Kind.OTHER, id="playlist"),
        pytest.param(OCTET_STREAM, Kind.OTHER, id="octet-stream"),
        pytest.param("videos/mp4", Kind.OTHER, id="near-miss-major-type"),
        pytest.param("", Kind.OTHER, id="empty"),
    ],
)
def test_kind_of(media_type: str, expected: Kind) -> None:
    assert kind_of(media_type) is expected


def test_from_stat() -> None:
    rep = Representation.from_stat(FakeStat(1234, 5_600_000_000), "clip.webm")
    assert rep == Representation(size=1234, mtime_ns=5_600_000_000, media_type="video/webm", filename="clip.webm")


def test_etag_is_strong_and_well_formed() -> None:
    etag = Representation.from_stat(FakeStat(1234, 1_700_000_000_123_456_789), "a.mp4").etag
    assert not etag.weak
    assert parse_etag_list(str(etag)) == [etag]


def test_etag_ignores_inode_and_name() -> None:
    one = Representation.from_stat(FakeStat(1234, 1_700_000_000_123_456_789, st_ino=1), "a.mp4")
    two = Representation.from_stat(FakeStat(1234, 1_700_000_000_123_456_789, st_ino=99), "b.webm")
    assert one.etag == two.etag


@pytest.mark.parametrize(
    ("other", "changed"),
    [
        pytest.param(FakeStat(1000, 5_000_000_000), False, id="same-size-and-mtime"),
        pytest.param(FakeStat(1001, 5_000_000_000), True, id="size-changes-etag"),
        pytest.param(FakeStat(1000, 5_000_000_001), True, id="nanosecond-mtime-change-changes-etag"),
        pytest.param(FakeStat(1000, 6_000_000_000), True, id="second-mtime-change-changes-etag"),
        pytest.param(FakeStat(5_000_000_000, 1000), True, id="swapped-size-and-mtime"),
    ],
)
def test_etag_depends_on_size_and_mtime(other: FakeStat, changed: bool) -> None:
    base = Representation.from_stat(FakeStat(1000, 5_000_000_000), "a.mp4")
    assert (Representation.from_stat(other, "a.mp4").etag != base.etag) is changed


@pytest.mark.parametrize(
    ("mtime_ns", "expected"),
    [
        pytest.param(0, 0, id="epoch"),
        pytest.param(999_999_999, 0, id="just-under-one-second"),
        pytest.param(1_000_000_000, 1, id="one-second"),
        pytest.param(1_999_999_999, 1, id="truncated-not-rounded"),
        pytest.param(784111777_500_000_000, 784111777, id="fractional-second-dropped"),
    ],
)
def test_mtime_whole_seconds(mtime_ns: int, expected: int) -> None:
    assert Representation(10, mtime_ns, "video/mp4", "a.mp4").mtime == expected


@pytest.mark.parametrize(
    ("filename", "attachment", "expected"),
    [
        pytest.param("clip.mp4", False, 'inline; filename="clip.mp4"', id="ascii-inline"),
        pytest.param("clip.mp4", True, 'attachment; filename="clip.mp4"', id="ascii-attachment"),
        pytest.param("my clip.mp4", False, 'inline; filename="my clip.mp4"', id="space-kept"),
        pytest.param(
            'a"b.mp4', False, "inline; filename=\"a_b.mp4\"; filename*=UTF-8''a%22b.mp4", id="double-quote-replaced"
        ),
        pytest.param(
            "a\\b.mp4", False, "inline; filename=\"a_b.mp4\"; filename*=UTF-8''a%5Cb.mp4", id="backslash-replaced"
        ),
        pytest.param(
            "100%.mp4", False, "inline; filename=\"100_.mp4\"; filename*=UTF-8''100%25.mp4", id="percent-replaced"
        ),
        pytest.param(
            "naïve café.mp4",
            False,
            "inline; filename=\"na_ve caf_.mp4\"; filename*=UTF-8''na%C3%AFve%20caf%C3%A9.mp4",
            id="non-ascii-filename-star",
        ),
        pytest.param(
            "日本.mp4",
            True,
            "attachment; filename=\"__.mp4\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.mp4",
            id="non-ascii-attachment",
        ),
    ],
)
def test_format_content_disposition(filename: str, attachment: bool, expected: str) -> None:
    assert format_content_disposition(filename, attachment=attachment) == expected


# RFC 8187 ext-value with the UTF-8 charset and no language: only attr-char and pct-encoded.
_EXT_VALUE = re.compile(r"UTF-8''((?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})*)")
_QUOTED_FALLBACK = re.compile(r'filename="([\x20\x21\x23-\x5b\x5d-\x7e]*)"')


@pytest.mark.parametrize(
    "filename",
    [
        pytest.param("naïve café.mp4", id="latin"),
        pytest.param("日本語の動画.mp4", id="cjk"),
        pytest.param("🎬 take #1 (final).webm", id="emoji-and-punctuation"),
        pytest.param("a;b,c=d'e.mp4", id="parameter-delimiters-quoted"),
        pytest.param("plain clip.mp4", id="plain-ascii"),
        pytest.param('quote"back\\slash%.mp4', id="quote-backslash-percent"),
    ],
)
def test_content_disposition_grammar(filename: str) -> None:
    value = format_content_disposition(filename, attachment=False)
    fallback, star, extended = value.removeprefix("inline; ").partition("; filename*=")
    quoted = _QUOTED_FALLBACK.fullmatch(fallback)
    assert quoted is not None, fallback
    if not star:  # the plain quoted-string already carries the name exactly
        assert quoted.group(1) == filename
        return
    match = _EXT_VALUE.fullmatch(extended)
    assert match is not None, extended
    assert unquote(match.group(1), encoding="utf-8", errors="strict") == filename
