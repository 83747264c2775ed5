"""``pip install .`` (not editable) gives a working ``streamer`` command and package data.

The wheel is built from a copy of the sources without build isolation (setuptools
comes with the test extras) and installed into a fresh venv; the dependencies come from the test
venv through a ``.pth`` line, which does not bring its editable install along.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx

from tests.conftest import REPO, free_port


def install(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    shutil.copytree(REPO / "streamer", source / "streamer", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    pip = [sys.executable, "-m", "pip", "-q", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, timeout=120, capture_output=True)
    wheel = next((tmp_path / "dist").glob("fastapi_streamer-*.whl"))
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index", str(wheel)],
                   check=True, timeout=120, capture_output=True)
    site = subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_a_non_editable_install_serves_a_folder_and_says_what_to_do_without_one(tmp_path: Path, media_root: Path) -> None:
    venv = install(tmp_path)
    streamer = str(venv / "bin" / "streamer")
    where = subprocess.run([venv / "bin" / "python", "-c", "import streamer; print(streamer.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert where.startswith(str(venv))  # the installed copy, not the checkout
    bare = subprocess.run([streamer, "serve"], capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert bare.returncode == 2
    assert "only a source checkout has the sample media/: give the folder to serve" in bare.stderr
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen([streamer, "serve", str(media_root), "--port", str(port)], cwd=tmp_path,
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        small = httpx.get(f"http://127.0.0.1:{port}/media/small.bin")
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")  # package data shipped
    assert small.content == (media_root / "small.bin").read_bytes()
