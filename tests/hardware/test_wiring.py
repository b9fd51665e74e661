"""The wiring description, its generated diagrams and tables, and the firmware agree."""

from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lokaalmeten.kit_tools.wiring import POWER, Wiring, generate, load
from lokaalmeten.simulate import firmware_dir
from tests.firmware.mpy import run_micropython
from tests.helpers import REPO

FOLDER = REPO / "hardware" / "wiring"


@pytest.fixture(scope="module")
def wiring() -> Wiring:
    return load(FOLDER / "kits.json")


def firmware_literal(name: str) -> object:
    """A literal assignment of firmware/kit/sensors.py (REGISTRY, BUS_KEYS)."""
    tree = ast.parse((firmware_dir() / "kit" / "sensors.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            source = ast.get_source_segment(
                (firmware_dir() / "kit" / "sensors.py").read_text(), node.value
            )
            assert source is not None
            # REGISTRY's flags are names (DUTY, INTERVAL): replace them by 0 to read the rest.
            return ast.literal_eval(re.sub(r"\b(DUTY|INTERVAL)\b", "0", source))
    raise AssertionError(f"{name} not found in firmware/kit/sensors.py")


def test_the_committed_files_are_what_the_generator_writes() -> None:
    for path, text in generate(FOLDER).items():
        assert path.read_text() == text, (
            f"{path.name} is out of date: run python hardware/wiring/generate.py"
        )


def test_every_part_uses_the_firmwares_default_bus(wiring: Wiring) -> None:
    bus_keys = firmware_literal("BUS_KEYS")
    registry = firmware_literal("REGISTRY")
    assert isinstance(bus_keys, dict) and isinstance(registry, dict)
    for part in wiring.parts.values():
        kind = registry[part.sensor][2]
        assert part.bus_kind == kind, part.key
        defaults = {name: default for name, default, _low, _high in bus_keys[kind]}
        assert part.bus == defaults, f"{part.key}: kits.json {part.bus}, firmware {defaults}"


def test_every_i2c_address_is_the_drivers_default(wiring: Wiring) -> None:
    registry = firmware_literal("REGISTRY")
    assert isinstance(registry, dict)
    for part in wiring.parts.values():
        if part.bus_kind != "i2c":
            assert part.address is None
            continue
        module = registry[part.sensor][0].replace(".", "/") + ".py"
        found = re.search(
            r"^ADDRESS = const\((0x[0-9A-Fa-f]+)\)", (firmware_dir() / module).read_text(), re.M
        )
        assert found, module
        assert part.address == int(found.group(1), 16), part.key


def test_every_bus_signal_is_wired_and_every_wire_ends_somewhere(wiring: Wiring) -> None:
    for part in wiring.parts.values():
        targets = [wire.to for wire in part.wires]
        signals = [name for name in part.bus if name != part.bus_kind]
        assert sorted(t for t in targets if t not in POWER) == sorted(signals), part.key
        assert "GND" in targets and ("5V" in targets or "3V3" in targets), part.key
        for wire in part.wires:
            label = part.board_pin(wire)
            assert label in POWER or label.isdigit()


def test_kits_do_not_clash_on_a_bus(wiring: Wiring) -> None:
    for kit in wiring.kits:
        addresses = [p.address for p in kit.parts if p.bus_kind == "i2c"]
        assert len(addresses) == len(set(addresses)), kit.id
        for kind in ("uart", "i2s"):
            assert sum(p.bus_kind == kind for p in kit.parts) <= 1, kit.id


def test_the_firmware_fills_in_the_same_pins(
    wiring: Wiring, micropython: str, tmp_path: Path
) -> None:
    """Each kit's sensor list, validated by the firmware's own config code under MicroPython."""
    tables = {kit.id: [{"type": s} for s in kit.sensors] for kit in wiring.kits}
    out = run_micropython(
        micropython,
        "import json\nfrom kit import config\n"
        f"tables = json.loads({json.dumps(json.dumps(tables))})\n"
        "print(json.dumps({k: config.validate({'sensors': t})['sensors']\n"
        "                  for k, t in tables.items()}))\n",
        tmp_path,
    )
    validated = json.loads(out)
    for kit in wiring.kits:
        for part, spec in zip(kit.parts, validated[kit.id], strict=True):
            assert {k: v for k, v in spec.items() if k != "type"} == part.bus, (kit.id, part.key)


def test_the_diagrams_are_svg_with_every_wire(wiring: Wiring) -> None:
    for kit in wiring.kits:
        root = ET.fromstring((FOLDER / f"{kit.id}.svg").read_text())
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        lines = root.findall("{http://www.w3.org/2000/svg}polyline")
        assert len(lines) == sum(len(part.wires) for part in kit.parts)
        texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
        for part in kit.parts:
            for wire in part.wires:
                assert wiring.label(part.board_pin(wire)) in texts and wire.pin in texts


def test_the_pin_table_names_each_connection(wiring: Wiring) -> None:
    readme = (FOLDER / "README.md").read_text()
    assert "| Nova SDS011 | TXD | GPIO 16 (RX2) |" in readme
    assert "| INMP441 microphone | SD | GPIO 33 |" in readme
    assert "| BME280 breakout | VIN | 3V3 | not 5 V |" in readme


# A bus signal given a GPIO in code or prose: ``sck=26``, ``sck=Pin(26)``.
PIN_LITERAL = re.compile(r"\b(rx|tx|sda|scl|sck|ws|sd)\s*=\s*(?:Pin\()?(\d+)\b")


def test_no_second_copy_of_the_default_pins() -> None:
    """Every pin written in the firmware and the docs is the wiring's default (BUS_KEYS).

    The I2S microphone once had SCK 32 in noise/meter.py and docs/noise.md but 26 in the
    kit and the wiring: a copy like that fails here, naming the file and line.
    """
    bus_keys = firmware_literal("BUS_KEYS")
    assert isinstance(bus_keys, dict)
    defaults = {name: default for keys in bus_keys.values() for name, default, _l, _h in keys}
    files = sorted(firmware_dir().rglob("*.py")) + sorted((REPO / "docs").glob("*.md"))
    files += [REPO / "README.md", FOLDER / "README.md"]
    found = 0
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for signal, gpio in PIN_LITERAL.findall(line):
                found += 1
                where = f"{path.relative_to(REPO)}:{number}"
                assert int(gpio) == defaults[signal], f"{where}: {signal}={gpio}"
    assert found >= 5  # the examples in the drivers, noise/meter.py and docs/noise.md


# open_i2s(I2S, Pin, sck, ws, sd, ...) with the pins by position.
I2S_POSITIONAL = re.compile(r"open_i2s\([^,()]+,[^,()]+(?:\([^()]*\))?,\s*(\d+),\s*(\d+),\s*(\d+)")


def test_every_microphone_opened_by_position_uses_the_default_pins() -> None:
    """The same for the meter's tests and benchmark, which give the pins by position."""
    bus_keys = firmware_literal("BUS_KEYS")
    assert isinstance(bus_keys, dict)
    defaults = tuple(default for name, default, _l, _h in bus_keys["i2s"] if name != "i2s")
    found = 0
    for folder in ("firmware", "tests", "bench", "docs"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix not in (".py", ".md"):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for pins in I2S_POSITIONAL.findall(line):
                    found += 1
                    where = f"{path.relative_to(REPO)}:{number}"
                    assert tuple(map(int, pins)) == defaults, f"{where}: sck, ws, sd = {pins}"
    assert found >= 10


def test_the_microphone_has_one_opener() -> None:
    """Only noise/meter.py's open_i2s makes an I2S receiver (the kit calls it).

    A receiver is made with ``mode=<I2S>.RX``; kit/sensors.py once had its own such call.
    """
    makers = [
        str(path.relative_to(firmware_dir()))
        for path in sorted(firmware_dir().rglob("*.py"))
        if not path.name.startswith("fake_")  # the fake's own docstring shows the real call
        and re.search(r"\bmode=[\w.]*\bRX\b", path.read_text())
    ]
    assert makers == ["noise/meter.py"]
