"""`lokaalmeten simulate`: kits from the firmware under MicroPython, each with its own flash."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.simulate import default_heap
from tests.helpers import REPO


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
    assert "minimum free heap seen:" in out.stdout
    assert f"(heap {default_heap('sim')} per kit)" in out.stdout
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
        (["--sensors", "real"], "--sensors must be sim, drivers or sensor types"),
        (["--sensors", "sds011,bmp180"], "not 'sds011,bmp180'"),
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


@pytest.mark.micropython
@pytest.mark.mosquitto
@pytest.mark.parametrize("sensors", ["drivers", "noise", "sds011,bme280", "sps30,scd4x"])
def test_every_sensors_choice_runs_at_its_default_heap(
    sensors: str, mosquitto: Mosquitto, micropython: str, tmp_path: Path
) -> None:
    # Once: `--sensors drivers` died with MemoryError at the one default of 160k.
    out = lm(
        "simulate", "--kits", "1", "--cycles", "3", "--fast", "--sensors", sensors,
        "--broker", mosquitto.url, "--prefix", "heap", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "heap-1: 3 records published" in out.stdout, out.stdout + out.stderr
    assert "MemoryError" not in out.stdout + out.stderr
    assert f"(heap {default_heap(sensors)} per kit)" in out.stdout


@pytest.mark.micropython
@pytest.mark.mosquitto
def test_a_sim_folder_in_the_current_folder_does_not_hide_the_simulator(
    mosquitto: Mosquitto, micropython: str, tmp_path: Path
) -> None:
    # Once: ImportError: no module named 'sim.sensors', from ./sim shadowing firmware/sim.
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "notes.txt").write_text("a user's own folder\n")
    (tmp_path / "kit").mkdir()  # and a "kit" one, the firmware's package name
    out = lm(
        "simulate", "--kits", "1", "--cycles", "2", "--fast", "--broker", mosquitto.url,
        "--prefix", "cwd", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "cwd-1: 2 records published" in out.stdout
    assert "ImportError" not in out.stdout + out.stderr


@pytest.mark.micropython
def test_a_stop_during_the_first_firmware_build_is_not_held_up_by_it(tmp_path: Path) -> None:
    """The first run builds 50-odd .mpy files, one mpy-cross each (seconds, more on a busy
    machine); a SIGTERM then used to wait for the whole build (the demo killed under load
    left its simulator behind for 4-8 s)."""
    simulator = subprocess.Popen(
        [sys.executable, "-m", "lokaalmeten", "simulate", "--kits", "1", "--broker",
         "mqtt://127.0.0.1:9", "--folder", str(tmp_path / "sim")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    firmware = tmp_path / "sim" / ".firmware"
    deadline = time.monotonic() + 30
    while not any(firmware.rglob("*.mpy")):  # the build has begun
        assert time.monotonic() < deadline and simulator.poll() is None, simulator.stderr
        time.sleep(0.02)
    simulator.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    simulator.wait(10)
    assert time.monotonic() - stopped < 1.5
    built = len(list(firmware.rglob("*.mpy")))
    assert 0 < built < len(list((REPO / "firmware").rglob("*.py")))  # it stopped half-way
