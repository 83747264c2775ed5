"""The command line: options, environment variables, refusal of bad values, workers, --factory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        pytest.param(["--chunk-size", "1KiB"], {}, "outside 4096 (4 KiB) .. 16777216 (16 MiB)", id="chunk-size-below-4kib"),
        pytest.param(["--chunk-size", "17MiB"], {}, "outside 4096 (4 KiB)", id="chunk-size-above-16mib"),
        pytest.param([], {"STREAMER_CHUNK_SIZE": "2k"}, "outside 4096 (4 KiB)", id="chunk-size-from-env-checked-too"),
        pytest.param(["--chunk-size", "lots"], {}, "not a size", id="chunk-size-not-a-size"),
        pytest.param(["--io", "threads"], {}, "io must be 'async' or 'sync'", id="unknown-io-form"),
        pytest.param(["/no/such/dir"], {}, "does not exist", id="missing-media-dir"),
        pytest.param(["--port", "http"], {}, "port: invalid value", id="port-not-a-number"),
    ],
)
def test_bad_settings_refuse_to_start_with_a_message(args: list[str], env: dict[str, str], message: str) -> None:
    result = run_cli("serve", *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_a_folder_serves_the_bundled_media(spawn_server) -> None:
    proc = spawn_server()
    response = httpx.get(proc.base_url + "/media/tones/c523.wav")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.content == (REPO / "media" / "tones" / "c523.wav").read_bytes()
    assert httpx.get(proc.base_url + "/").headers["content-type"] == "text/html; charset=utf-8"


def test_options_come_from_the_environment(spawn_server, media_root: Path) -> None:
    proc = spawn_server(env={"STREAMER_MEDIA_DIR": str(media_root), "STREAMER_CORS_ORIGINS": "http://a.test"})
    response = httpx.get(proc.base_url + "/media/small.bin", headers={"origin": "http://a.test"})
    assert response.content == (media_root / "small.bin").read_bytes()
    assert response.headers["access-control-allow-origin"] == "http://a.test"


def test_workers_share_one_etag(spawn_server, media_root: Path) -> None:
    proc = spawn_server(str(media_root), "--workers", "2")
    etags = set()
    for _ in range(20):
        with httpx.Client() as client:  # a new connection each time, so both workers answer
            etags.add(client.head(proc.base_url + "/media/big.bin").headers["etag"])
    assert len(etags) == 1
    st = (media_root / "big.bin").stat()
    assert etags == {f'"{st.st_size:x}-{st.st_mtime_ns:x}"'}  # size and mtime only: no inode, no worker id


def test_uvicorn_factory_builds_the_app_from_the_environment(media_root: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "streamer:create_app", "--port", str(port)],
        env={**os.environ, "STREAMER_MEDIA_DIR": str(media_root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/media/small.bin", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert response.content == (media_root / "small.bin").read_bytes()
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("streamer")
    result = subprocess.run([str(script), "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "--chunk-size" in result.stdout and "STREAMER_CHUNK_SIZE" in result.stdout


def test_the_server_app_freezes_what_start_up_made(monkeypatch: pytest.MonkeyPatch, media_root: Path) -> None:
    """A full collection then skips the start-up objects (tail latency: see server_app)."""
    import gc

    from streamer.server.cli import server_app

    monkeypatch.setenv("STREAMER_MEDIA_DIR", str(media_root))
    gc.unfreeze()
    try:
        app = server_app()
        assert app.state.settings.media_dir == media_root
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_a_taken_port_is_the_only_thing_said(media_root: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", str(media_root), "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == (
        f"streamer: error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "is another server running there? Stop it, or pick another --port\n"
    )
