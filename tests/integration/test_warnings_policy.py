"""The suite's own guard: an unclosed file anywhere makes the test run fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LEAKY_TEST = '''
import gc


def test_leaks_a_file():
    open(__file__, "rb")  # never closed
    gc.collect()
'''


def test_an_unclosed_file_fails_the_run(tmp_path: Path) -> None:
    leaky = tmp_path / "test_leaky.py"
    leaky.write_text(LEAKY_TEST)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), str(leaky)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout
    assert "ResourceWarning" in result.stdout
