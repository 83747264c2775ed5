"""parse_size, Settings validation, and the environment round trip (no os.environ involved)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from streamer.server.settings import ENV_PREFIX, Settings, SettingsError, default_cache_dir, parse_size

KiB = 1024
MiB = 1024 * KiB


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("65536", 65536, id="plain-bytes"),
        pytest.param("0", 0, id="zero"),
        pytest.param("4096b", 4096, id="b-suffix"),
        pytest.param("64k", 64 * KiB, id="k-is-binary"),
        pytest.param("64K", 64 * KiB, id="upper-k"),
        pytest.param("64kb", 64 * KiB, id="kb-is-binary"),
        pytest.param("256KiB", 256 * KiB, id="kib"),
        pytest.param("256kib", 256 * KiB, id="kib-lower-case"),
        pytest.param("1MiB", MiB, id="mib"),
        pytest.param("1M", MiB, id="m"),
        pytest.param("1mb", MiB, id="mb-lower-case"),
        pytest.param("1g", 1024 * MiB, id="g"),
        pytest.param("1GiB", 1024 * MiB, id="gib"),
        pytest.param("64 KiB", 64 * KiB, id="space-before-unit"),
        pytest.param(" 64k ", 64 * KiB, id="surrounding-whitespace"),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("junk", id="junk"),
        pytest.param("", id="empty"),
        pytest.param("k", id="unit-without-number"),
        pytest.param("-1", id="negative"),
        pytest.param("-64k", id="negative-with-unit"),
        pytest.param("+64k", id="plus-sign"),
        pytest.param("1.5M", id="decimal"),
        pytest.param("0.5", id="decimal-bytes"),
        pytest.param("1e6", id="exponent"),
        pytest.param("1_024", id="underscore"),
        pytest.param("\u0661\u0660", id="non-ascii-digits"),
        pytest.param("64kk", id="doubled-unit"),
        pytest.param("1T", id="unknown-unit"),
        pytest.param("64 kibibytes", id="unit-spelled-out"),
        pytest.param("9" * 13, id="over-twelve-digits"),
    ],
)
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(SettingsError, match="not a size"):
        parse_size(text)


@pytest.mark.parametrize(
    "chunk_size",
    [
        pytest.param(4 * KiB, id="minimum-4-kib"),
        pytest.param(256 * KiB, id="default-size"),
        pytest.param(16 * MiB, id="maximum-16-mib"),
    ],
)
def test_chunk_size_accepted(tmp_path: Path, chunk_size: int) -> None:
    assert Settings(media_dir=tmp_path, chunk_size=chunk_size).chunk_size == chunk_size


@pytest.mark.parametrize(
    "chunk_size",
    [
        pytest.param(4 * KiB - 1, id="just-under-4-kib"),
        pytest.param(16 * MiB + 1, id="just-over-16-mib"),
        pytest.param(0, id="zero"),
        pytest.param(-1, id="negative"),
    ],
)
def test_chunk_size_refused(tmp_path: Path, chunk_size: int) -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings(media_dir=tmp_path, chunk_size=chunk_size)
    message = str(excinfo.value)
    assert str(chunk_size) in message
    assert "4 KiB" in message and "16 MiB" in message


@pytest.mark.parametrize("io", [pytest.param("sync", id="sync"), pytest.param("async", id="async")])
def test_io_accepted(tmp_path: Path, io: str) -> None:
    assert Settings(media_dir=tmp_path, io=io).io == io  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "io",
    [
        pytest.param("threads", id="other-word"),
        pytest.param("ASYNC", id="upper-case"),
        pytest.param("", id="empty"),
    ],
)
def test_io_refused(tmp_path: Path, io: str) -> None:
    with pytest.raises(SettingsError, match="io must be 'async' or 'sync'"):
        Settings(media_dir=tmp_path, io=io)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"port": -1}, "port -1", id="port-negative"),
        pytest.param({"port": 65536}, "port 65536", id="port-too-large"),
        pytest.param({"workers": 0}, "workers 0", id="workers-zero"),
        pytest.param({"workers": 65}, "workers 65", id="workers-too-many"),
        pytest.param({"stall_timeout": 0.0}, "stall timeout", id="stall-timeout-zero"),
        pytest.param({"stall_timeout": 3601.0}, "stall timeout", id="stall-timeout-too-long"),
        pytest.param({"shutdown_grace": -1.0}, "shutdown grace", id="shutdown-grace-negative"),
        pytest.param({"max_streams": 0}, "max streams 0", id="max-streams-zero"),
        pytest.param({"max_streams": (1 << 20) + 1}, "max streams", id="max-streams-too-many"),
        pytest.param({"send_buffer": 4095}, "send buffer 4095", id="send-buffer-too-small"),
        pytest.param({"send_buffer": (64 << 20) + 1}, "send buffer", id="send-buffer-too-big"),
        pytest.param({"front_door": "yes"}, "front door must be 'on' or 'off'", id="front-door-on-or-off"),
    ],
)
def test_bounds_refused(tmp_path: Path, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings(media_dir=tmp_path, **overrides)  # type: ignore[arg-type]


def test_missing_media_dir_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="missing.*does not exist"):
        Settings(media_dir=tmp_path / "missing")


def test_file_as_media_dir_refused(tmp_path: Path) -> None:
    (tmp_path / "file.mp4").write_bytes(b"")
    with pytest.raises(SettingsError, match="not a directory"):
        Settings(media_dir=tmp_path / "file.mp4")


def test_from_strings(tmp_path: Path) -> None:
    settings = Settings.from_strings(
        {
            "media_dir": str(tmp_path),
            "chunk_size": "1MiB",
            "port": "9000",
            "io": "sync",
            "workers": "3",
            "cors_origins": "https://a.example, https://b.example,,",
            "stall_timeout": "2.5",
            "shutdown_grace": "0",
        }
    )
    assert settings == Settings(
        media_dir=tmp_path,
        chunk_size=MiB,
        port=9000,
        io="sync",
        workers=3,
        cors_origins=("https://a.example", "https://b.example"),
        stall_timeout=2.5,
        shutdown_grace=0.0,
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"port": "eighty"}, "port: invalid value 'eighty'", id="port-not-a-number"),
        pytest.param({"chunk_size": "huge"}, "chunk-size: not a size", id="chunk-size-not-a-size"),
        pytest.param({"chunk_size": "1k"}, "outside 4096", id="chunk-size-parsed-then-bounded"),
        pytest.param({"stall_timeout": "soon"}, "stall-timeout: invalid value", id="float-not-a-number"),
    ],
)
def test_from_strings_refused(tmp_path: Path, values: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_strings({"media_dir": str(tmp_path), **values})


def test_from_env_reads_streamer_variables(tmp_path: Path) -> None:
    environ = {
        "STREAMER_MEDIA_DIR": str(tmp_path),
        "STREAMER_CHUNK_SIZE": "64KiB",
        "STREAMER_IO": "sync",
        "STREAMER_PORT": "9001",
        "STREAMER_LOG_LEVEL": "debug",  # read by the CLI, not a Settings field
        "streamer_port": "1",  # environment names are case-sensitive
        "PORT": "2",
    }
    settings = Settings.from_env(environ)
    assert (settings.media_dir, settings.chunk_size, settings.io, settings.port) == (tmp_path, 64 * KiB, "sync", 9001)
    assert settings.host == Settings(media_dir=tmp_path).host


def test_from_env_refuses_bad_value(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="chunk size 4095"):
        Settings.from_env({"STREAMER_MEDIA_DIR": str(tmp_path), "STREAMER_CHUNK_SIZE": "4095"})


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {
                "host": "0.0.0.0",
                "port": 0,
                "io": "sync",
                "chunk_size": 16 * MiB,
                "workers": 64,
                "cors_origins": ("https://a.example", "http://localhost:3000"),
                "stall_timeout": 0.25,
                "shutdown_grace": 0.0,
                "max_streams": 3,
                "send_buffer": 0,
            },
            id="every-field-changed",
        ),
        pytest.param({"cors_origins": ()}, id="no-cors-origins"),
        pytest.param({"stall_timeout": 1e-7}, id="float-in-exponent-form"),
    ],
)
def test_to_env_from_env_round_trip(tmp_path: Path, overrides: dict[str, object]) -> None:
    settings = Settings(media_dir=tmp_path, **overrides)  # type: ignore[arg-type]
    environ = settings.to_env()
    assert set(environ) == {ENV_PREFIX + f.name.upper() for f in fields(Settings)}
    assert all(isinstance(value, str) for value in environ.values())
    assert Settings.from_env(environ) == settings


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"XDG_CACHE_HOME": "/var/cache/me"}, Path("/var/cache/me/streamer"), id="xdg-cache-home"),
        pytest.param({}, Path.home() / ".cache" / "streamer", id="home-cache-without-xdg"),
        pytest.param({"XDG_CACHE_HOME": ""}, Path.home() / ".cache" / "streamer", id="empty-xdg-ignored"),
        pytest.param({"XDG_CACHE_HOME": "rel/cache"}, Path.home() / ".cache" / "streamer", id="relative-xdg-ignored"),
    ],
)
def test_default_cache_dir(environ: dict[str, str], expected: Path) -> None:
    assert default_cache_dir(environ) == expected


def test_cache_dir_from_env(tmp_path: Path) -> None:
    environ = {"STREAMER_MEDIA_DIR": str(tmp_path), "STREAMER_CACHE_DIR": str(tmp_path / "c")}
    assert Settings.from_env(environ).cache_dir == tmp_path / "c"


def test_cache_dir_that_is_a_file_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(SettingsError, match="cache directory .* is not a directory"):
        Settings(media_dir=tmp_path, cache_dir=tmp_path / "f")


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        pytest.param("", {"proxy_headers": False}, id="no-proxy-trusted-no-proxy-header-layer"),
        pytest.param("10.0.0.2,10.0.0.3", {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.2,10.0.0.3"},
                     id="named-proxies-trusted"),
    ],
)
def test_proxy_header_layer_only_when_asked_for(tmp_path: Path, allowed: str, expected: dict[str, object]) -> None:
    from streamer.server.cli import proxy_options

    assert proxy_options(Settings(media_dir=tmp_path, forwarded_allow_ips=allowed)) == expected
