"""Turn one kit record (MQTT payload) into readings, or say exactly why not.

Structure is checked against the committed JSON Schema (compiled once with fastjsonschema);
what a schema cannot express is checked here: the node in the payload matches the topic,
the time is sane, each value lies in its quantity's plausible range::

    >>> parsed = parse_record(b'{"v":1,"node":"kit-1","seq":1,"time":"2026-11-28T10:00:00Z",'
    ...                       b'"values":{"pm25":7.5}}', topic_node="kit-1", now=1764324000)
    >>> parsed.readings[0].value
    7.5
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import fastjsonschema

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.protocol.schema import load_record_schema
from lokaalmeten.readings import FLAG_CLIPPED, FLAG_TIME_BACKDATED, FLAG_TIME_ESTIMATED, Reading

# A record stamped further ahead of the gateway's clock than this is refused: the kit's clock
# is wrong, and storing it would put readings in the future where nothing overwrites them.
MAX_FUTURE_SECONDS = 600

_validate = fastjsonschema.compile(load_record_schema())


class RecordError(ValueError):
    """A record that cannot be stored; ``reason`` is a short counter key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class ParsedRecord:
    node: str
    seq: int
    readings: list[Reading]
    # (quantity, value) pairs refused for lying outside the plausible range.
    out_of_range: list[tuple[str, float]] = field(default_factory=list)
    # Seconds since the kit started when it made the record (its ``uptime``), if it said.
    uptime_s: float | None = None


def parse_record(payload: bytes, topic_node: str | None, now: int) -> ParsedRecord:
    """Parse and validate one record; raises :class:`RecordError` with a reason."""
    return parse_document(decode_json(payload), topic_node, now)


def decode_json(payload: bytes) -> Any:
    """The JSON document of a payload; raises :class:`RecordError` ``not_json``."""
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError("not_json", str(exc)) from None


def parse_document(doc: Any, topic_node: str | None, now: int) -> ParsedRecord:
    """Validate one record already decoded from JSON (e.g. one of a list posted over HTTP)."""
    try:
        _validate(doc)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise RecordError("schema", exc.message) from None
    node: str = doc["node"]
    if topic_node is not None and node != topic_node:
        raise RecordError("node_mismatch", f"payload node {node!r} on topic of {topic_node!r}")
    time, flags = _record_time(doc["time"], now, doc.get("age_ms", 0))
    if "clipped" in doc.get("flags", ()):
        flags |= FLAG_CLIPPED
    if "clock_unsynced" in doc.get("flags", ()) and not flags & FLAG_TIME_ESTIMATED:
        flags |= FLAG_TIME_BACKDATED  # a real time, from the kit's uptime clock
    sensors: dict[str, str] = doc.get("sensors", {})
    uptime = doc.get("uptime")
    uptime_s = None if uptime is None else uptime[1] / 1000
    parsed = ParsedRecord(node=node, seq=doc["seq"], readings=[], uptime_s=uptime_s)
    for quantity, value in doc["values"].items():
        if QUANTITIES[quantity].plausible(value):
            reading = Reading(node, quantity, time, float(value), sensors.get(quantity), flags)
            parsed.readings.append(reading)
        else:
            parsed.out_of_range.append((quantity, value))
    return parsed


def _record_time(text: str | None, now: int, age_ms: int) -> tuple[int, int]:
    if text is None:  # the kit could not date it: our clock, less the age it says it has
        return now - age_ms // 1000, FLAG_TIME_ESTIMATED
    try:
        time = int(datetime.fromisoformat(text).timestamp())
    except ValueError as exc:  # the pattern passed, but e.g. month 13
        raise RecordError("bad_time", f"{text!r}: {exc}") from None
    if time > now + MAX_FUTURE_SECONDS:
        raise RecordError("time_in_future", f"{text} is ahead of the gateway clock")
    return time, 0
