"""What an unchanged Sensor.Community (airRohr) kit sends, turned into our readings.

Two formats, both without a timestamp (the kit sends right after measuring; the gateway's
receive time is used):

- the "send to own API" JSON: ``{"esp8266id": "12345678", "software_version": "NRZ-2024-135",
  "sensordatavalues": [{"value_type": "SDS_P1", "value": "12.30"}, ...]}``, headers
  ``X-Sensor: esp8266-12345678`` and for per-sensor posts ``X-PIN``;
- InfluxDB line protocol to ``/write``:
  ``feinstaub,node=esp8266-12345678 SDS_P1=12.30,SDS_P2=8.10,signal=-67``.

Value types map onto quantities through :mod:`lokaalmeten.protocol.sensor_community`::

    parsed = parse_airrohr_json(body, x_sensor="esp8266-12345678", received_at=now)
    parsed.node, parsed.readings, parsed.problems
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.protocol.record import RecordError
from lokaalmeten.protocol.schema import NODE_ID_PATTERN
from lokaalmeten.protocol.sensor_community import DIAGNOSTIC_TYPES, VALUE_TYPES
from lokaalmeten.readings import Reading

_NODE_ID = re.compile(NODE_ID_PATTERN)
_PRECISION = {"ns": 1e-9, "n": 1e-9, "u": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


class AirRohrError(RecordError):
    """The whole airRohr payload is unusable; ``reason`` is a short counter key."""


@dataclass(slots=True)
class ParsedAirRohr:
    node: str
    readings: list[Reading] = field(default_factory=list)
    # (reason, description) per value that was left out: out_of_range, not_a_number,
    # unknown_value_type.
    problems: list[tuple[str, str]] = field(default_factory=list)
    rssi: int | None = None


def node_id(x_sensor: str | None, chip_id: str | None) -> str:
    """Our node id of an airRohr kit: its X-Sensor header, else esp8266-<chip id>."""
    candidate = (x_sensor or (f"esp8266-{chip_id}" if chip_id else "")).strip().lower()
    if not _NODE_ID.match(candidate):
        raise AirRohrError(
            "bad_node", f"no usable node id (X-Sensor {x_sensor!r}, esp8266id {chip_id!r})"
        )
    return candidate


def _add_value(parsed: ParsedAirRohr, value_type: str, raw: Any, time: int) -> None:
    if value_type in DIAGNOSTIC_TYPES:
        if value_type == "signal":
            with contextlib.suppress(TypeError, ValueError):
                parsed.rssi = int(float(raw))
        return
    mapping = VALUE_TYPES.get(value_type)
    if mapping is None:
        parsed.problems.append(("unknown_value_type", f"{value_type}={raw!r}"))
        return
    try:
        value = float(raw) * mapping.scale
    except (TypeError, ValueError):
        parsed.problems.append(("not_a_number", f"{value_type}={raw!r}"))
        return
    if not QUANTITIES[mapping.quantity].plausible(value) or math.isnan(value):
        parsed.problems.append(("out_of_range", f"{value_type}={raw!r}"))
        return
    parsed.readings.append(Reading(parsed.node, mapping.quantity, time, value, mapping.sensor))


def parse_airrohr_json(payload: bytes, x_sensor: str | None, received_at: int) -> ParsedAirRohr:
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AirRohrError("not_json", str(exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sensordatavalues"), list):
        raise AirRohrError("schema", "expected an object with a sensordatavalues list")
    chip = doc.get("esp8266id")
    parsed = ParsedAirRohr(node=node_id(x_sensor, str(chip) if chip is not None else None))
    for entry in doc["sensordatavalues"]:
        if not isinstance(entry, dict) or "value_type" not in entry or "value" not in entry:
            parsed.problems.append(("schema", f"entry {entry!r} lacks value_type or value"))
            continue
        _add_value(parsed, str(entry["value_type"]), entry["value"], received_at)
    return parsed


def parse_line_protocol(
    payload: bytes, received_at: int, precision: str = "ns"
) -> list[ParsedAirRohr]:
    """Each line's node tag becomes one parsed group; several lines may share a node."""
    try:
        text = payload.decode()
    except UnicodeDecodeError as exc:
        raise AirRohrError("not_utf8", str(exc)) from None
    scale = _PRECISION.get(precision)
    if scale is None:
        raise AirRohrError("bad_precision", f"precision {precision!r}; use ns, u, ms or s")
    groups: dict[str, ParsedAirRohr] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = _split_unescaped(line, " ")
        if len(parts) not in (2, 3):
            raise AirRohrError("bad_line", f"line {number}: expected 'measurement,tags fields'")
        series = _split_unescaped(parts[0], ",")
        tags = dict(_pair(item, number) for item in series[1:])
        node = node_id(tags.get("node"), None)
        when = received_at
        if len(parts) == 3:
            try:
                when = int(int(parts[2]) * scale)
            except ValueError:
                raise AirRohrError("bad_line", f"line {number}: bad timestamp") from None
        group = groups.setdefault(node, ParsedAirRohr(node=node))
        for item in _split_unescaped(parts[1], ","):
            key, raw = _pair(item, number)
            _add_value(group, key, _field_value(raw), when)
    if not groups:
        raise AirRohrError("empty", "no lines with data")
    return list(groups.values())


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes and not escaped by a backslash."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part]


def _pair(item: str, number: int) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise AirRohrError("bad_line", f"line {number}: {item!r} is not key=value")
    return key.replace("\\", ""), value


def _field_value(raw: str) -> str:
    """A field's value as text: strip the integer suffix and string quotes."""
    if raw.endswith(("i", "u")) and raw[:-1].lstrip("-").isdigit():
        return raw[:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    return raw
