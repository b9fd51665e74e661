"""`make test` without Mosquitto or InfluxDB skips their tests and says so in one loud line,
also when the suite runs on parallel workers; CI (LM_REQUIRE_SERVICES=1) fails them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

MISSING = """
from tests.conftest import _unavailable


def test_one() -> None:
    _unavailable("fakeprog", "apt-get install fakeprog")


def test_two() -> None:
    _unavailable("fakeprog", "apt-get install fakeprog")
"""


def _run(folder: Path, required: str, *options: str) -> subprocess.CompletedProcess[str]:
    (folder / "test_missing.py").write_text(MISSING)
    env = os.environ | {"LM_REQUIRE_SERVICES": required, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "--rootdir", str(folder),
         "-p", "no:cacheprovider", *options, str(folder / "test_missing.py")],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two workers"])
def test_a_missing_program_is_one_loud_line(tmp_path: Path, workers: list[str]) -> None:
    done = _run(tmp_path, "", *workers)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SKIPPED FOR MISSING PROGRAMS: fakeprog (2 tests)" in done.stdout


def test_ci_fails_instead(tmp_path: Path) -> None:
    done = _run(tmp_path, "1")
    assert done.returncode == 1
    assert "fakeprog is required (LM_REQUIRE_SERVICES=1) but missing" in done.stdout
