"""Subtitles for the browser: SubRip (.srt) to WebVTT, and text decoding.

No I/O in this module. Browsers' ``<track>`` reads WebVTT only, so an SRT file is
converted: decimal commas become points, hours are made two digits, cue numbers
and SRT's position hints are dropped, tags WebVTT lacks (``<font>``) are removed,
and text that would end a cue or open a tag is escaped. A block without a valid
timing line is skipped, as players skip it. Input is UTF-8 (with or without BOM),
UTF-16 with BOM, else Windows-1252, the usual encoding of older subtitle files.
"""

from __future__ import annotations

import re

SUBTITLE_EXTENSIONS = (".srt", ".vtt")
_TIME = r"(\d{1,3}):([0-5]?\d):([0-5]?\d)(?:[,.](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG = re.compile(r"<(/?)([A-Za-z]+)[^<>]*>")
_KEPT_TAGS = frozenset({"b", "i", "u"})


def decode_text(data: bytes) -> str:
    """Subtitle bytes as text: UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252 / Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return data.decode("latin-1")


def _timestamp(hours: str, minutes: str, seconds: str, millis: str | None) -> str:
    fraction = (millis or "0").ljust(3, "0")  # ",5" is half a second
    return f"{int(hours):02d}:{int(minutes):02d}:{int(seconds):02d}.{fraction}"


def _cue_text(line: str) -> str:
    escaped = re.sub(r"&(?!(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);)", "&amp;", line).replace("-->", "--&gt;")

    def keep_known(match: re.Match[str]) -> str:
        name = match.group(2).lower()
        return f"<{match.group(1)}{name}>" if name in _KEPT_TAGS else ""

    text = _TAG.sub(keep_known, escaped)
    return re.sub(r"<(?![/]?[biu]>)", "&lt;", text)


def _blocks(text: str) -> list[list[str]]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


def srt_to_vtt(text: str) -> str:
    """A WebVTT document with the cues of the SubRip ``text``; cues without valid timing are left out."""
    cues: list[str] = []
    for block in _blocks(text.lstrip("\ufeff")):
        at = 1 if len(block) > 1 and not _TIMING.match(block[0]) else 0  # a cue number, or none
        timing = _TIMING.match(block[at])
        if timing is None:
            continue
        start, end = _timestamp(*timing.groups()[:4]), _timestamp(*timing.groups()[4:])
        body = [_cue_text(line) for line in block[at + 1 :]]
        cues.append("\n".join([f"{start} --> {end}", *body]))
    return "WEBVTT\n\n" + "".join(cue + "\n\n" for cue in cues)


def is_webvtt(text: str) -> bool:
    """True if ``text`` opens as a WebVTT file must: the word WEBVTT, then a space, tab or line end."""
    body = text.lstrip("\ufeff")
    return body.startswith("WEBVTT") and (len(body) == 6 or body[6] in " \t\r\n")
