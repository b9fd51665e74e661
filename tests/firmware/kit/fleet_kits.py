"""A gateway with firmware releases and kits on fake boards, for the fleet update tests.

Each kit is the deployed firmware (``lokaalmeten deploy``'s build for this machine) in its
own flash folder, run by a fake board (tests/kit_tools/fake_kit.py): boot.py and main.py at
every power-on or reset, as an ESP32 does, so an update's reset is a new interpreter that
loads the new slot, and a power cut is the interpreter killed wherever it was. The gateway
is the real one in a thread, with its HTTP ingest serving the releases; the broker is the
real Mosquitto. Releases are built for this machine (``x64``) and signed by a test key.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lokaalmeten.gateway.directory import Directory, KitEntry
from lokaalmeten.gateway.fleet import Pause, RolloutFile
from lokaalmeten.gateway.fleet_actions import Choice, offer_release, open_fleet
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.kit_tools.deploy import DeployPlan, prepare
from lokaalmeten.kit_tools.release import make_release, public_key
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.simulate import firmware_dir
from lokaalmeten.store import ReadingQuery, SQLiteStore
from tests.gateway.harness import RunningGateway, settings_for
from tests.kit_tools.fake_kit import FakeKit
from tests.kit_tools.test_deploy import HOST_MARCH

KIT_HEAP = "256k"


def broken_firmware(folder: Path, how: str) -> Path:
    """A copy of the firmware that fails as ``how`` says: ``crash`` (every boot, before its
    first record), ``import`` (kit.runtime does not import), ``silent`` (never publishes)."""
    shutil.copytree(firmware_dir(), folder, ignore=shutil.ignore_patterns("__pycache__"))
    runtime = folder / "kit" / "runtime.py"
    text = runtime.read_text()
    if how == "crash":
        text = text.replace(
            "        tb = self.tb\n        now = tb.now_ms()\n        start = now\n",
            '        raise RuntimeError("broken on purpose")\n        tb = self.tb\n',
            1,
        )
    elif how == "import":
        text = text.replace("import gc\n", "import gc\nimport no_such_module\n", 1)
    elif how == "silent":
        link = folder / "kit" / "link.py"
        never = "            break  # broken on purpose\n            payload = item[1]\n"
        link.write_text(link.read_text().replace("            payload = item[1]\n", never, 1))
    assert text != runtime.read_text() or how == "silent"
    runtime.write_text(text)
    return folder


@dataclass
class Releases:
    folder: Path
    key: Ed25519PrivateKey

    @property
    def public(self) -> str:
        return public_key(self.key).hex()

    def make(self, version: str, source: Path | None = None) -> Path:
        made = make_release(
            source or firmware_dir(), version, self.folder, self.key, marches=("x64",)
        )
        return made.folders["x64"]


class Fleet:
    """The gateway, its releases and its kits; ``kit(n)`` makes and starts a kit."""

    def __init__(self, broker: Mosquitto, work: Path, micropython: str) -> None:
        self.broker = broker
        self.work = work
        self.micropython = micropython
        self.releases = Releases(work / "releases", Ed25519PrivateKey.generate())
        self.settings = settings_for(
            broker,
            work,
            ingest_port=free_port(),
            ingest_host="127.0.0.1",
            releases=str(work / "releases"),
            rollout=str(work / "fleet" / "rollout.json"),
            batch_wait=0.05,
        )
        self.gateway = RunningGateway(Gateway(self.settings))
        self.boards: dict[str, FakeKit] = {}
        self.flashes: dict[str, Path] = {}
        self._deployed = self._deploy_once()

    def _deploy_once(self) -> Path:
        plan = DeployPlan(
            port="-",
            node="template",
            gateway_host="127.0.0.1",
            gateway_port=self.broker.port,
            sensors=["bme280"],
            release_key=self.releases.public,
        )
        build = self.work / "deployed"
        prepare(plan, build, HOST_MARCH)
        return build

    def flash(self, node: str) -> Path:
        flash = self.work / "kits" / node
        shutil.copytree(self._deployed, flash)
        config = json.loads((flash / "config.json").read_text())
        config.update(
            node=node, interval_s=1, sample_s=1, watchdog_s=20, wifi_ssid="sim-wifi",
            wifi_password="simulated", portal_dns=False,
        )  # fmt: skip
        (flash / "config.json").write_text(json.dumps(config))
        self.flashes[node] = flash
        return flash

    def start(self, node: str) -> FakeKit:
        flash = self.flashes.get(node) or self.flash(node)
        board = FakeKit(self.micropython, flash, heap=KIT_HEAP, board=True)
        board.__enter__()
        # Nobody reads the kit's serial line: drain it, or a full pty would stop the kit.
        threading.Thread(target=_drain, args=(board.port,), daemon=True).start()
        self.boards[node] = board
        return board

    def offer(
        self, version: str, *nodes: str, canary: str | None = None, all_kits: bool = False
    ) -> list[str]:
        """As ``lokaalmeten fleet rollout`` does: to these kits, canaries, or all the rest."""
        fleet = open_fleet(self.settings)
        try:
            choice = Choice(canary=canary, all_kits=all_kits, nodes=nodes)
            return offer_release(fleet, version, choice, force=bool(nodes)).chosen
        finally:
            fleet.close()

    def paused(self) -> Pause | None:
        rollout = RolloutFile(Path(self.settings.rollout)).current()
        return None if rollout is None else rollout.paused

    def entries(self) -> dict[str, KitEntry]:
        directory = Directory(Path(self.settings.registry))
        try:
            return dict(directory.entries())
        finally:
            directory.close()

    def counters(self, node: str) -> dict[str, Any]:
        entry = self.entries().get(node)
        if entry is None or entry.status is None:
            return {}
        return {"fw": entry.firmware, "state": entry.status.state, **entry.status.counters}

    def record_times(self, node: str) -> set[int]:
        store = SQLiteStore(self.work / "lm.db", read_only=True)
        try:
            readings = store.readings(ReadingQuery(0, 2**40, 10**7))
        finally:
            store.close()
        return {r.time for r in readings if r.node == node}

    def close(self) -> None:
        for board in self.boards.values():
            with contextlib.suppress(Exception):
                board.__exit__(None, None, None)
        self.gateway.stop()


def _drain(port: str) -> None:
    try:
        fd = os.open(port, os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return
    with contextlib.suppress(OSError):
        while os.read(fd, 4096):
            pass
    os.close(fd)


def slot(flash: Path) -> list[str]:
    """slot.txt's fields (slots.py), [] before any update."""
    try:
        return (flash / "slot.txt").read_text().split()
    except FileNotFoundError:
        return []


def update_note(flash: Path) -> list[str]:
    """update.txt: state, version, serial, attempts, reason words."""
    try:
        return (flash / "update.txt").read_text().split()
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def fleet_of(broker: Mosquitto, work: Path, micropython: str) -> Iterator[Fleet]:
    fleet = Fleet(broker, work, micropython)
    try:
        yield fleet
    finally:
        fleet.close()
