"""Settings: one frozen, validated value for everything the server can be told.

Every field can come from an environment variable ``STREAMER_<FIELD>``; the CLI
overrides those. A value out of bounds raises ``SettingsError`` with a message
that names the setting, so the server refuses to start rather than misbehave.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from streamer.sources.chunks import CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE
from streamer.web.responses import STALL_TIMEOUT_S

ENV_PREFIX = "STREAMER_"
_PACKAGE_MEDIA = Path(__file__).resolve().parents[2] / "media"
DEFAULT_MEDIA_DIR = _PACKAGE_MEDIA if _PACKAGE_MEDIA.is_dir() else Path("media")
SHUTDOWN_GRACE_S = 10.0
MAX_BYTES = 10 << 30  # largest body the load-testing endpoints make
MAX_DURATION_S = 60.0  # longest duration or delay they accept
MAX_WORKERS = 64
MAX_STREAMS = 1024  # bodies streaming at once per worker; beyond it, 503 with Retry-After
# Kernel send buffer of every connection. Linux wakes a blocked writer only once a third of it
# has drained, so an autotuned 4 MiB buffer keeps a 10 kB/s client's send waiting for minutes,
# past any stall timeout; 256 KiB (the kernel doubles it) makes that about 17 s.
SEND_BUFFER = 256 * 1024
MAX_TIMEOUT_S = 3600
OPEN_FILES = 1000  # files kept open between requests, like nginx's open_file_cache max=
OPEN_FILE_IDLE_S = 10.0  # a cached file unused this long is closed
THUMB_CACHE_SIZE = 1 << 30  # bytes of thumbnails kept under cache_dir/thumbs
HLS_AUDIO_CACHE_SIZE = 2 << 30  # bytes of converted sound kept under cache_dir/hls-audio: ~30 h stereo, ~12 h 5.1
TRANSCODE_CACHE_SIZE = 4 << 30  # bytes of H.264 segments kept under cache_dir/hls-video: ~2.5 h at 720p
MAX_TRANSCODE_JOBS = 16
MEDIA_WORKERS = max(1, min(4, (os.cpu_count() or 1) - 1))  # processes for CPU-heavy media work: one core left to the loop
_SIZE = re.compile(r"([0-9]{1,12})\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CACHE_HOME/streamer``, else ``~/.cache/streamer`` (the XDG base directory rule)."""
    base = environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "streamer"


class SettingsError(ValueError):
    """A setting is missing, malformed or out of bounds."""


