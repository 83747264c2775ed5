"""SRT to WebVTT and text decoding, as tables (languages from file names: tests/test_listing.py)."""

from __future__ import annotations

import pytest

from streamer.media.subtitles import ass_to_cue_text, cues_to_vtt, decode_text, is_text_subtitle, is_webvtt, srt_to_vtt

CUE = "1\n00:00:01,000 --> 00:00:04,500\nHello\n"


@pytest.mark.parametrize(
    ("srt", "vtt"),
    [
        pytest.param(CUE, "WEBVTT\n\n00:00:01.000 --> 00:00:04.500\nHello\n\n", id="comma-becomes-point-number-dropped"),
        pytest.param(CUE.replace("\n", "\r\n"), "WEBVTT\n\n00:00:01.000 --> 00:00:04.500\nHello\n\n", id="crlf"),
        pytest.param("\ufeff" + CUE, "WEBVTT\n\n00:00:01.000 --> 00:00:04.500\nHello\n\n", id="bom-dropped"),
        pytest.param("1\n0:0:1,5 --> 0:00:02,25\nHi\n", "WEBVTT\n\n00:00:01.500 --> 00:00:02.250\nHi\n\n", id="short-fields-padded"),
        pytest.param("00:00:01,000 --> 00:00:02,000\nNo number\n", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nNo number\n\n", id="cue-without-number"),
        pytest.param("1\n00:00:01,000 --> 00:00:02,000 X1:10 X2:20 Y1:1 Y2:2\nAt\n", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nAt\n\n", id="position-hints-dropped"),
        pytest.param("1\n00:00:01,000 --> 00:00:02,000\nOne\nTwo\n\n\n\n2\n00:00:03,000 --> 00:00:04,000\nThree\n", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nOne\nTwo\n\n00:00:03.000 --> 00:00:04.000\nThree\n\n", id="two-cues-many-blank-lines"),
        pytest.param("1\nnot a timing\nText\n\n" + CUE, "WEBVTT\n\n00:00:01.000 --> 00:00:04.500\nHello\n\n", id="bad-timing-block-skipped"),
        pytest.param("1\n00:00:01,000 --> 00:00:02,000\n<i>it</i> <b>b</b> <font color=\"red\">red</font>\n", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<i>it</i> <b>b</b> red\n\n", id="tags-webvtt-lacks-removed"),
        pytest.param("1\n00:00:01,000 --> 00:00:02,000\nA & B --> C &amp; 1 < 2\n", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA &amp; B --&gt; C &amp; 1 &lt; 2\n\n", id="text-escaped"),
        pytest.param("1\n00:00:01,000 --> 00:00:02,000\n", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\n", id="empty-cue-kept"),
        pytest.param("", "WEBVTT\n\n", id="empty-file"),
        pytest.param("garbage\nmore garbage", "WEBVTT\n\n", id="no-cue-at-all"),
    ],
)
def test_srt_to_vtt(srt: str, vtt: str) -> None:
    assert srt_to_vtt(srt) == vtt
    assert is_webvtt(srt_to_vtt(srt))


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param("Café".encode(), "Café", id="utf-8"),
        pytest.param(b"\xef\xbb\xbfCaf\xc3\xa9", "Café", id="utf-8-bom"),
        pytest.param("Café".encode("utf-16"), "Café", id="utf-16-bom"),
        pytest.param(b"Caf\xe9 \x93quoted\x94", "Café \u201cquoted\u201d", id="windows-1252"),
        pytest.param(b"\x81\xe9", "\x81é", id="latin-1-where-1252-has-a-hole"),
    ],
)
def test_decode_text(data: bytes, text: str) -> None:
    assert decode_text(data) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("WEBVTT\n\n", True, id="header"),
        pytest.param("\ufeffWEBVTT - title\n", True, id="bom-and-title"),
        pytest.param("WEBVTT", True, id="header-only"),
        pytest.param("WEBVTTX\n", False, id="header-glued-to-text"),
        pytest.param("1\n00:00:01,000 --> 00:00:02,000\n", False, id="srt"),
    ],
)
def test_is_webvtt(text: str, expected: bool) -> None:
    assert is_webvtt(text) is expected


@pytest.mark.parametrize(
    ("dialogue", "cue"),
    [
        pytest.param("Plain", "Plain", id="plain"),
        pytest.param(r"Hello {\i1}world{\i0}", "Hello <i>world</i>", id="italic-on-off"),
        pytest.param(r"{\b1}Bold{\r} then", "<b>Bold</b> then", id="reset-closes"),
        pytest.param(r"{\i1}never closed", "<i>never closed</i>", id="closed-at-end"),
        pytest.param(r"{\an8\pos(10,20)\fs40}Top", "Top", id="other-overrides-dropped"),
        pytest.param(r"One\NTwo\nThree", "One\nTwo\nThree", id="line-breaks"),
        pytest.param(r"A\hB", "A\u00a0B", id="hard-space"),
        pytest.param("x < y & z > w", "x &lt; y &amp; z &gt; w", id="markup-escaped"),
        pytest.param("a --> b", "a --&gt; b", id="arrow-cannot-end-the-cue"),
        pytest.param(r"Line\N\NAfter", "Line\nAfter", id="blank-lines-dropped"),
        pytest.param(r"{\u1\i1}both{\u0}i", "<u><i>both</i></u><i>i</i>", id="outer-closed-inner-reopened"),
        pytest.param(r"{\i0}x", "x", id="closing-what-is-not-open"),
    ],
)
def test_ass_to_cue_text(dialogue: str, cue: str) -> None:
    assert ass_to_cue_text(dialogue) == cue


@pytest.mark.parametrize(
    ("cues", "vtt"),
    [
        pytest.param([(0.5, 1.5, "a")], "00:00:00.500 --> 00:00:01.500\na\n\n", id="one"),
        pytest.param([(3.0, 4.0, "b"), (1.0, 2.0, "a")], "00:00:01.000 --> 00:00:02.000\na\n\n00:00:03.000 --> 00:00:04.000\nb\n\n",
                     id="sorted-by-start"),
        pytest.param([(1.0, None, "a"), (3.0, 4.0, "b")], "00:00:01.000 --> 00:00:03.000\na\n\n00:00:03.000 --> 00:00:04.000\nb\n\n",
                     id="no-end-lasts-until-the-next"),
        pytest.param([(1.0, None, "a")], "00:00:01.000 --> 00:00:06.000\na\n\n", id="no-end-and-no-next-five-seconds"),
        pytest.param([(1.0, 1.0, "a")], "00:00:01.000 --> 00:00:06.000\na\n\n", id="zero-length-treated-as-no-end"),
        pytest.param([(1.0, 2.0, "  ")], "", id="empty-cue-left-out"),
        pytest.param([(3725.0625, 3726.0, "h")], "01:02:05.062 --> 01:02:06.000\nh\n\n", id="hours"),
    ],
)
def test_cues_to_vtt(cues: list[tuple[float, float | None, str]], vtt: str) -> None:
    assert cues_to_vtt(cues) == "WEBVTT\n\n" + vtt


@pytest.mark.parametrize(
    ("codec", "text"),
    [
        pytest.param("subrip", True, id="subrip"),
        pytest.param("ass", True, id="ass"),
        pytest.param("mov_text", True, id="mov-text"),
        pytest.param("webvtt", True, id="webvtt"),
        pytest.param("hdmv_pgs_subtitle", False, id="pgs-is-pictures"),
        pytest.param("dvb_subtitle", False, id="dvb-is-pictures"),
        pytest.param("dvd_subtitle", False, id="vobsub-is-pictures"),
        pytest.param("dvb_teletext", False, id="teletext-not-handled"),
        pytest.param(None, False, id="unknown"),
    ],
)
def test_is_text_subtitle(codec: str | None, text: bool) -> None:
    assert is_text_subtitle(codec) is text
