"""The committed JSON Schema is the one the vocabulary makes, and it says what it means."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.protocol.schema import SCHEMA_FILE, load_record_schema, render_record_schema

GOOD = {
    "v": 1,
    "node": "esp32-0a1b2c",
    "seq": 42,
    "time": "2026-11-28T10:00:00Z",
    "values": {"pm25": 7.5, "pm10": 12.25, "temperature": 9.5},
    "sensors": {"pm25": "SDS011", "pm10": "SDS011", "temperature": "BME280"},
    "fw": "0.1.0",
    "rssi": -67,
}


def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(load_record_schema())


def test_committed_schema_is_generated_from_the_vocabulary() -> None:
    committed = resources.files("lokaalmeten.protocol").joinpath(SCHEMA_FILE).read_text("utf-8")
    assert committed == render_record_schema(), (
        "record-v1.schema.json is stale: run python -m lokaalmeten.protocol.schema"
    )


def test_schema_is_a_valid_draft7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(load_record_schema())


def test_schema_names_every_quantity() -> None:
    names = load_record_schema()["properties"]["values"]["propertyNames"]["enum"]
    assert names == list(QUANTITIES)


def test_a_full_record_is_valid() -> None:
    assert list(validator().iter_errors(GOOD)) == []


def test_unsynced_time_is_null_and_valid() -> None:
    assert list(validator().iter_errors({**GOOD, "time": None})) == []


def test_unknown_top_level_keys_are_allowed_for_newer_firmware() -> None:
    assert list(validator().iter_errors({**GOOD, "battery": 3.9})) == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"v": 2}, "protocol version"),
        ({"node": "Kit 1"}, "node id with capitals and a space"),
        ({"seq": -1}, "negative sequence number"),
        ({"seq": 1.5}, "fractional sequence number"),
        ({"time": "2026-11-28 10:00:00"}, "time without T and Z"),
        ({"time": "2026-11-28T10:00:00+01:00"}, "time with an offset instead of Z"),
        ({"time": 1764324000}, "epoch number instead of ISO text"),
        ({"values": {}}, "no values"),
        ({"values": {"pm2.5": 7.5}}, "unknown quantity"),
        ({"values": {"pm25": "7.5"}}, "value as a string"),
        ({"sensors": {"pm25": ""}}, "empty sensor model"),
        ({"rssi": 5}, "positive rssi"),
    ],
)
def test_invalid_records_are_refused(change: dict[str, object], why: str) -> None:
    assert list(validator().iter_errors({**GOOD, **change})), why


@pytest.mark.parametrize("missing", ["v", "node", "seq", "time", "values"])
def test_required_fields(missing: str) -> None:
    record = {k: v for k, v in GOOD.items() if k != missing}
    assert list(validator().iter_errors(record))


def test_example_in_protocol_doc_is_valid() -> None:
    from tests.helpers import REPO

    text = (REPO / "docs" / "protocol.md").read_text()
    start = text.index("```json\n", text.index("## The record")) + len("```json\n")
    example = json.loads(text[start : text.index("```", start)])
    assert list(validator().iter_errors(example)) == []


def test_protocol_doc_states_every_quantity_with_unit_and_range() -> None:
    from tests.helpers import REPO

    text = (REPO / "docs" / "protocol.md").read_text()
    for q in QUANTITIES.values():
        row = f"| `{q.name}` | {q.unit} | {q.minimum:g} … {q.maximum:g} |"
        assert row in text, f"docs/protocol.md lacks or misstates {q.name}: {row}"


def test_protocol_doc_maps_every_sensor_community_value_type() -> None:
    from lokaalmeten.protocol.sensor_community import VALUE_TYPES
    from tests.helpers import REPO

    text = (REPO / "docs" / "protocol.md").read_text()
    for name, vt in VALUE_TYPES.items():
        assert f"| `{name}` | `{vt.quantity}` |" in text, name
