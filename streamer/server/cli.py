"""The ``streamer`` command: ``streamer serve [MEDIA_DIR] [options]``. Wiring only.

Each option defaults to its ``STREAMER_<OPTION>`` environment variable, then to
the built-in default; bad values stop the command with a message, exit code 2.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from streamer.server.protocol import StreamerHttpToolsProtocol
from streamer.server.keys import KeyFileError, default_secret_file, load_keys, parse_ttl, signed_url
from streamer.server.settings import ENV_PREFIX, Settings, SettingsError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess mode

LOG_LEVELS = ["critical", "error", "warning", "info", "debug", "trace"]
_OPTIONS = {
    "host": "address to bind (default 127.0.0.1)",
    "port": "TCP port (default 8000)",
    "io": "generator form streaming /media bodies longer than a chunk: async (page cache in place, else aiofiles) or sync (def generator in threads); default async",
    "sendfile": "on or off: send file bodies from the page cache to the socket without copying (plain HTTP only; TLS and paced streams copy); default on",
    "front_door": "on or off: answer /media, /thumbs, /hls and the load-testing routes before FastAPI's router (default on)",
    "forwarded_allow_ips": "comma-separated proxy addresses (or '*') whose X-Forwarded-For and X-Forwarded-Proto are trusted; default none: the headers are ignored",
    "chunk_size": "bytes per chunk, 4KiB..16MiB, e.g. 65536, 256KiB, 1MiB (default 256KiB)",
    "workers": "worker processes (default 1)",
    "cors_origins": "comma-separated origins allowed to read through CORS, '*' for any; default none (CORS off)",
    "stall_timeout": "seconds a client may accept nothing before its stream is aborted (default 60)",
    "shutdown_grace": "seconds in-flight streams get to finish on shutdown (default 10)",
    "rate_limit": "bytes per second for every stream, like nginx's limit_rate, e.g. 1MiB; 0 for none (default)",
    "max_bytes": "largest body the load-testing endpoints make (default 10GiB)",
    "max_duration": "longest duration or delay the load-testing endpoints accept, in seconds (default 60)",
    "max_streams": "bodies streamed at once per worker; beyond it 503 with Retry-After, no queue (default 1024)",
    "send_buffer": "kernel send buffer per connection, e.g. 256KiB (default); 0 for the kernel's autotuning",
    "open_files": "media files kept open between requests, closed when they change (default 1000); 0 for none",
    "open_file_idle": "seconds an unused open file stays open (default 10)",
    "access": "open (anyone who reaches the port) or token (a token or a signed link for every route but /healthz); default open on a loopback address, token elsewhere",
    "secret_file": "file of signing keys, made (0600) if missing (default $XDG_CONFIG_HOME/streamer/secret, else ~/.config/streamer/secret)",
    "load_testing": "on or off: the /bytes, /stream-bytes, /drip and /range routes; default on for a loopback address, off elsewhere",
    "cache_dir": "folder for derived data (probe results, keyframe indexes, thumbnails), made on first use (default $XDG_CACHE_HOME/streamer, else ~/.cache/streamer)",
    "thumb_cache_size": "bytes of thumbnails kept in the cache, least recently used out first, e.g. 512MiB (default 1GiB)",
    "hls_audio_cache_size": "bytes of sound converted to AAC for HLS kept in the cache, least recently used out first (default 2GiB)",
    "media_workers": "worker processes for thumbnails and other CPU-heavy media work (default: cores - 1, at least 1, at most 4)",
    "transcode": "on or off: convert video browsers cannot decode (MPEG-4 Part 2, MPEG-2, VC-1...) to H.264 for HLS, 720p at most; CPU heavy (about a core per segment being converted); default off",
    "transcode_jobs": "segments converted to H.264 at once, each in a media worker (default 1); more wait, then 503 with Retry-After",
    "transcode_cache_size": "bytes of converted H.264 segments kept in the cache, least recently used out first (default 4GiB)",
    "s3_max_gets": "GETs to the object store in flight at once per worker (default 32); a new request waits up to 1 s for one, then 503 with Retry-After",
    "s3_endpoint": "URL of the S3-compatible store when MEDIA_DIR is s3://BUCKET[/PREFIX] (default: AWS_ENDPOINT_URL, else AWS); credentials from the AWS_* variables",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamer", description="Chunked media streaming server.")
    commands = parser.add_subparsers(dest="command", required=True)
    sign = commands.add_parser("sign", help="print a signed link to one file or folder of the media folder")
    sign.add_argument("path", help="a file or folder, relative to the media folder ('' or / for all of it)")
    sign.add_argument("--ttl", default="2h", help="how long the link works: 90s, 30m, 2h, 7d (default 2h; at most 366d)")
    sign.add_argument("--base-url", default=None, help="the server's address as visitors reach it (default http://HOST:PORT)")
    sign.add_argument("--media-dir", dest="media_dir", default=None, help="the media folder (as for serve)")
    for name in ("host", "port", "secret_file"):
        sign.add_argument("--" + name.replace("_", "-"), dest=name, help=f"as for serve; env {ENV_PREFIX}{name.upper()}")
    serve = commands.add_parser("serve", help="serve a media folder over HTTP")
    serve.add_argument(
        "media_dir", nargs="?",
        help="folder to serve, or s3://BUCKET[/PREFIX] (default: the sample media/ of a source checkout, else ./media)",
    )
    for name, help_text in _OPTIONS.items():
        serve.add_argument("--" + name.replace("_", "-"), dest=name, help=f"{help_text}; env {ENV_PREFIX}{name.upper()}")
    serve.add_argument(
        "--log-level",
        default=os.environ.get(ENV_PREFIX + "LOG_LEVEL", "info"),
        choices=LOG_LEVELS,
        help=f"uvicorn's log level (default info); env {ENV_PREFIX}LOG_LEVEL",
    )
    return parser


def settings_from_args(args: argparse.Namespace, environ: dict[str, str]) -> Settings:
    values = {name: environ[ENV_PREFIX + name.upper()] for name in [*_OPTIONS, "media_dir"] if ENV_PREFIX + name.upper() in environ}
    values.update({name: getattr(args, name) for name in [*_OPTIONS, "media_dir"] if getattr(args, name) is not None})
    if values.get("media_dir", "").startswith("s3://"):
        values["s3_url"] = values.pop("media_dir")
    return Settings.from_strings(values)


class ListenError(OSError):
    """The address cannot be bound (taken, or not this machine's)."""


def listen(settings: Settings) -> socket.socket:
    """The bound socket (uvicorn listens on it); connections accepted from it inherit its send buffer size.

    Bound before anything is announced, so a taken port is the only thing said.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise ListenError(
            exc.errno,
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}; "
            "is another server running there? Stop it, or pick another --port",
        ) from exc
    sock.set_inheritable(True)  # worker processes get it
    set_send_buffer(sock, settings.send_buffer)
    return sock


def set_send_buffer(sock: socket.socket, size: int) -> None:
    if size:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def server_app() -> Any:
    """The app of a server process, from the ``STREAMER_*`` environment, with start-up garbage frozen.

    Everything made at import and start-up (FastAPI's and pydantic's models, the routes)
    lives as long as the process. ``gc.freeze()`` keeps it out of every later collection,
    so a full collection scans what requests made rather than half a million start-up
    objects: on range requests it took the p99 latency from about 60 ms to about 30 ms.
    """
    from streamer.server.app import create_app

    app = create_app()
    gc.freeze()
    return app


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy-header layer only when some proxy is trusted: otherwise it would wrap every request for nothing."""
    if not settings.forwarded_allow_ips:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.forwarded_allow_ips}


