"""``python -m bench --smoke`` runs the whole comparison from nothing and reports every scenario.

One smoke run (about 40 s) is shared by the module: exit code, a figure above
zero for both streamer forms in every scenario a..h, nginx in the results when
it is installed, and a real PNG chart. wrk's output parsing gets a table first.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.load import LoadError, parse_duration_ms, parse_size_bytes, parse_wrk
from tests.conftest import REPO, require_program

SMOKE_TIMEOUT_S = 180
SCENARIOS = tuple("abcdefgh")
STREAMER_FORMS = ("streamer-async", "streamer-sync")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


WRK_OUTPUT = """\
Running 6s test @ http://127.0.0.1:8080/media/1GiB.bin
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    95.31ms   12.02ms   1.20s    91.02%
    Req/Sec   671.53     41.27   757.00     72.00%
  Latency Distribution
     50%   93.99ms
     75%   98.12ms
     90%  104.50ms
     99%  150.20ms
  4012 requests in 6.01s, 1.00GB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:    667.55
Transfer/sec:    170.54MB
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1.23GB", 1.23 * 1024**3, id="gigabytes-are-binary"),
        pytest.param("512.00KB", 512 * 1024, id="kilobytes"),
        pytest.param("170.54MB", 170.54 * 1024**2, id="megabytes"),
        pytest.param("981B", 981, id="bytes"),
    ],
)
def test_parse_size_bytes(text: str, expected: float) -> None:
    assert parse_size_bytes(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2.05ms", 2.05, id="milliseconds"),
        pytest.param("812.00us", 0.812, id="microseconds"),
        pytest.param("1.2s", 1200, id="seconds"),
        pytest.param("1.00m", 60_000, id="minutes"),
    ],
)
def test_parse_duration_ms(text: str, expected: float) -> None:
    assert parse_duration_ms(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["1.2 parsecs", "GB", "-1ms", ""])
def test_parse_rejects_what_wrk_never_prints(text: str) -> None:
    with pytest.raises(LoadError):
        parse_duration_ms(text)
    with pytest.raises(LoadError):
        parse_size_bytes(text)


def test_parse_wrk_reads_every_figure() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert (result.requests, result.requests_per_s, result.socket_errors, result.non_2xx_3xx) == (4012, 667.55, 3, 5)
    assert result.bytes_read == pytest.approx(1024**3)
    assert result.transfer_Bps == pytest.approx(170.54 * 1024**2)
    assert (result.p50_ms, result.p99_ms, result.max_ms) == pytest.approx((93.99, 150.2, 1200))


def test_parse_wrk_without_latency_distribution() -> None:
    text = "\n".join(line for line in WRK_OUTPUT.splitlines() if "%  " not in line or "Latency" in line)
    result = parse_wrk(text)
    assert result.p50_ms is None and result.p99_ms is None and result.requests == 4012


@dataclass(frozen=True)
class SmokeRun:
    returncode: int
    stdout: str
    stderr: str
    out: Path

    def results(self) -> dict[str, Any]:
        return dict(json.loads((self.out / "latest.json").read_text()))


def require_module(name: str, extra: str) -> None:
    """Skip when a Python package is missing, except in CI, where that is a failure."""
    if importlib.util.find_spec(name) is None:
        message = f"{name} is not installed (pip install -e '.[{extra}]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    require_program("wrk", "Debian package wrk")
    require_program("curl", "Debian package curl")
    require_module("matplotlib", "bench")
    out, data = tmp_path_factory.mktemp("bench-out"), tmp_path_factory.mktemp("bench-data")
    command = [sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--data-dir", str(data)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S, check=False)
    return SmokeRun(done.returncode, done.stdout, done.stderr, out)


def test_smoke_run_succeeds(smoke: SmokeRun) -> None:
    assert smoke.returncode == 0, smoke.stderr[-4000:]


@pytest.mark.parametrize("system", STREAMER_FORMS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_has_figures_for_streamer(smoke: SmokeRun, scenario: str, system: str) -> None:
    entry = smoke.results()["scenarios"][scenario]["systems"][system]
    if scenario == "h" and "404" in entry.get("na", ""):
        pytest.skip(f"streamer has no /stream-bytes yet: {entry['na']}")
    assert entry["metrics"], entry
    assert "error" not in entry, entry["error"]
    for key, figure in entry["metrics"].items():
        assert figure["median"] > 0, f"({scenario}) {system} {key}: {figure}"


def test_nginx_is_in_the_results_when_installed(smoke: SmokeRun) -> None:
    results = smoke.results()
    if shutil.which("nginx") is None:
        assert "nginx" in results["unavailable"]
        assert results["reference"] is None
        return
    assert results["reference"] == "nginx"
    for scenario in "abcdefg":
        figures = results["scenarios"][scenario]["systems"]["nginx"]["metrics"]
        assert figures and all(f["median"] > 0 and f["ratio"] in (1.0, None) for f in figures.values()), scenario


def test_targets_are_judged_for_both_forms(smoke: SmokeRun) -> None:
    verdicts = smoke.results()["targets"]
    assert {v["system"] for v in verdicts} == set(STREAMER_FORMS)
    assert all(v["met"] in (True, False) for v in verdicts if shutil.which("nginx") or v["target"][1] in "ef")


def test_markdown_and_chart_are_written(smoke: SmokeRun) -> None:
    table = (smoke.out / "latest.md").read_text()
    assert "| scenario | metric |" in table and "## Targets for streamer" in table
    assert (smoke.out / "latest.png").read_bytes().startswith(PNG_SIGNATURE)
    stamped = {path.suffix for path in smoke.out.iterdir() if not path.name.startswith("latest")}
    assert stamped == {".json", ".md", ".png"}