def parse_size(text: str) -> int:
    """``65536``, ``64k``, ``256KiB``, ``1MiB``, ``1M``: binary units, case-insensitive."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise SettingsError(f"not a size: {text!r} (examples: 65536, 256KiB, 1MiB)")
    return int(match.group(1)) * _UNITS[match.group(2)[:1].lower()]


@dataclass(frozen=True)
class Settings:
    media_dir: Path = DEFAULT_MEDIA_DIR
    host: str = "127.0.0.1"
    port: int = 8000
    io: Literal["async", "sync"] = "async"
    sendfile: str = "on"  # "on": file bodies go from the page cache to the socket (plain HTTP); "off": copied
    front_door: str = "on"  # "on": the planned routes are answered before FastAPI's router (web/front.py); "off": by it
    forwarded_allow_ips: str = ""  # addresses whose X-Forwarded-For/-Proto are trusted; empty: none (no proxy-header layer)
    chunk_size: int = CHUNK_SIZE
    workers: int = 1
    cors_origins: tuple[str, ...] = ()  # CORS off unless origins are named
    stall_timeout: float = STALL_TIMEOUT_S
    shutdown_grace: float = SHUTDOWN_GRACE_S
    rate_limit: int = 0  # bytes per second for every stream, 0 for none
    max_bytes: int = MAX_BYTES
    max_duration: float = MAX_DURATION_S
    max_streams: int = MAX_STREAMS
    send_buffer: int = SEND_BUFFER  # bytes, 0 for the kernel's autotuning
    open_files: int = OPEN_FILES  # 0: open every file for every request
    open_file_idle: float = OPEN_FILE_IDLE_S
    access: str = ""  # "open" or "token"; empty: open on a loopback address, token elsewhere
    secret_file: Path | None = None  # signing keys; None: $XDG_CONFIG_HOME/streamer/secret
    load_testing: str = ""  # "on" or "off"; empty: on for a loopback address, off elsewhere
    cache_dir: Path = field(default_factory=default_cache_dir)  # probe results, keyframe indexes, thumbnails
    thumb_cache_size: int = THUMB_CACHE_SIZE
    hls_audio_cache_size: int = HLS_AUDIO_CACHE_SIZE
    media_workers: int = MEDIA_WORKERS
    transcode: str = "off"  # "on": /hls converts video browsers cannot decode to H.264 (CPU heavy); "off": refused
    transcode_jobs: int = 1  # segments converted at once (each takes a core)
    transcode_cache_size: int = TRANSCODE_CACHE_SIZE
    s3_url: str = ""  # s3://BUCKET[/PREFIX]: serve /media and /api/media from object storage instead of media_dir
    s3_endpoint: str = ""  # the store's URL; empty: AWS_ENDPOINT_URL, else AWS itself
    s3_max_gets: int = 32  # GETs to the store in flight per worker; a new request waits 1 s for one, then 503

    def __post_init__(self) -> None:
        if not str(self.media_dir):
            raise SettingsError("media directory must not be empty")
        object.__setattr__(self, "media_dir", Path(self.media_dir))
        if not str(self.cache_dir):
            raise SettingsError("cache directory must not be empty")
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        if self.secret_file is not None:
            object.__setattr__(self, "secret_file", Path(self.secret_file))
        if self.access not in ("", "open", "token"):
            raise SettingsError(f"access must be 'open' or 'token', not {self.access!r}")
        if self.sendfile not in ("on", "off"):
            raise SettingsError(f"sendfile must be 'on' or 'off', not {self.sendfile!r}")
        if self.front_door not in ("on", "off"):
            raise SettingsError(f"front door must be 'on' or 'off', not {self.front_door!r}")
        if self.load_testing not in ("", "on", "off"):
            raise SettingsError(f"load testing must be 'on' or 'off', not {self.load_testing!r}")
        if self.cache_dir.exists() and not self.cache_dir.is_dir():
            raise SettingsError(f"cache directory {str(self.cache_dir)!r} is not a directory")
        if self.io not in ("async", "sync"):
            raise SettingsError(f"io must be 'async' or 'sync', not {self.io!r}")
        if not MIN_CHUNK_SIZE <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise SettingsError(
                f"chunk size {self.chunk_size} bytes is outside {MIN_CHUNK_SIZE} (4 KiB) .. {MAX_CHUNK_SIZE} (16 MiB)"
            )
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is outside 0..65535")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise SettingsError(f"workers {self.workers} is outside 1..{MAX_WORKERS}")
        if not 0 < self.stall_timeout <= MAX_TIMEOUT_S:
            raise SettingsError(f"stall timeout {self.stall_timeout} s is outside (0, {MAX_TIMEOUT_S}]")
        if not 0 <= self.shutdown_grace <= MAX_TIMEOUT_S:
            raise SettingsError(f"shutdown grace {self.shutdown_grace} s is outside [0, {MAX_TIMEOUT_S}]")
        if not 0 <= self.rate_limit <= 1 << 40:
            raise SettingsError(f"rate limit {self.rate_limit} bytes/s is outside 0 (none)..{1 << 40}")
        if not 0 <= self.max_bytes <= 1 << 50:
            raise SettingsError(f"max bytes {self.max_bytes} is outside 0..{1 << 50}")
        if not 0 <= self.max_duration <= MAX_TIMEOUT_S:
            raise SettingsError(f"max duration {self.max_duration} s is outside [0, {MAX_TIMEOUT_S}]")
        if not 1 <= self.max_streams <= 1 << 20:
            raise SettingsError(f"max streams {self.max_streams} is outside 1..{1 << 20}")
        if self.send_buffer and not 4096 <= self.send_buffer <= 64 << 20:
            raise SettingsError(f"send buffer {self.send_buffer} bytes is outside 4096..{64 << 20} (or 0 for the kernel's)")
        if not 0 <= self.open_files <= 1 << 20:
            raise SettingsError(f"open files {self.open_files} is outside 0 (no cache)..{1 << 20}")
        if not 0 < self.open_file_idle <= MAX_TIMEOUT_S:
            raise SettingsError(f"open file idle {self.open_file_idle} s is outside (0, {MAX_TIMEOUT_S}]")
        if not 1 << 20 <= self.thumb_cache_size <= 1 << 50:
            raise SettingsError(f"thumb cache size {self.thumb_cache_size} bytes is outside 1MiB..{1 << 50}")
        if not 1 << 20 <= self.hls_audio_cache_size <= 1 << 50:
            raise SettingsError(f"hls audio cache size {self.hls_audio_cache_size} bytes is outside 1MiB..{1 << 50}")
        if not 1 <= self.media_workers <= MAX_WORKERS:
            raise SettingsError(f"media workers {self.media_workers} is outside 1..{MAX_WORKERS}")
        if self.transcode not in ("on", "off"):
            raise SettingsError(f"transcode must be 'on' or 'off', not {self.transcode!r}")
        if not 1 <= self.transcode_jobs <= MAX_TRANSCODE_JOBS:
            raise SettingsError(f"transcode jobs {self.transcode_jobs} is outside 1..{MAX_TRANSCODE_JOBS}")
        if not 1 << 20 <= self.transcode_cache_size <= 1 << 50:
            raise SettingsError(f"transcode cache size {self.transcode_cache_size} bytes is outside 1MiB..{1 << 50}")
        if self.s3_url and not self.s3_url.startswith("s3://"):
            raise SettingsError(f"s3 url must look like s3://BUCKET[/PREFIX], not {self.s3_url!r}")
        if not 1 <= self.s3_max_gets <= 4096:
            raise SettingsError(f"s3 max gets {self.s3_max_gets} is outside 1..4096")
        if self.s3_endpoint and not self.s3_endpoint.startswith(("http://", "https://")):
            raise SettingsError(f"s3 endpoint must be an http:// or https:// URL, not {self.s3_endpoint!r}")
        if not self.media_dir.is_dir():
            hint = "give the folder to serve, e.g. `streamer serve /srv/media`"
            if self.media_dir == DEFAULT_MEDIA_DIR and not _PACKAGE_MEDIA.is_dir():  # installed, not a checkout
                hint = "no folder was given, and only a source checkout has the sample media/: " + hint
            raise SettingsError(f"media directory {str(self.media_dir)!r} does not exist or is not a directory; {hint}")

    @property
    def loopback(self) -> bool:
        """True if the server listens on a loopback address only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def access_mode(self) -> str:
        return self.access or ("open" if self.loopback else "token")

    @property
    def load_testing_on(self) -> bool:
        return self.load_testing == "on" if self.load_testing else self.loopback

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> Settings:
        """Build from text values keyed by field name, as found in the environment or on a command line."""
        kwargs: dict[str, object] = {}
        for name, text in values.items():
            if name not in _CONVERTERS:
                raise SettingsError(f"unknown setting {name!r}")
            try:
                kwargs[name] = _CONVERTERS[name](text)
            except SettingsError as exc:
                raise SettingsError(f"{name.replace('_', '-')}: {exc}") from exc
            except ValueError as exc:
                raise SettingsError(f"{name.replace('_', '-')}: invalid value {text!r}") from exc
        return cls(**kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        names = [f.name for f in fields(cls)]
        return cls.from_strings({n: environ[ENV_PREFIX + n.upper()] for n in names if ENV_PREFIX + n.upper() in environ})

    def to_env(self) -> dict[str, str]:
        """The environment that ``from_env`` turns back into these settings (for worker processes)."""
        return {ENV_PREFIX + name.upper(): _FORMATTERS.get(name, str)(getattr(self, name)) for name in _CONVERTERS}


_CONVERTERS = {
    "media_dir": Path,
    "host": str,
    "port": int,
    "io": str,
    "sendfile": str,
    "front_door": str,
    "forwarded_allow_ips": str,
    "chunk_size": parse_size,
    "workers": int,
    "cors_origins": lambda text: tuple(o.strip() for o in text.split(",") if o.strip()),
    "stall_timeout": float,
    "shutdown_grace": float,
    "rate_limit": parse_size,
    "max_bytes": parse_size,
    "max_duration": float,
    "max_streams": int,
    "send_buffer": parse_size,
    "open_files": int,
    "open_file_idle": float,
    "access": str,
    "secret_file": lambda text: Path(text) if text else None,
    "load_testing": str,
    "cache_dir": Path,
    "thumb_cache_size": parse_size,
    "hls_audio_cache_size": parse_size,
    "media_workers": int,
    "transcode": str,
    "transcode_jobs": int,
    "transcode_cache_size": parse_size,
    "s3_url": str,
    "s3_endpoint": str,
    "s3_max_gets": int,
}
_FORMATTERS = {"cors_origins": ",".join, "secret_file": lambda path: "" if path is None else str(path)}
