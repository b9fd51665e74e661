"""Fleet firmware updates on the kit, under the real MicroPython on fake boards, with the real
gateway (its rollout and HTTP downloads) and the real Mosquitto (docs/fleet.md).

Each kit is deployed firmware in a flash folder; a reset is a new interpreter, as on an
ESP32, so the release a kit switches to is the code it then runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from lokaalmeten.gateway.fleet_actions import FleetError
from lokaalmeten.services.mosquitto import Mosquitto
from tests.firmware.kit.fleet_kits import Fleet, broken_firmware, fleet_of, slot, update_note
from tests.helpers import wait_until

pytestmark = [pytest.mark.micropython, pytest.mark.mosquitto]


def _noted(flash: Path, state: str) -> bool:
    return update_note(flash)[:1] == [state]


def _committed(flash: Path, version: str) -> bool:
    return slot(flash)[1:4] == [version, "-", "ok"]


def _reports(fleet: Fleet, node: str, update: str) -> bool:
    counters = fleet.counters(node)
    return counters.get("update") == update and counters.get("state") == "online"


def _recorded(fleet: Fleet, node: str, more_than: int) -> bool:
    return len(fleet.record_times(node)) > more_than


def _all(fleet: Fleet, nodes: list[str], what: str, check: Callable[[str], bool]) -> None:
    wait_until(lambda: all(check(n) for n in nodes), 120, what)


def _all_online(fleet: Fleet, nodes: list[str]) -> None:
    _all(fleet, nodes, "every kit online", lambda n: fleet.counters(n).get("state") == "online")


def _delivered(fleet: Fleet, node: str) -> bool:
    """Every record the kit made, by its latest status, is in the store; none dropped."""
    counters = fleet.counters(node)
    return (
        counters.get("queued") == 0
        and counters.get("dropped") == 0
        and len(fleet.record_times(node)) >= int(counters.get("seq") or 1)
    )


def test_twenty_kits_are_updated_in_stages_and_every_record_is_delivered(
    mosquitto: Mosquitto, tmp_path: Path, micropython: str
) -> None:
    with fleet_of(mosquitto, tmp_path, micropython) as fleet:
        fleet.releases.make("0.3.0")
        nodes = [f"kit-{n:02d}" for n in range(1, 21)]
        for node in nodes:
            fleet.start(node)
        _all_online(fleet, nodes)
        canaries = fleet.offer("0.3.0", canary="20%")
        assert len(canaries) == 4
        _all(
            fleet, canaries, "the canaries healthy", lambda n: slot(fleet.flashes[n])[3:4] == ["ok"]
        )
        rest = [n for n in nodes if n not in canaries]
        # Only the canaries were offered it: the others still run what they were deployed with.
        assert all(slot(fleet.flashes[n]) == [] and not update_note(fleet.flashes[n]) for n in rest)
        _all(
            fleet,
            canaries,
            "the canaries' healthy status at the gateway",
            lambda n: fleet.counters(n).get("update") == "healthy",
        )
        assert sorted(fleet.offer("0.3.0", all_kits=True)) == rest
        _all(
            fleet,
            nodes,
            "every kit on 0.3.0",
            lambda n: slot(fleet.flashes[n])[1:4] == ["0.3.0", "-", "ok"],
        )
        _all(
            fleet,
            nodes,
            "every kit's healthy status",
            lambda n: (
                fleet.counters(n).get("fw") == "0.3.0"
                and fleet.counters(n).get("update") == "healthy"
            ),
        )
        for node in nodes:
            flash = fleet.flashes[node]
            assert update_note(flash)[:2] == ["healthy", "0.3.0"]
            assert [p.name for p in (flash / "releases").iterdir()] == ["0.3.0"]
        _all(fleet, nodes, "every record in the store", lambda n: _delivered(fleet, n))


def test_a_release_that_crashes_on_boot_rolls_back_every_canary_and_the_rollout_pauses(
    mosquitto: Mosquitto, tmp_path: Path, micropython: str
) -> None:
    with fleet_of(mosquitto, tmp_path, micropython) as fleet:
        fleet.releases.make("0.3.1", broken_firmware(tmp_path / "broken", "crash"))
        nodes = [f"kit-{n}" for n in range(1, 9)]
        for node in nodes:
            fleet.start(node)
        _all_online(fleet, nodes)
        canaries = fleet.offer("0.3.1", canary="3")
        _all(
            fleet,
            canaries,
            "every canary rolled back",
            lambda n: update_note(fleet.flashes[n])[:1] == ["rolled_back"],
        )
        for node in canaries:
            flash = fleet.flashes[node]
            assert slot(flash) == ["v1", "-", "-", "ok", "0"]
            assert " ".join(update_note(flash)[4:]) == "not healthy within 3 boots"
            assert not (flash / "releases" / "0.3.1").exists()
        wait_until(lambda: fleet.paused() is not None, 60, "the health gate to pause the rollout")
        pause = fleet.paused()
        assert pause is not None and pause.by == "gate"
        # It paused at the first rollback (1 of 3 is more than 20 %), naming the kit and why.
        assert "of 3 kits offered 0.3.1 failed" in pause.reason
        assert "rolled_back: not healthy within 3 boots" in pause.reason
        with pytest.raises(FleetError, match="paused"):
            fleet.offer("0.3.1", all_kits=True)
        rest = [n for n in nodes if n not in canaries]
        assert all(not update_note(fleet.flashes[n]) for n in rest)
        # The canaries measure again on the firmware they had, and say why at the gateway.
        _all(
            fleet,
            canaries,
            "the canaries' statuses",
            lambda n: (
                fleet.counters(n).get("update") == "rolled_back"
                and fleet.counters(n).get("fw") == "0.2.0"
            ),
        )
        _all(fleet, nodes, "every record in the store", lambda n: _delivered(fleet, n))


def test_a_release_that_does_not_import_or_never_publishes_is_rolled_back(
    mosquitto: Mosquitto, tmp_path: Path, micropython: str
) -> None:
    """Two broken releases, each offered to its own kit; the second rollout starts once the
    first kit is on trial (a rollout replaced leaves a kit that switched where it is)."""
    reasons = {
        "import": "ImportError: no module named 'no_such_module'",
        "silent": "no publish in 10 cycles",
    }
    with fleet_of(mosquitto, tmp_path, micropython) as fleet:
        nodes = {"import": "kit-1", "silent": "kit-2"}
        for n, how in enumerate(nodes):
            fleet.releases.make(f"0.3.{n + 1}", broken_firmware(tmp_path / how, how))
            fleet.start(nodes[how])
        _all_online(fleet, list(nodes.values()))
        fleet.offer("0.3.2", nodes["silent"])
        wait_until(partial(_noted, fleet.flashes[nodes["silent"]], "trial"), 60, "the trial")
        fleet.offer("0.3.1", nodes["import"])
        for how, node in nodes.items():
            flash = fleet.flashes[node]
            wait_until(partial(_noted, flash, "rolled_back"), 90, f"{node}'s rollback")
            assert " ".join(update_note(flash)[4:]) == reasons[how]
            assert slot(flash) == ["v1", "-", "-", "ok", "0"]
        _all(
            fleet, list(nodes.values()), "every record in the store", lambda n: _delivered(fleet, n)
        )


def _tamper(build: Path) -> None:
    target = build / "kit" / "sampler.mpy"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))


def _sign_with_another_key(build: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    manifest = (build / "manifest.json").read_bytes()
    (build / "manifest.sig").write_bytes(Ed25519PrivateKey.generate().sign(manifest))


def _truncate(build: Path) -> None:
    target = build / "kit" / "runtime.mpy"
    target.write_bytes(target.read_bytes()[:-100])


SPOILT = {"0.3.1": _tamper, "0.3.2": _sign_with_another_key, "0.3.3": _truncate}
REASONS = {
    "0.3.1": "kit/sampler.mpy is not the file the release was made with",
    "0.3.2": "the manifest's signature is not the release key's",
    "0.3.3": "kit/runtime.mpy has",
}


def test_a_spoilt_release_is_refused_and_the_kit_keeps_its_firmware(
    mosquitto: Mosquitto, tmp_path: Path, micropython: str
) -> None:
    """A tampered file, a manifest signed by another key and a truncated file, each offered
    to its own kit in turn."""
    with fleet_of(mosquitto, tmp_path, micropython) as fleet:
        nodes = {version: f"kit-{version[-1]}" for version in SPOILT}
        for version, spoil in SPOILT.items():
            spoil(fleet.releases.make(version))
            fleet.start(nodes[version])
        _all_online(fleet, list(nodes.values()))
        for version, node in nodes.items():
            fleet.offer(version, node)
            flash = fleet.flashes[node]
            wait_until(partial(_noted, flash, "refused"), 60, f"{node} to refuse")
            assert " ".join(update_note(flash)[4:]).startswith(REASONS[version])
            assert slot(flash) == []  # never switched: the deployed firmware runs
            assert not list((flash / "releases").iterdir())  # nothing of the release is kept
        for version, node in nodes.items():
            wait_until(partial(_reports, fleet, node, "refused"), 30, f"{node}'s status")
            counters = fleet.counters(node)
            assert counters["fw"] == "0.2.0"
            assert counters["update_reason"].startswith(REASONS[version][:40])
        # They measure and publish again, and do not take the same offer again.
        more = {node: len(fleet.record_times(node)) + 2 for node in nodes.values()}
        _all(fleet, list(nodes.values()), "records", lambda n: _recorded(fleet, n, more[n]))
        assert all(update_note(fleet.flashes[n])[:1] == ["refused"] for n in nodes.values())


def _half(build: Path, part: Path) -> None:
    """What a download cut off in the middle leaves: some files, one of them in half."""
    files = sorted(p for p in build.rglob("*.mpy"))
    for source in files[: len(files) // 2]:
        target = part / source.relative_to(build)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    cut = files[len(files) // 2]
    target = part / cut.relative_to(build)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    for name in ("manifest.json", "manifest.sig"):
        (part / name).write_bytes((build / name).read_bytes())


def _cut_at(step: str, build: Path, flash: Path, port: int) -> None:
    """The flash as a power cut at ``step`` of an update to 0.3.0 leaves it:
    every step is one file written or renamed, so these are all the states there are."""
    releases = flash / "releases"
    releases.mkdir(exist_ok=True)
    note = {"offer-taken": "offered 0.3.0 1 0 \n"}.get(step, "downloading 0.3.0 1 1 \n")
    if step == "offer-taken":
        (flash / "offer.json").write_text(
            f'{{"version": "0.3.0", "port": {port}, "path": "/fleet/0.3.0/", "serial": 1}}'
        )
    elif step == "mid-download":
        _half(build, releases / ".0.3.0")
    elif step == "downloaded":
        shutil.copytree(build, releases / ".0.3.0")
    elif step == "renamed":
        shutil.copytree(build, releases / "0.3.0")
    else:
        shutil.copytree(build, releases / "0.3.0")
        note = "trial 0.3.0 1 1 \n"
        pointer = {"half-switched": "slot.txt.new", "switched": "slot.txt"}
        boots = {"trial-boot-2": "2"}.get(step, "0")
        (flash / pointer.get(step, "slot.txt")).write_text(f"v1 0.3.0 - trial {boots}\n")
    (flash / "update.txt").write_text(note)


STEPS = ("offer-taken", "mid-download", "downloaded", "renamed", "half-switched", "switched",
         "trial-boot-2")  # fmt: skip


def test_a_power_cut_at_any_step_of_the_switch_leaves_a_kit_that_boots_and_updates(
    mosquitto: Mosquitto, tmp_path: Path, micropython: str
) -> None:
    """One kit for each state a power cut can leave: every step is one file written or
    renamed, so these are all the states there are."""
    with fleet_of(mosquitto, tmp_path, micropython) as fleet:
        build = fleet.releases.make("0.3.0")
        nodes = {step: f"kit-{n}" for n, step in enumerate(STEPS)}
        killed = "kit-killed"  # and one whose power is really cut while it downloads
        for node in [*nodes.values(), killed]:
            fleet.start(node)
        _all_online(fleet, [*nodes.values(), killed])
        for step, node in nodes.items():
            fleet.boards.pop(node).__exit__(None, None, None)  # the power is off
            _cut_at(step, build, fleet.flashes[node], fleet.settings.ingest_port)
        fleet.offer("0.3.0", *nodes.values(), killed)  # the offer the cut update was taking
        wait_until(partial(_noted, fleet.flashes[killed], "downloading"), 30, "the download")
        fleet.boards[killed].power_cut()
        for node in nodes.values():
            fleet.start(node)
        nodes["killed while downloading"] = killed
        for step, node in nodes.items():
            flash = fleet.flashes[node]
            wait_until(
                partial(_committed, flash, "0.3.0"),
                90,
                f"0.3.0 committed after a cut at {step}",
            )
            assert not (flash / "offer.json").exists()
            assert [p.name for p in (flash / "releases").iterdir()] == ["0.3.0"]
        # Bootable, measuring and sending on the new release.
        _all(
            fleet, list(nodes.values()), "every record in the store", lambda n: _delivered(fleet, n)
        )
