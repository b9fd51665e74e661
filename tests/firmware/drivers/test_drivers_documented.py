"""Every sensor driver has MicroPython tests and a row in docs/sensors.md that names it."""

from __future__ import annotations

import re

from lokaalmeten.simulate import firmware_dir
from tests.helpers import REPO

SHARED = {"bus", "errors", "sensirion"}  # the bus interface, errors, Sensirion conventions


def driver_classes() -> dict[str, str]:
    drivers = {}
    for source in sorted((firmware_dir() / "drivers").glob("*.py")):
        if source.stem in SHARED:
            continue
        match = re.search(r"^class (\w+)[(:]", source.read_text(), re.MULTILINE)
        assert match, f"{source.name} defines no driver class"
        drivers[source.stem] = match.group(1)
    return drivers


def test_there_is_a_driver_per_sensor_of_the_issue() -> None:
    assert set(driver_classes()) == {
        "sds011",
        "pms5003",
        "sps30",
        "bme280",
        "sht3x",
        "sht4x",
        "scd30",
        "scd4x",
        "dnms",
    }


def test_every_driver_has_micropython_tests() -> None:
    folder = REPO / "tests" / "firmware" / "drivers"
    for module in driver_classes():
        assert (folder / f"mpy_test_{module}.py").exists(), module


def test_every_driver_is_in_the_sensors_doc() -> None:
    doc = (REPO / "docs" / "sensors.md").read_text()
    for module, cls in driver_classes().items():
        assert f"`drivers.{module}.{cls}`" in doc, f"docs/sensors.md lacks drivers.{module}.{cls}"


def test_sensors_doc_pins_match_the_wiring() -> None:
    doc = (REPO / "docs" / "sensors.md").read_text()
    wiring = (REPO / "hardware" / "wiring" / "README.md").read_text()
    for pin in ("GPIO 16", "GPIO 17", "GPIO 21", "GPIO 22"):
        assert pin in wiring and pin in doc, pin
