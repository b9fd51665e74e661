"""The JSON Schema of a kit's record, built from the quantity vocabulary.

The committed file ``record-v1.schema.json`` is what other tools and the tests read; a test
checks it is exactly what :func:`build_record_schema` makes, so the file cannot drift from the
vocabulary. Regenerate it with ``python -m lokaalmeten.protocol.schema``::

    >>> schema = load_record_schema()
    >>> schema["required"]
    ['v', 'node', 'seq', 'time', 'values']
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from lokaalmeten.protocol.quantities import QUANTITIES

PROTOCOL_VERSION = 1
SCHEMA_FILE = "record-v1.schema.json"
NODE_ID_PATTERN = "^[a-z0-9][a-z0-9_-]{1,31}$"
TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$"
SEQ_MAX = 2**32 - 1


def build_record_schema() -> dict[str, Any]:
    quantity_names = list(QUANTITIES)
    return {
        # Draft-07 rather than 2020-12: the gateway compiles the schema with fastjsonschema,
        # which implements drafts 4, 6 and 7.
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "urn:lokaalmeten:record:v1",
        "title": "lokaalmeten kit record, protocol version 1",
        "description": (
            "One measurement interval of one kit. Unknown top-level keys are ignored so that "
            "newer firmware can add metadata; unknown quantities are refused."
        ),
        "type": "object",
        "required": ["v", "node", "seq", "time", "values"],
        "properties": {
            "v": {"const": PROTOCOL_VERSION, "description": "Protocol version."},
            "node": {
                "type": "string",
                "pattern": NODE_ID_PATTERN,
                "description": "Node id; equals the node level of the MQTT topic.",
            },
            "seq": {
                "type": "integer",
                "minimum": 0,
                "maximum": SEQ_MAX,
                "description": "Per-node record sequence number, increasing by one per record.",
            },
            "time": {
                "oneOf": [
                    {"type": "string", "pattern": TIME_PATTERN},
                    {"type": "null"},
                ],
                "description": (
                    "End of the measurement interval, ISO 8601 UTC with 'Z'; null means the "
                    "kit's clock was not synced (the gateway then uses its receive time and "
                    "flags the readings)."
                ),
            },
            "values": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"enum": quantity_names},
                "additionalProperties": {"type": "number"},
                "description": "Value per quantity, in the quantity's canonical unit.",
            },
            "sensors": {
                "type": "object",
                "propertyNames": {"enum": quantity_names},
                "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 32},
                "description": "Sensor model per quantity, for example {'pm25': 'SDS011'}.",
            },
            "fw": {"type": "string", "maxLength": 32, "description": "Firmware version."},
            "rssi": {
                "type": "integer",
                "minimum": -127,
                "maximum": 0,
                "description": "Wi-Fi signal strength in dBm when the record was made.",
            },
            "flags": {
                "type": "array",
                "items": {"type": "string", "maxLength": 32},
                "maxItems": 16,
                "description": (
                    "Conditions that qualify the whole record: 'clipped' (the microphone's "
                    "input clipped), 'clock_unsynced' (made before the kit's clock was synced; "
                    "a time given was computed from its uptime clock)."
                ),
            },
            "age_ms": {
                "type": "integer",
                "minimum": 0,
                "maximum": 90 * 86400 * 1000,
                "description": (
                    "How long ago the record was made, in milliseconds, when the kit could not "
                    'date it ("time": null): the gateway dates it from its own clock.'
                ),
            },
            "uptime": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 2,
                "maxItems": 2,
                "description": (
                    "[boot number, milliseconds since that boot] when the record was made: "
                    "the gateway flags readings made while a sensor warmed up after the "
                    "start, and a kit whose clock was not synced dates the record from it later."
                ),
            },
        },
    }


def load_record_schema() -> dict[str, Any]:
    text = resources.files("lokaalmeten.protocol").joinpath(SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def render_record_schema() -> str:
    return json.dumps(build_record_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    target = Path(__file__).with_name(SCHEMA_FILE)
    target.write_text(render_record_schema(), encoding="utf-8")
    print(f"wrote {target}")
