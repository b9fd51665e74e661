"""`lokaalmeten demo` (what `make run` starts): readings reach the API; Ctrl-C leaves nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lokaalmeten.services.ports import free_port
from tests.helpers import wait_until

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
    demo = subprocess.Popen(
        [sys.executable, "-m", "lokaalmeten", "demo", "--interval", "1", *flags],
        cwd=tmp_path,
        env={**os.environ, "LM_HTTP_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def three_kits_stored() -> bool:
            try:
                nodes = httpx.get(f"{base}/v1/nodes", timeout=2).json()["value"]
            except httpx.HTTPError:
                return False
            return {n["node"] for n in nodes} == {"sim-1", "sim-2", "sim-3"}

        wait_until(three_kits_stored, 40, "the demo's three kits in the API")
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
    from lokaalmeten.services.mosquitto import find_mosquitto

    flags = [] if find_mosquitto() is not None else ["--embedded-broker"]
    kits = [tmp_path / "var" / "sim" / f"sim-{i}" for i in (1, 2, 3)]
    for run in range(1, 11):
        started = time.time()
        demo = subprocess.Popen(
            [sys.executable, "-m", "lokaalmeten", "demo", *flags],
            cwd=tmp_path,
            env={**os.environ, "LM_HTTP_PORT": str(free_port())},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
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
