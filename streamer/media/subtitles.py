"""Subtitles for the browser: SubRip (.srt) to WebVTT, and text decoding.

No I/O in this module. Browsers' ``<track>`` reads WebVTT only, so an SRT file is
converted: decimal commas become points, hours are made two digits, cue numbers
and SRT's position hints are dropped, tags WebVTT lacks (``<font>``) are removed,
and text that would end a cue or open a tag is escaped. A block without a valid
timing line is skipped, as players skip it. Input is UTF-8 (with or without BOM),
UTF-16 with BOM, else Windows-1252, the usual encoding of older subtitle files.
Subtitle streams inside a container arrive as ASS dialogue (FFmpeg decodes every
text format to it) and become cues the same way: override blocks dropped except
italic, bold and underline, ``\\N`` a line break.
"""

from __future__ import annotations

import re

SUBTITLE_EXTENSIONS = (".srt", ".vtt")
_TIME = r"(\d{1,3}):([0-5]?\d):([0-5]?\d)(?:[,.](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG = re.compile(r"<(/?)([A-Za-z]+)[^<>]*>")
_KEPT_TAGS = frozenset({"b", "i", "u"})
# FFmpeg's text subtitle codecs (decoded to ASS dialogue); the others are pictures (PGS, DVB, DVD) or teletext.
TEXT_SUBTITLE_CODECS = frozenset({
    "subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text", "microdvd", "mpl2", "pjs", "realtext", "sami",
    "stl", "subviewer", "subviewer1", "vplayer", "jacosub",
})
_OVERRIDE = re.compile(r"\{([^{}]*)\}")
_STYLE_SWITCH = re.compile(r"\\([biu])(\d+)|\\r")
DEFAULT_CUE_S = 5.0  # a cue with no duration shows until the next one starts, at most this long


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


def is_text_subtitle(codec: str | None) -> bool:
    """True for subtitle codecs carried as text, which WebVTT can hold; False for pictures (PGS, DVB, DVD)."""
    return codec in TEXT_SUBTITLE_CODECS


def ass_to_cue_text(dialogue: str) -> str:
    """The text of an ASS dialogue (its Text field) as WebVTT cue text: ``{\\i1}`` becomes ``<i>``, other overrides go."""
    out: list[str] = []
    open_tags: list[str] = []
    position = 0
    for block in _OVERRIDE.finditer(dialogue):
        out.append(_escape(dialogue[position:block.start()]))
        position = block.end()
        for switch in _STYLE_SWITCH.finditer(block.group(1)):
            tag, on = switch.group(1), switch.group(2)
            if tag is None or on == "0":  # \r resets every style
                out.append(_close(open_tags, tag))
            elif tag not in open_tags:
                out.append(f"<{tag}>")
                open_tags.append(tag)
    out.append(_escape(dialogue[position:]))
    out.extend(f"</{name}>" for name in reversed(open_tags))
    text = "".join(out).replace("\\N", "\n").replace("\\n", "\n").replace("\\h", "\u00a0")
    return "\n".join(line for line in text.split("\n") if line.strip())


def _close(open_tags: list[str], tag: str | None) -> str:
    """Close ``tag`` (every tag if ``None``), closing and reopening the tags inside it so they nest."""
    if tag is not None and tag not in open_tags:
        return ""
    inner = open_tags[open_tags.index(tag) + 1:] if tag is not None else []
    closed = "".join(f"</{name}>" for name in reversed(open_tags[open_tags.index(tag):] if tag else open_tags))
    del open_tags[open_tags.index(tag) if tag else 0:]
    open_tags.extend(inner)
    return closed + "".join(f"<{name}>" for name in inner)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_vtt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def cues_to_vtt(cues: list[tuple[float, float | None, str]]) -> str:
    """A WebVTT document from ``(start_s, end_s or None, cue text)`` in any order; empty cues are left out.

    A cue without an end (or ending before it starts) lasts until the next cue starts, at most DEFAULT_CUE_S.
    """
    ordered = sorted(cues, key=lambda cue: cue[0])
    blocks = []
    for number, (start, end, text) in enumerate(ordered):
        if not text.strip():
            continue
        if end is None or end <= start:
            following = next((c[0] for c in ordered[number + 1:] if c[0] > start), None)
            end = min(following, start + DEFAULT_CUE_S) if following is not None else start + DEFAULT_CUE_S
        body = text.replace("-->", "--&gt;")
        blocks.append(f"{format_vtt_time(start)} --> {format_vtt_time(end)}\n{body}")
    return "WEBVTT\n\n" + "".join(block + "\n\n" for block in blocks)
