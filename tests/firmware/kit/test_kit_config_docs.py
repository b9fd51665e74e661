"""The kit's tables agree with the rest: docs/kit.md documents every configuration key with
its default, and the firmware's quantity ranges are the gateway's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lokaalmeten.protocol.quantities import QUANTITIES
from tests.firmware.mpy import run_micropython
from tests.helpers import REPO

pytestmark = pytest.mark.micropython

DUMP = """
import json
from kit import config
from kit.quantities import QUANTITIES
print(json.dumps({"fields": {k: v[0] for k, v in config.FIELDS.items()},
                  "quantities": QUANTITIES}))
"""


def firmware_tables(micropython: str, tmp_path: Path) -> dict[str, dict[str, object]]:
    doc: dict[str, dict[str, object]] = json.loads(
        run_micropython(micropython, DUMP, tmp_path, heap="256k")
    )
    return doc


def test_every_configuration_key_is_documented_with_its_default(
    micropython: str, tmp_path: Path
) -> None:
    fields = firmware_tables(micropython, tmp_path)["fields"]
    text = (REPO / "docs" / "kit.md").read_text()
    rows: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"\| ((?:`[a-z_0-9]+`(?:, )?)+) \| (`[^`]*`|\S+) \|", line)
        if match:
            for key in re.findall(r"`([a-z_0-9]+)`", match.group(1)):
                rows[key] = match.group(2).strip("`")
    for key, default in fields.items():
        assert key in rows, f"docs/kit.md does not document the key {key}"
        assert json.loads(rows[key]) == default, (key, rows[key], default)


def test_firmware_quantity_ranges_are_the_protocol_ranges(micropython: str, tmp_path: Path) -> None:
    quantities = firmware_tables(micropython, tmp_path)["quantities"]
    assert quantities == {q.name: [q.minimum, q.maximum] for q in QUANTITIES.values()}
