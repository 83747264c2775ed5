"""Access control over HTTP: the library token, signed links and their grace, operator and load routes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from streamer.http.signing import format_link
from streamer.server.keys import load_keys
from streamer.server.settings import Settings
from streamer.web.access import FAILURE_BURST, GRACE_COOKIE, TOKEN_COOKIE
from tests.conftest import ServerThread, settings_for, start_server
from tests.http import wire


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys") / "secret"


def serve(media_root: Path, secret: Path, **overrides: object) -> Iterator[ServerThread]:
    server = start_server(replace(settings_for(media_root, "async"), secret_file=secret, **overrides))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def private(media_root: Path, secret: Path) -> Iterator[ServerThread]:
    yield from serve(media_root, secret, access="token")


@pytest.fixture(scope="module")
def public_open(media_root: Path, secret: Path) -> Iterator[ServerThread]:
    yield from serve(media_root, secret, host="0.0.0.0", access="open")  # a non-loopback policy; still bound to 127.0.0.1


def token(secret: Path) -> str:
    return load_keys(secret).library_token


def signed(secret: Path, scope: str, expires: float) -> str:
    keys = load_keys(secret)
    return format_link(keys.keys[keys.signing], keys.signing, int(expires), scope)


@pytest.mark.parametrize("target", ["/", "/api/media", "/media/small.bin", "/media/no-such-file", "/metrics", "/debug/runtime", "/docs", "/bytes/10"])
def test_token_mode_refuses_everything_without_a_credential(private: ServerThread, target: str) -> None:
    got = wire.get(private.port, target)
    assert got.status == 401 and got.header("www-authenticate") == "Bearer"
    assert "token" in json.loads(got.body)["detail"]  # the same answer whether the file exists or not


def test_healthz_is_always_open(private: ServerThread) -> None:
    assert wire.get(private.port, "/healthz").status == 200


def test_the_printed_address_sets_a_cookie_and_the_page_works(private: ServerThread, secret: Path, small: bytes) -> None:
    with httpx.Client(base_url=private.base_url) as client:
        exchanged = client.get(f"/?token={token(secret)}")
        assert exchanged.status_code == 303 and exchanged.headers["location"] == "/"
        cookie = exchanged.headers["set-cookie"]
        assert cookie.startswith(f"{TOKEN_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert client.get("/").status_code == 200
        assert client.get("/api/media").json()["path"] == ""
        assert client.get("/media/small.bin", headers={"Range": "bytes=0-9"}).content == small[:10]
        assert client.get("/metrics").status_code == 200  # the token opens the operator routes too


def test_bearer_token_works_and_wrong_ones_are_counted_then_limited(media_root: Path, secret: Path) -> None:
    for server in serve(media_root, secret, access="token"):  # its own server: the limit is per client address
        good = [("Authorization", f"Bearer {token(secret)}")]
        bad = [("Authorization", "Bearer wrong")]
        statuses = [wire.get(server.port, "/api/media", bad).status for _ in range(FAILURE_BURST + 2)]
        assert statuses[:FAILURE_BURST] == [401] * FAILURE_BURST and statuses[-1] == 429
        assert wire.get(server.port, "/api/media", bad).header("retry-after")
        link = signed(secret, "small.bin", time.time() + 600)
        assert wire.get(server.port, f"/s/{link}/media/small.bin").status == 429  # no MAC is computed for it now
        assert wire.get(server.port, "/api/media", good).status == 200  # the right token still works: no lockout
        metrics = wire.get(server.port, "/metrics", good).body.decode()
        assert f'streamer_access_refusals_total{{reason="bad-token"}} {FAILURE_BURST}.0' in metrics


def test_a_signed_file_link_plays_with_range_and_head(private: ServerThread, secret: Path, small: bytes) -> None:
    link = signed(secret, "small.bin", time.time() + 600)
    whole = wire.get(private.port, f"/s/{link}/media/small.bin")
    assert whole.status == 200 and whole.body == small
    assert whole.header("set-cookie").startswith(f"{GRACE_COOKIE}=")
    assert f"Path=/s/{link}/" in whole.header("set-cookie")
    part = wire.get(private.port, f"/s/{link}/media/small.bin", [("Range", "bytes=100-199")])
    assert part.status == 206 and part.body == small[100:200]
    head = wire.request(private.port, "HEAD", f"/s/{link}/media/small.bin")
    assert head.status == 200 and head.body == b"" and head.header("content-length") == str(len(small))
    assert wire.get(private.port, f"/s/{link}/media/big.bin").status == 403
    assert wire.get(private.port, f"/s/{link}/metrics").status == 403


def test_a_signed_folder_link_browses_that_folder_only(private: ServerThread, secret: Path) -> None:
    link = signed(secret, "sub/", time.time() + 600)
    listing = wire.get(private.port, f"/s/{link}/api/media?path=sub")
    assert listing.status == 200
    entries = json.loads(listing.body)["entries"]
    assert [e["name"] for e in entries] == ["nested.webm"]
    assert wire.get(private.port, f"/s/{link}/media/sub/nested.webm").status == 200
    assert wire.get(private.port, f"/s/{link}/").status == 200  # the page itself
    assert wire.get(private.port, f"/s/{link}/api/media?path=").status == 403
    assert wire.get(private.port, f"/s/{link}/media/small.bin").status == 403


def test_an_expired_link_keeps_a_player_under_way_and_refuses_a_new_visitor(private: ServerThread, secret: Path, small: bytes) -> None:
    expires = int(time.time()) + 3  # time enough for the first request even on a busy machine
    link = signed(secret, "small.bin", expires)
    with httpx.Client(base_url=private.base_url) as player:
        assert player.get(f"/s/{link}/media/small.bin", headers={"Range": "bytes=0-1"}).status_code == 206
        time.sleep(expires - time.time() + 1.1)
        seek = player.get(f"/s/{link}/media/small.bin", headers={"Range": "bytes=500-599"})
        assert seek.status_code == 206 and seek.content == small[500:600]
    late = wire.get(private.port, f"/s/{link}/media/small.bin")
    assert late.status == 410 and json.loads(late.body)["detail"] == "This link has expired."


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), id="tampered"),
        pytest.param(lambda t: t.split(".", 1)[1], id="truncated"),
        pytest.param(lambda t: "k1." + t, id="extended"),
    ],
)
def test_bad_links_are_403_whether_or_not_the_file_exists(private: ServerThread, secret: Path, mangle) -> None:
    link = mangle(signed(secret, "small.bin", time.time() + 600))
    assert wire.get(private.port, f"/s/{link}/media/small.bin").status == 403
    assert wire.get(private.port, f"/s/{link}/media/missing.bin").status == 403


def test_open_on_a_public_address_keeps_operator_and_load_routes_closed(public_open: ServerThread, secret: Path) -> None:
    assert wire.get(public_open.port, "/media/small.bin").status == 200
    assert wire.get(public_open.port, "/api/media").status == 200
    assert wire.get(public_open.port, "/metrics").status == 401
    bearer = [("Authorization", f"Bearer {token(secret)}")]
    assert wire.get(public_open.port, "/metrics", bearer).status == 200
    assert wire.get(public_open.port, "/bytes/10", bearer).status == 404  # off unless --load-testing on


@pytest.mark.parametrize(
    ("settings", "mode", "load"),
    [
        pytest.param({"host": "127.0.0.1"}, "open", True, id="loopback-open-with-load-routes"),
        pytest.param({"host": "::1"}, "open", True, id="ipv6-loopback"),
        pytest.param({"host": "localhost"}, "open", True, id="localhost"),
        pytest.param({"host": "0.0.0.0"}, "token", False, id="any-address-token-no-load-routes"),
        pytest.param({"host": "192.168.1.5", "access": "open"}, "open", False, id="lan-open-by-choice"),
        pytest.param({"host": "0.0.0.0", "load_testing": "on"}, "token", True, id="load-routes-by-choice"),
        pytest.param({"host": "127.0.0.1", "access": "token", "load_testing": "off"}, "token", False, id="loopback-locked-down"),
    ],
)
def test_defaults_follow_the_bind_address(media_root: Path, settings: dict[str, str], mode: str, load: bool) -> None:
    chosen = Settings(media_dir=media_root, **settings)  # type: ignore[arg-type]
    assert (chosen.access_mode, chosen.load_testing_on) == (mode, load)
    assert Settings(media_dir=media_root).cors_origins == ()  # CORS is off unless origins are named


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    import concurrent.futures

    path = tmp_path / "config" / "secret"
    barrier = threading.Barrier(8)

    def start() -> str:
        barrier.wait()  # as workers of one server do, all at once
        return load_keys(path).library_token

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        tokens = {future.result() for future in [pool.submit(start) for _ in range(8)]}
    assert len(tokens) == 1
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in path.parent.iterdir()] == ["secret"]  # no temporary file left behind
