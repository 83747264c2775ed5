"""The server's secret keys: made once, kept in a file only its owner can read, rotated by adding lines.

The file holds one key per line, ``KEY_ID HEX``; the first line's key signs new links,
and every key listed still verifies (so an old key id keeps working until its line is
removed). The library token is derived from the signing key, so every worker and
every restart agree on it without sharing anything else; rotating the key changes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from streamer.http.paths import parse_media_path
from streamer.http.signing import MAX_LINK_TTL_S, format_link

KEY_BYTES = 32
FIRST_KEY_ID = "k1"
_LINE = re.compile(r"^([A-Za-z0-9_-]{1,16})\s+([0-9a-fA-F]{64,128})$")


class KeyFileError(ValueError):
    """The secret file is unreadable, malformed or readable by others."""


@dataclass(frozen=True)
class Keys:
    signing: str
    keys: dict[str, bytes]

    @property
    def library_token(self) -> str:
        digest = hmac.new(self.keys[self.signing], b"streamer-library-token-v1", hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:32]


def default_secret_file() -> Path:
    """``$XDG_CONFIG_HOME/streamer/secret``, else ``~/.config/streamer/secret``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "streamer" / "secret"


def parse_keys(text: str, path: Path) -> Keys:
    keys: dict[str, bytes] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise KeyFileError(f"{path}:{number}: expected 'KEY_ID HEX' (an id of 1-16 letters, digits, _ or -, and 32-64 bytes in hex)")
        keys.setdefault(match.group(1), bytes.fromhex(match.group(2)))
    if not keys:
        raise KeyFileError(f"{path} holds no key")
    return Keys(next(iter(keys)), keys)


def load_keys(path: Path) -> Keys:
    """The keys in ``path``, made (mode 0600) with one new key if it does not exist. Blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return _create(path)
    except OSError as exc:
        raise KeyFileError(f"cannot read the secret file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "r", encoding="ascii", errors="replace") as file:
        if os.fstat(file.fileno()).st_mode & 0o077:
            raise KeyFileError(f"the secret file {path} can be read by others: chmod 600 {path}")
        return parse_keys(file.read(), path)


def _create(path: Path) -> Keys:
    """Write the file whole under a temporary name, then link it into place: a reader never sees it half made."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = f"{FIRST_KEY_ID} {secrets.token_hex(KEY_BYTES)}\n"
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write("# streamer's signing keys: the first line signs; every line verifies. Keep this file private.\n")
            file.write(line)
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process made it first: theirs wins
            return load_keys(path)
    finally:
        os.unlink(temporary)
    return parse_keys(line, path)


TTL = re.compile(r"^([0-9]{1,6})([smhd])$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """``90s``, ``30m``, ``2h``, ``7d`` as seconds; ``ValueError`` for anything else or beyond a year."""
    match = TTL.match(text.strip())
    seconds = int(match.group(1)) * _TTL_UNITS[match.group(2)] if match else 0
    if not 0 < seconds <= MAX_LINK_TTL_S:
        raise ValueError(f"a link's lifetime must look like 90s, 30m, 2h or 7d, and be at most 366d, not {text!r}")
    return seconds


def signed_url(keys: Keys, media_dir: Path, path: str, ttl_s: int, base_url: str, now: float) -> str:
    """A link to one file (it plays as it is) or one folder (the library page, opened there) of ``media_dir``.

    Raises ``ValueError`` if ``path`` is not a visible file or folder inside ``media_dir``.
    """
    relative = path.strip("/")
    names = parse_media_path(relative) if relative else ()
    if names is None or not media_dir.joinpath(*names).exists():
        raise ValueError(f"{path!r} is not a file or folder in {media_dir}")
    folder = media_dir.joinpath(*names).is_dir()
    scope = "/" if not relative else relative + "/" if folder else relative
    token = format_link(keys.keys[keys.signing], keys.signing, int(now) + ttl_s, scope)
    where = f"#/{quote(relative)}" if folder else f"media/{quote(relative)}"
    return f"{base_url.rstrip('/')}/s/{token}/{where}"
