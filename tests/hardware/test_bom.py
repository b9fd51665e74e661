"""The bill of materials adds up, and covers every kit of the wiring description."""

from __future__ import annotations

import re
from decimal import Decimal

from lokaalmeten.kit_tools.wiring import load
from tests.helpers import REPO

BOM = REPO / "hardware" / "bom.md"


def euros(text: str) -> Decimal:
    found = re.search(r"€ ([0-9]+\.[0-9]{2})", text)
    assert found, text
    return Decimal(found.group(1))


def sections() -> dict[str, list[list[str]]]:
    """Each '## ' section's table rows (cells), header and rule left out."""
    tables: dict[str, list[list[str]]] = {}
    title = ""
    for line in BOM.read_text().splitlines():
        if line.startswith("## "):
            title = line[3:]
        elif line.startswith("| ") and not line.startswith("| part |"):
            tables.setdefault(title, []).append([c.strip() for c in line.strip("|").split("|")])
    return tables


def test_every_subtotal_and_total_adds_up() -> None:
    tables = sections()
    assert len(tables) == 5
    for title, rows in tables.items():
        *parts, total = rows
        assert total[0] == "**total**", title
        for part in parts:
            assert euros(part[2]) * int(part[1]) == euros(part[3]), (title, part[0])
        assert sum(euros(part[3]) for part in parts) == euros(total[3]), title


def test_a_kit_that_includes_another_uses_its_total() -> None:
    tables = sections()
    base = tables["Air-quality kit: SDS011 and BME280"][-1]
    co2 = tables["Air-quality kit with CO2: SDS011, BME280 and SCD41"][0]
    assert euros(co2[2]) == euros(base[3])


def test_every_kit_is_in_the_bom_with_its_wiring_and_the_required_parts() -> None:
    text = BOM.read_text()
    for kit in load(REPO / "hardware/wiring/kits.json").kits:
        assert f"(wiring/README.md#{kit.id})" in text, kit.id
        assert f"`--sensors {','.join(kit.sensors)}`" in text, kit.id
    for needed in (
        "power supply",
        "Inlet tube",
        "Radiation shield",
        "drainpipe bend",
        "indicative",
    ):
        assert needed in text, needed


def test_every_kit_lists_its_jumper_wires_and_the_breadboard_that_joins_shared_pins() -> None:
    from lokaalmeten.kit_tools.wiring import joins, jumper_count

    text = BOM.read_text()
    chunks = {c.split("\n", 1)[0]: c for c in text.split("\n## ")[1:]}
    base = chunks["Air-quality kit: SDS011 and BME280"]

    def wires(chunk: str) -> int:
        found = re.findall(r"\| Dupont jumper wires[^|]*\| ([0-9]+) \|", chunk)
        return sum(int(n) for n in found)

    for kit in load(REPO / "hardware/wiring/kits.json").kits:
        chunk = next(c for c in chunks.values() if f"(wiring/README.md#{kit.id})" in c)
        included = base if "| the air-quality kit above |" in chunk else ""
        assert wires(chunk) + wires(included) == jumper_count(kit), kit.id
        has_join = "breadboard" in chunk + included
        assert has_join == bool(joins(kit)), kit.id


def test_the_bom_recommends_a_psram_board_for_noise_and_many_sensors() -> None:
    chunks = {c.split("\n", 1)[0]: c for c in BOM.read_text().split("\n## ")[1:]}
    assert "N16R8" in chunks["Noise kit: INMP441 microphone"]
    assert "N16R8" in chunks["Air-quality kit with CO2: SDS011, BME280 and SCD41"]
