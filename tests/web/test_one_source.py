"""The page's scripts hold no fact of the quantity table: units come from the server."""

from __future__ import annotations

import re

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.server.web.bands import SCALES, scales_json
from lokaalmeten.server.web.router import STATIC

# '%' is also JavaScript's remainder operator; every other unit is text only a copy would hold.
_UNITS = {q.unit for q in QUANTITIES.values()} - {"%"}


def test_no_script_writes_a_unit_of_its_own() -> None:
    scripts = sorted(STATIC.glob("*.js"))
    assert scripts, STATIC
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        # A unit as a word of its own: 'searchParams' holds no hPa.
        copies = sorted(
            unit
            for unit in _UNITS
            if re.search(rf"(?<![A-Za-z]){re.escape(unit)}(?![A-Za-z])", text)
        )
        assert copies == [], f"{script.name} writes {copies}: read scale.unit or /v1/quantities"


def test_every_scale_carries_its_quantity_unit_from_the_table() -> None:
    assert {s["quantity"]: s["unit"] for s in scales_json()} == {
        name: QUANTITIES[name].unit for name in SCALES
    }
