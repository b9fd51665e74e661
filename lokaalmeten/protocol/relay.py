"""Relay batches: a neighbourhood gateway's stored readings, forwarded to a city gateway.

One MQTT message (QoS 1) on ``<prefix>/<relay>/relay`` carries a batch of readings as the
neighbourhood gateway stored them, quality flags included; the relay's broker account may
write only there, so the topic says which gateway sent it::

    {"v": 1, "relay": "lombok",
     "readings": [["esp32-0a1b2c", "pm25", 1764324000, 7.5, "SDS011", 0], ...]}

Each reading is ``[node, quantity, time, value, sensor or null, flags]``, the fields of
:class:`~lokaalmeten.readings.Reading` in order. The batch is a compact list rather than
records of the kits' protocol because the readings have been checked already, and because a
record holds one node at one time while a batch holds a thousand readings of many::

    >>> payload = encode_batch("lombok", [Reading("esp32-0a1b2c", "pm25", 1764324000, 7.5)])
    >>> parse_batch(payload, now=1764324000).readings
    [Reading(node='esp32-0a1b2c', quantity='pm25', time=1764324000, value=7.5, sensor=None, \
flags=0)]
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.protocol.record import MAX_FUTURE_SECONDS, RecordError
from lokaalmeten.protocol.schema import NODE_ID_PATTERN
from lokaalmeten.readings import Reading

VERSION = 1
# Readings per message: about 60 bytes each, so a message stays well under a broker's usual
# packet limits (EMQX's default is 1 MB) and one lost PUBACK costs little to send again.
BATCH_READINGS = 1000

_NODE_ID = re.compile(NODE_ID_PATTERN)
_SENSOR_MAX = 64


class RelayError(RecordError):
    """A relay message that cannot be read at all; ``reason`` is a short counter key."""


@dataclass(slots=True)
class RelayBatch:
    relay: str
    readings: list[Reading]
    # (reason, description) of the readings left out, each a reading the batch got wrong.
    problems: list[tuple[str, str]] = field(default_factory=list)


def encode_batch(relay: str, readings: Sequence[Reading]) -> bytes:
    rows = [list(reading) for reading in readings]
    return json.dumps(
        {"v": VERSION, "relay": relay, "readings": rows}, separators=(",", ":"), allow_nan=False
    ).encode()


def parse_batch(payload: bytes, now: int) -> RelayBatch:
    """The readings of one relay message; a malformed message raises :class:`RelayError`,
    a malformed reading in it is left out and named in ``problems``."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RelayError("not_json", str(exc)) from None
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        version = doc.get("v") if isinstance(doc, dict) else None
        raise RelayError("schema", f"not a relay batch of version {VERSION} (v={version!r})")
    relay, rows = doc.get("relay"), doc.get("readings")
    if not isinstance(relay, str) or not _NODE_ID.match(relay):
        raise RelayError("schema", f"relay {relay!r} is not a gateway name")
    if not isinstance(rows, list):
        raise RelayError("schema", "'readings' is not a list")
    batch = RelayBatch(relay, [])
    for row in rows:
        reading, problem = _reading(row, now)
        if reading is not None:
            batch.readings.append(reading)
        else:
            batch.problems.append(problem)
    return batch


def _reading(row: Any, now: int) -> tuple[Reading | None, tuple[str, str]]:
    if not isinstance(row, list) or len(row) != 6:
        return None, ("schema", f"{str(row)[:80]} is not [node, quantity, time, value, …]")
    node, quantity, moment, value, sensor, flags = row
    shown = f"{node}/{quantity}@{moment}"
    if not isinstance(node, str) or not _NODE_ID.match(node):
        return None, ("schema", f"{node!r} is not a node id")
    if quantity not in QUANTITIES:
        return None, ("schema", f"{shown}: no quantity {quantity!r}")
    if type(moment) is not int or moment <= 0:
        return None, ("bad_time", f"{shown}: the time is not epoch seconds")
    if moment > now + MAX_FUTURE_SECONDS:
        return None, ("time_in_future", f"{shown} is ahead of the gateway clock")
    if type(value) not in (int, float) or not math.isfinite(value):
        return None, ("schema", f"{shown}: value {value!r} is not a number")
    if not QUANTITIES[quantity].plausible(value):
        return None, ("out_of_range", f"{shown}={value!r}")
    if sensor is not None and not (isinstance(sensor, str) and 0 < len(sensor) <= _SENSOR_MAX):
        return None, ("schema", f"{shown}: sensor {sensor!r} is not a model name")
    if type(flags) is not int or flags < 0:
        return None, ("schema", f"{shown}: flags {flags!r} are not a bit field")
    return Reading(node, quantity, moment, float(value), sensor, flags), ("", "")
