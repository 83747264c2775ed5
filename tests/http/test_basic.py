from __future__ import annotations

import httpx

from tests.conftest import BIG_SIZE, ServerThread


def test_full_download_is_exact(server: ServerThread, client: httpx.Client, media_root) -> None:
    response = client.get("/media/big.bin")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(BIG_SIZE)
    assert response.content == (media_root / "big.bin").read_bytes()
