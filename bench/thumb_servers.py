"""Servers for ``bench.thumbs``: the naive FastAPI thumbnail app and nginx with ``image_filter``."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.servers import nginx_user_directive

NGINX_MODULE = Path("/usr/lib/nginx/modules/ngx_http_image_filter_module.so")
NAIVE_APP = '''
import io

from fastapi import FastAPI, Response
from PIL import Image, ImageOps

app = FastAPI()

@app.get("/naive/{name}")
def naive(name: str, size: int = 320) -> Response:
    image = ImageOps.exif_transpose(Image.open(f"{ROOT}/{name}"))  # the whole photo, decoded
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=80)
    return Response(buffer.getvalue(), media_type="image/jpeg")
'''
NGINX_CONF = """{user}
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
load_module {module};
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /healthz {{
            return 200 "ok";
        }}
        location /thumbs/ {{
            alias {data}/;
            image_filter resize {size} {size};
            image_filter_buffer 64M;
            image_filter_jpeg_quality 80;
        }}
    }}
}}
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def running(command: list[str], ready_url: str, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    try:
        wait_ready(ready_url, process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def nginx_throughput(work: Path, data: Path, size: int, concurrent: Callable[[str, list[str], int], Awaitable[float]]) -> float:
    tmp = work / "nginx"
    tmp.mkdir()
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=nginx_user_directive(), tmp=tmp, module=NGINX_MODULE, port=port, data=data,
                                      size=size))
    command = ["nginx", "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(conf), "-g", "daemon off;"]
    base = f"http://127.0.0.1:{port}"
    with running(command, base + "/healthz"):
        return asyncio.run(concurrent(base, [f"/thumbs/photo-{i}.jpg" for i in range(16)], 8))
