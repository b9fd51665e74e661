"""`lokaalmeten demo` (what `make run` starts): readings reach the API; Ctrl-C leaves nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lokaalmeten.services.mosquitto import find_mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.simulate import compile_firmware
from tests.helpers import STORM_EXITS, Storm, in_lanes, signal_storm, wait_until

pytestmark = pytest.mark.micropython


def descendants(pid: int) -> set[int]:
    """Every process whose parent chain leads to ``pid`` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def start_demo(cwd: Path, *options: str, port: int | None = None) -> subprocess.Popen[str]:
    """``lokaalmeten demo`` with its output piped, on ``port`` (else a free one), with
    Mosquitto when it is installed and the embedded broker otherwise."""
    from lokaalmeten.services.mosquitto import find_mosquitto

    if "--embedded-broker" not in options and find_mosquitto() is None:
        options = (*options, "--embedded-broker")
    return subprocess.Popen(
        [sys.executable, "-m", "lokaalmeten", "demo", *options],
        cwd=cwd,
        env={**os.environ, "LM_SERVER_PORT": str(port or free_port())},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize(
    "broker",
    [
        pytest.param("mosquitto", marks=pytest.mark.mosquitto),
        pytest.param("embedded", id="embedded-amqtt"),
    ],
)
def test_demo_serves_readings_and_ctrl_c_stops_every_process(
    micropython: str, broker: str, tmp_path: Path
) -> None:
    from lokaalmeten.services.mosquitto import find_mosquitto

    if broker == "mosquitto" and find_mosquitto() is None:
        from tests.conftest import _unavailable

        _unavailable("mosquitto", "apt-get install mosquitto")
    port = free_port()
    flags = ["--embedded-broker"] if broker == "embedded" else []
    demo = start_demo(tmp_path, "--interval", "1", *flags, port=port)
    try:
        base = f"http://127.0.0.1:{port}"

        def three_kits_stored() -> bool:
            try:
                nodes = httpx.get(f"{base}/v1/nodes", timeout=2).json()["value"]
            except httpx.HTTPError:
                return False
            return {n["node"] for n in nodes} == {"sim-1", "sim-2", "sim-3"}

        try:
            wait_until(three_kits_stored, 40, "the demo's three kits in the API")
        except AssertionError as exc:
            demo.kill()
            said = demo.communicate(timeout=10)[0]
            raise AssertionError(f"{exc}; the demo said:\n{said[-4000:]}") from None
        # On the map: placed, and (home locations being private) rounded to 3 decimals.
        places = [n["location"] for n in httpx.get(f"{base}/v1/nodes").json()["value"]]
        assert all(p is not None and p["exactness"] == "rounded-3dp" for p in places), places
        assert len({(p["latitude"], p["longitude"]) for p in places}) == 3
        children = descendants(demo.pid)
        assert len(children) >= 4  # broker, gateway, server, simulator (and its kits)
        demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
        output, _ = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, output
    assert f"{base}/docs" in output and f"map:       {base}/" in output
    assert ("embedded broker (amqtt)" in output) == (broker == "embedded")
    assert "Traceback" not in output
    deadline = time.monotonic() + 10
    while alive(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(children) == set(), "processes left behind after Ctrl-C"
    assert (tmp_path / "var" / "demo" / "readings.db").exists()


def boot_state(kit: Path) -> list[str]:
    """A kit's crash-loop guard: faults in a row, how its last boot ended, boot number."""
    try:
        return (kit / "boot.txt").read_text().split()
    except OSError:
        return []


def test_ten_ctrl_c_stops_in_a_row_leave_no_kit_in_safe_mode(
    micropython: str, tmp_path: Path
) -> None:
    """Ctrl-C soon after the start, before any kit made its three healthy records (the
    demo's interval is 5 s), at moments from "just booted" to "first record written"."""
    kits = [tmp_path / "var" / "sim" / f"sim-{i}" for i in (1, 2, 3)]
    for run in range(1, 11):
        started = time.time()
        demo = start_demo(tmp_path)
        try:

            def booted(started: float = started) -> bool:
                # Each kit rewrites boot.txt as it boots (and it comes through the test).
                return all(
                    (k / "boot.txt").exists() and (k / "boot.txt").stat().st_mtime >= started
                    for k in kits
                )

            wait_until(booted, 60, f"the kits' boot {run}")
            time.sleep((run % 4) * 1.8)  # 0 … 5.4 s: before, at and after the first record
            demo.send_signal(signal.SIGINT)
            output, _ = demo.communicate(timeout=30)
        finally:
            if demo.poll() is None:
                demo.kill()
        assert demo.returncode == 0, output
        states = {k.name: boot_state(k) for k in kits}
        assert all(s[0] == "0" for s in states.values()), (run, states)
    assert all(boot_state(k)[2] == "10" for k in kits)


DEMO_STORMS = 50
DEMO_LANES = 3


def _storm_lane(lane: int, rounds: int, folder: Path) -> list[Storm]:
    chance = random.Random(2026 + lane)
    folder.mkdir(parents=True, exist_ok=True)
    compile_firmware((folder / "var" / "sim" / ".firmware").resolve())  # as the first run would
    broker = () if find_mosquitto() is not None else ("--embedded-broker",)
    storms = []
    for _ in range(rounds):
        start = (folder / "demo.log").stat().st_size if (folder / "demo.log").exists() else 0
        with (folder / "demo.log").open("a") as log:  # a pipe nobody reads could fill
            demo = subprocess.Popen(
                [sys.executable, "-m", "lokaalmeten", "demo", "--kits", "1", *broker],
                cwd=folder,
                env={**os.environ, "LM_SERVER_PORT": str(free_port())},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            # From "still importing" through broker, gateway, server and kit starting to
            # "running" (about 2 s here; more with the other lanes).
            storms.append(signal_storm(demo, chance, chance.uniform(0, 3.5)))
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
        if storms[-1].returncode not in STORM_EXITS:
            # Shown by pytest on failure: why this round ended as it did (the folder is gone
            # by the time anyone looks).
            with (folder / "demo.log").open("rb") as log:
                log.seek(start)
                print(
                    f"lane {lane}, exit {storms[-1].returncode}:",
                    log.read().decode(errors="replace"),
                )
    return storms


def test_a_storm_of_signals_stops_the_demo_within_five_seconds(tmp_path: Path) -> None:
    """1-20 SIGINT/SIGTERM, 0-50 ms apart, at a random moment of the start or the run:
    gone within 5 s, every time (once several SIGTERMs in a row hung it for good:
    Event.set() in the signal handler; a signal during the start was seen only when every
    part had started)."""
    per_lane = [
        DEMO_STORMS // DEMO_LANES + (n < DEMO_STORMS % DEMO_LANES) for n in range(DEMO_LANES)
    ]
    storms = in_lanes(
        DEMO_LANES, lambda lane: _storm_lane(lane, per_lane[lane], tmp_path / f"lane{lane}")
    )
    assert len(storms) == DEMO_STORMS
    slow = [s for s in storms if s.took > 5]
    assert not slow, slow
    assert {s.returncode for s in storms} <= STORM_EXITS, storms
    print(f"demo storms: {DEMO_STORMS}, slowest exit {max(s.took for s in storms):.2f} s")


def _running_demo(tmp_path: Path, *command: str) -> tuple[subprocess.Popen[str], set[int]]:
    """``command`` (default: the demo itself) once the demo and its kit run, and every
    process under it."""
    broker = () if find_mosquitto() is not None else ("--embedded-broker",)
    process = subprocess.Popen(
        [*command, sys.executable, "-m", "lokaalmeten", "demo", "--kits", "1", *broker],
        cwd=tmp_path,
        env={**os.environ, "LM_SERVER_PORT": str(free_port())},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Press Ctrl-C" in line:
            break
    # (the demo,) broker, gateway, server, simulator and its kit
    everyone = 6 if command else 5
    wait_until(lambda: len(descendants(process.pid)) >= everyone, 20, "the kit to start")
    return process, descendants(process.pid)


def _gone_within(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def test_the_demo_stops_everything_when_its_parent_goes(tmp_path: Path) -> None:
    """As ``make run`` terminated: the shell that runs the demo dies; the demo, an orphan
    now, stops its broker, gateway, server and kits within 5 s."""
    shell, family = _running_demo(tmp_path, "sh", "-c", '"$@"; echo after', "sh")
    shell.kill()
    shell.wait()
    assert _gone_within(family, 5) == set(), "processes left behind by the orphaned demo"


def test_the_demos_children_die_with_it_when_it_is_killed(tmp_path: Path) -> None:
    demo, family = _running_demo(tmp_path)
    demo.kill()  # SIGKILL: no clean-up of its own; the kernel signals the children
    demo.wait()
    assert _gone_within(family, 5) == set(), "processes left behind by a killed demo"
