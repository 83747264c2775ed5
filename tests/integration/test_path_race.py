"""The path walk is race-free: a folder swapped for a symlink to outside, in a tight loop, never leaks a byte.

One thread swaps ``root/d`` between a real folder and a symlink to a folder outside the
root while requests for ``d/f.bin`` run. Each answer is the inside file or "not found":
never the outside file. Both ways of opening are tried (``openat2``, and the ``openat``
walk used where the kernel lacks it), directly and over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamer import Settings
from streamer.sources import file as file_module
from streamer.sources.file import open_file_source
from tests.conftest import start_server

INSIDE = b"inside the root " * 64
OUTSIDE = b"OUTSIDE-SECRET! " * 64
CALLS = 4000
REQUESTS = 600


SWAP = """
import os, sys, time
folder, parked, outside = sys.argv[1] + "/d", sys.argv[1] + "/d.parked", sys.argv[2]
swaps = 0
while True:
    os.rename(folder, parked)
    os.symlink(outside, folder)
    os.unlink(folder)
    os.rename(parked, folder)
    time.sleep(0.0002)  # the real folder stays a moment, so requests land in every state
    swaps += 1
    if swaps == 100:
        print("swapping", flush=True)
"""


class Swapper:
    """A process that swaps ``root/d`` between the real folder and a symlink to ``outside`` until stopped.

    A process, not a thread: a tight loop in a thread would hold the GIL against the server.
    """

    def __init__(self, root: Path, outside: Path) -> None:
        self.args = [sys.executable, "-c", SWAP, str(root), str(outside)]
        self.root = root

    def __enter__(self) -> Swapper:
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None and self.process.stdout.readline() == "swapping\n"  # under way
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait(5)
        self.process.stdout.close()  # type: ignore[union-attr]
        if not (self.root / "d").is_dir() or (self.root / "d").is_symlink():  # stopped mid-swap: put it back
            if (self.root / "d").is_symlink():
                (self.root / "d").unlink()
            os.rename(self.root / "d.parked", self.root / "d")


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (root / "d" / "f.bin").write_bytes(INSIDE)
    (outside / "f.bin").write_bytes(OUTSIDE)
    return root, outside


@pytest.fixture(params=["openat2", "openat-walk"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "openat-walk":
        monkeypatch.setattr(file_module, "_has_openat2", False)
    yield request.param


def test_direct_opens_never_escape(tree: tuple[Path, Path], way: str) -> None:
    root, outside = tree
    served = refused = 0
    with Swapper(root, outside):
        for _ in range(CALLS):
            try:
                source, st = open_file_source(str(root), ("d", "f.bin"))
            except FileNotFoundError:
                refused += 1
                continue
            try:
                data = source.read_at(0, st.st_size)
            finally:
                source.close()
            assert data == INSIDE
            served += 1
    assert served > 0 and refused > 0, (served, refused)  # both sides of the race were seen
    assert file_module._has_openat2 is (way == "openat2")


def test_requests_never_escape(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    server = start_server(Settings(media_dir=root, io="async", open_files=0))
    statuses: dict[int, int] = {}
    try:
        with httpx.Client(base_url=server.base_url) as client, Swapper(root, outside):
            deadline = time.monotonic() + 5
            for _ in range(REQUESTS):
                response = client.get("/media/d/f.bin")
                assert response.status_code in (200, 404), response.text
                if response.status_code == 200:
                    assert response.content == INSIDE
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if time.monotonic() > deadline:
                    break
    finally:
        server.stop()
    assert statuses.get(200, 0) > 0 and statuses.get(404, 0) > 0, statuses


def test_probes_and_hls_never_read_outside(tmp_path: Path) -> None:
    from fastapi import HTTPException

    from streamer.media.probe import probe_file
    from streamer.web.hls import HlsFiles
    from tests.conftest import REPO

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    album = REPO / "media" / "album"
    (root / "d" / "song.mp3").write_bytes((album / "01 Morning.mp3").read_bytes())
    (outside / "song.mp3").write_bytes((album / "02 Evening.mp3").read_bytes())
    (root / "d" / "v.mkv").write_bytes((REPO / "media" / "series" / "Episode 1.mkv").read_bytes())
    (outside / "v.mkv").write_bytes((REPO / "media" / "bars.webm").read_bytes())
    hls = HlsFiles(root, None)

    def init_of(names: tuple[str, ...]) -> bytes:
        opened = hls.open(names)
        try:
            return hls.make(opened, "init.mp4")
        finally:
            opened.source.close()

    inside_init = init_of(("d", "v.mkv"))
    titles: set[str | None] = set()
    inits: set[bytes] = set()
    with Swapper(root, outside):
        for _ in range(150):
            probed = probe_file(str(root / "d" / "song.mp3"))
            titles.add(probed["tags"]["title"] if probed["ok"] else None)
            try:
                inits.add(init_of(("d", "v.mkv")))
            except HTTPException as exc:
                assert exc.status_code == 404
    hls.close()  # the opened sources it kept for the next segment
    assert "Evening" not in titles and "Morning" in titles, titles
    assert inits <= {inside_init}, "an init segment of the outside file was made"