def serve(settings: Settings, log_level: str, sock: socket.socket) -> None:
    common = dict(
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=settings.shutdown_grace,
        http=StreamerHttpToolsProtocol,  # a stalled stream's connection is dropped, not left to TCP
        **proxy_options(settings),
    )
    os.environ.update(settings.to_env())  # the app and every worker process build their settings from it
    if settings.workers == 1:
        config = uvicorn.Config(server_app(), **common)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            sock.close()
    else:
        with tempfile.TemporaryDirectory(prefix="streamer-metrics-") as metrics_dir:
            os.environ[MULTIPROC_ENV] = metrics_dir  # before any worker imports prometheus_client
            config = uvicorn.Config("streamer.server.cli:server_app", factory=True, workers=settings.workers, **common)
            try:  # what uvicorn.run does for workers, but closing the listening socket afterwards
                Multiprocess(config, sockets=[sock]).run()
            finally:
                sock.close()


def sign(parser: argparse.ArgumentParser, args: argparse.Namespace, environ: dict[str, str]) -> None:
    names = ("host", "port", "secret_file", "media_dir")
    values = {n: environ[ENV_PREFIX + n.upper()] for n in names if ENV_PREFIX + n.upper() in environ}
    values.update({n: getattr(args, n) for n in names if getattr(args, n) is not None})
    try:
        settings = Settings.from_strings(values)
        keys = load_keys(settings.secret_file or default_secret_file())
        ttl = parse_ttl(args.ttl)
        base = args.base_url or f"http://{settings.host}:{settings.port}"
        print(signed_url(keys, settings.media_dir, args.path, ttl, base, time.time()))
    except (SettingsError, KeyFileError, ValueError) as exc:
        parser.error(str(exc))


def announce(settings: Settings) -> None:
    """The start-up lines: where the library is, and who may read it."""
    address = f"http://{settings.host}:{settings.port}/"
    served = settings.s3_url or settings.media_dir  # never the store's credentials: they stay in the environment
    if settings.access_mode == "token":
        token = load_keys(settings.secret_file or default_secret_file()).library_token
        print(f"streamer: serving {served}; open the library at {address}?token={token}", file=sys.stderr)
    else:
        print(f"streamer: serving {served}; library page at {address}", file=sys.stderr)
        if not settings.loopback:
            print(f"streamer: WARNING: --access open on {settings.host}: anyone who can reach this port can read the library", file=sys.stderr)
    load = "on" if settings.load_testing_on else "off (--load-testing on to enable)"
    print(f"streamer: access {settings.access_mode}; load-testing routes {load}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sign":
        return sign(parser, args, dict(os.environ))
    if args.log_level not in LOG_LEVELS:  # a bad environment default escapes argparse's choices
        parser.error(f"log level must be one of {', '.join(LOG_LEVELS)}, not {args.log_level!r}")
    try:
        settings = settings_from_args(args, dict(os.environ))
    except SettingsError as exc:
        parser.error(str(exc))
    try:
        sock = listen(settings)
    except ListenError as exc:
        parser.exit(1, f"streamer: error: {exc.strerror}\n")
    try:
        announce(settings)  # only once the port is ours: a taken port is the only thing said
    except KeyFileError as exc:
        sock.close()
        parser.error(str(exc))
    serve(settings, args.log_level, sock)
