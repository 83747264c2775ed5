"""Which S3 client for the S3 source: obstore vs aiobotocore vs httpx + botocore's SigV4 signer.

Same store, same object, same run: one sequential read of the object in 8 MiB ranged GETs
(the stream shape), then random 256 KiB ranged GETs with If-Match at 1 and 16 in flight
(the seek shape), and this process's CPU time per 256 KiB GET at 16 in flight (user+system,
every thread: signing, HTTP, the copy of the body). obstore twice: its blocking API from
threads, and its async API awaited on an event loop (what streamer does since GETs run on
the server's loop). Usage: python -m bench.s3_clients ENDPOINT BUCKET [MiB]
(credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import obstore
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from obstore.store import S3Store

RANGE = 256 * 1024
STREAM_PIECE = 8 << 20
REQUESTS = 400
KEY = "bench/clients.bin"


def obstore_client(endpoint: str, bucket: str):
    store = S3Store(bucket, endpoint=endpoint, region="us-east-1", client_options={"allow_http": True})

    def get(start: int, stop: int, etag: str) -> bytes:
        return bytes(obstore.get(store, KEY, options={"range": (start, stop), "if_match": etag}).bytes())

    return get, lambda: None


def httpx_client(endpoint: str, bucket: str):
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    client = httpx.Client(limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))
    url = f"{endpoint}/{bucket}/{KEY}"

    def get(start: int, stop: int, etag: str) -> bytes:
        request = AWSRequest("GET", url, headers={"Range": f"bytes={start}-{stop - 1}", "If-Match": etag})
        S3SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
        response = client.get(url, headers=dict(request.headers))
        if response.status_code != 206:
            raise RuntimeError(response.status_code)
        return response.content

    return get, client.close


def cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def report(name: str, stream: float, one: float, sixteen: float, cpu_us: float) -> None:
    print(f"{name:14} stream {stream:7.0f} MB/s   256KiB ranges: {one:6.0f} req/s at 1, {sixteen:6.0f} req/s at 16, "
          f"{cpu_us:5.0f} us CPU per GET")


def measure_sync(name: str, get, size: int, etag: str) -> None:
    started = time.perf_counter()
    for start in range(0, size, STREAM_PIECE):
        get(start, min(size, start + STREAM_PIECE), etag)
    stream = size / (time.perf_counter() - started) / 1e6
    offsets = [random.randrange(0, size - RANGE) for _ in range(REQUESTS)]
    started = time.perf_counter()
    for offset in offsets:
        get(offset, offset + RANGE, etag)
    one = REQUESTS / (time.perf_counter() - started)
    with ThreadPoolExecutor(16) as pool:
        started, cpu = time.perf_counter(), cpu_s()
        list(pool.map(lambda o: get(o, o + RANGE, etag), offsets))
        sixteen = REQUESTS / (time.perf_counter() - started)
    report(name, stream, one, sixteen, (cpu_s() - cpu) / REQUESTS * 1e6)


async def measure_async(name: str, get, size: int) -> None:
    """The same three shapes for an async ``get(start, stop)``."""
    started = time.perf_counter()
    for start in range(0, size, STREAM_PIECE):
        await get(start, min(size, start + STREAM_PIECE))
    stream = size / (time.perf_counter() - started) / 1e6
    offsets = [random.randrange(0, size - RANGE) for _ in range(REQUESTS)]
    started = time.perf_counter()
    for offset in offsets:
        await get(offset, offset + RANGE)
    one = REQUESTS / (time.perf_counter() - started)
    semaphore = asyncio.Semaphore(16)

    async def limited(offset: int) -> bytes:
        async with semaphore:
            return await get(offset, offset + RANGE)

    started, cpu = time.perf_counter(), cpu_s()
    await asyncio.gather(*(limited(o) for o in offsets))
    sixteen = REQUESTS / (time.perf_counter() - started)
    report(name, stream, one, sixteen, (cpu_s() - cpu) / REQUESTS * 1e6)


async def measure_obstore_async(endpoint: str, bucket: str, size: int, etag: str) -> None:
    store = S3Store(bucket, endpoint=endpoint, region="us-east-1", client_options={"allow_http": True})

    async def get(start: int, stop: int) -> memoryview:
        result = await obstore.get_async(store, KEY, options={"range": (start, stop), "if_match": etag})
        return memoryview(await result.bytes_async())  # as streamer keeps it: no copy into bytes

    await measure_async("obstore async", get, size)


async def measure_aiobotocore(endpoint: str, bucket: str, size: int, etag: str) -> None:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(max_pool_connections=32, s3={"addressing_style": "path"})
    async with get_session().create_client("s3", endpoint_url=endpoint, region_name="us-east-1", config=config) as s3:
        async def get(start: int, stop: int) -> bytes:
            answer = await s3.get_object(Bucket=bucket, Key=KEY, Range=f"bytes={start}-{stop - 1}", IfMatch=etag)
            async with answer["Body"] as body:
                return await body.read()

        await measure_async("aiobotocore", get, size)


def main() -> None:
    endpoint, bucket = sys.argv[1], sys.argv[2]
    size = int(sys.argv[3] if len(sys.argv) > 3 else 256) << 20
    store = S3Store(bucket, endpoint=endpoint, region="us-east-1", client_options={"allow_http": True})
    obstore.put(store, KEY, os.urandom(size))
    etag = obstore.head(store, KEY)["e_tag"]
    for name, make in (("obstore", obstore_client), ("httpx+sigv4", httpx_client)):
        get, close = make(endpoint, bucket)
        try:
            measure_sync(name, get, size, etag)
        finally:
            close()
    asyncio.run(measure_obstore_async(endpoint, bucket, size, etag))
    asyncio.run(measure_aiobotocore(endpoint, bucket, size, etag))


if __name__ == "__main__":
    main()
