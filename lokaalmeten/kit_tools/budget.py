"""The MicroPython heap a kit's sensor set needs on a 32-bit ESP32, from measured figures.

    heap_needed_kib(["sds011", "bme280"])     # KiB of heap on 32 bits, code loaded from .mpy

The figures live in ``memory-budget.json`` beside this file, which ``make bench`` rewrites
from its measurement (bench/kit_memory.py; method in docs/kit.md): the measured need of the
sets in the docs' table, and for any other set a base for the kit runtime plus a cost per
configured sensor type. ``deploy`` compares the figure with what the detected board gives
MicroPython.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

BUDGET_FILE = Path(__file__).with_name("memory-budget.json")


@cache
def budget() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(BUDGET_FILE.read_text(encoding="utf-8"))
    return loaded


def heap_needed_kib(sensor_types: Sequence[str]) -> float:
    """KiB of heap the kit needs on 32 bits with these sensor types (each counted once)."""
    figures = budget()
    per_type: dict[str, float] = figures["per_type_kib"]
    unknown = sorted(set(sensor_types) - set(per_type))
    if unknown:
        raise ValueError(f"no memory figure for sensor type(s) {', '.join(unknown)}")
    measured = figures.get("sets", {}).get(",".join(sorted(set(sensor_types))))
    if measured is not None:
        return float(measured["kib"])
    return float(figures["base_kib"]) + sum(per_type[t] for t in set(sensor_types))
