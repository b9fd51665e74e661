"""`lokaalmeten simulate`: kits from the firmware under MicroPython, each with its own flash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lokaalmeten.services.mosquitto import Mosquitto


def lm(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lokaalmeten", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.mark.micropython
@pytest.mark.mosquitto
def test_fast_kits_publish_their_cycles_and_report_the_lowest_free_heap(
    mosquitto: Mosquitto, micropython: str, tmp_path: Path
) -> None:
    out = lm(
        "simulate", "--kits", "2", "--cycles", "20", "--fast", "--interval", "145",
        "--broker", mosquitto.url, "--prefix", "fast", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "fast-1: 20 records published, min free heap" in out.stdout
    assert "fast-2: 20 records published" in out.stdout
    assert "minimum free heap seen:" in out.stdout and "(heap 160k per kit)" in out.stdout
    flash = tmp_path / "var" / "sim" / "fast-1"
    config = json.loads((flash / "config.json").read_text())
    assert config["node"] == "fast-1" and config["interval_s"] == 145
    assert config["gateway_port"] == mosquitto.port
    # Everything was acknowledged, so the outbox holds no unsent record; numbering goes on.
    head = (flash / "outbox" / "head").read_text().split()
    assert int(head[3]) == 20  # last seq
    again = lm(
        "simulate", "--kits", "1", "--cycles", "2", "--fast", "--broker", mosquitto.url,
        "--prefix", "fast", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (flash / "outbox" / "head").read_text().split()[3] == "22"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--heap", "lots"], "--heap must be a size such as 64k"),
        (["--sensors", "real"], "--sensors must be sim or drivers"),
        (["--kits", "0"], "kits"),
        (["--folder", "/proc/lm-kits", "--cycles", "1"], "cannot use /proc/lm-kits"),
    ],
)
def test_bad_simulate_options_get_a_message_not_a_traceback(
    args: list[str], message: str, tmp_path: Path
) -> None:
    out = lm("simulate", *args, cwd=tmp_path, timeout=30)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stdout + out.stderr
