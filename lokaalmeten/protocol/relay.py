"""Relay batches: a neighbourhood gateway's stored readings, forwarded to a city gateway.

One MQTT message (QoS 1) on ``<prefix>/<relay>/relay`` carries a batch of readings as the
neighbourhood gateway stored them, quality flags included; the relay's broker account may
write only there, so the topic says which gateway sent it::

    {"v": 1, "relay": "lombok",
     "readings": [["esp32-0a1b2c", "pm25", 1764324000, 7.5, "SDS011", 0], ...]}

Each reading is ``[node, quantity, time, value, sensor or null, flags]``, the fields of
:class:`~lokaalmeten.readings.Reading` in order. A batch may also say, under ``kits``, what
the neighbourhood's directory publishes of its kits (name, description, interval, siting,
and the place rounded as its public page rounds it unless the owner chose exact), so that
the city's page shows them as the neighbourhood's does. The batch is a compact list rather than
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
from collections.abc import Mapping, Sequence
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


@dataclass(frozen=True, slots=True)
class RelayedKit:
    """What a neighbourhood gateway publishes of one of its kits."""

    name: str = ""
    description: str = ""
    interval: float | None = None  # seconds between readings; None: the network's default
    latitude: float | None = None  # rounded unless ``exact``
    longitude: float | None = None
    exact: bool = False
    indoor: bool | None = None
    height_m: float | None = None


_KIT_FIELDS = {
    "name": "name",
    "description": "description",
    "interval": "interval",
    "lat": "latitude",
    "lon": "longitude",
    "exact": "exact",
    "indoor": "indoor",
    "height_m": "height_m",
}


@dataclass(slots=True)
class RelayBatch:
    relay: str
    readings: list[Reading]
    # (reason, description) of the readings left out, each a reading the batch got wrong.
    problems: list[tuple[str, str]] = field(default_factory=list)
    kits: dict[str, RelayedKit] = field(default_factory=dict)


def encode_batch(
    relay: str, readings: Sequence[Reading], kits: Mapping[str, RelayedKit] | None = None
) -> bytes:
    doc: dict[str, Any] = {"v": VERSION, "relay": relay, "readings": [list(r) for r in readings]}
    if kits:
        doc["kits"] = {
            node: {key: getattr(kit, name) for key, name in _KIT_FIELDS.items()}
            for node, kit in kits.items()
        }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


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
    kits = doc.get("kits", {})
    if not isinstance(kits, dict):
        raise RelayError("schema", "'kits' is not an object")
    for node, fields in kits.items():
        kit = _kit(node, fields)
        if isinstance(kit, RelayedKit):
            batch.kits[node] = kit
        else:
            batch.problems.append(("schema", f"kit {str(node)[:40]!r}: {kit}"))
    return batch


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _kit(node: Any, fields: Any) -> RelayedKit | str:
    """The kit a batch describes, or what is wrong with it."""
    if not isinstance(node, str) or not _NODE_ID.match(node):
        return "not a node id"
    if not isinstance(fields, dict) or not set(fields) <= set(_KIT_FIELDS):
        return f"fields are {', '.join(_KIT_FIELDS)}"
    values = {_KIT_FIELDS[key]: value for key, value in fields.items()}
    kit = RelayedKit(**values)
    lat, lon = kit.latitude, kit.longitude
    if not (isinstance(kit.name, str) and len(kit.name) <= 200):
        return "name is not a text of at most 200 characters"
    if not (isinstance(kit.description, str) and len(kit.description) <= 2000):
        return "description is not a text of at most 2000 characters"
    if kit.interval is not None and not (_number(kit.interval) and kit.interval > 0):
        return "interval is not a number of seconds"
    if (lat is None) != (lon is None):
        return "a place has both lat and lon"
    if lat is not None and not (_number(lat) and _number(lon) and -90 <= lat <= 90):
        return "lat and lon are not a place"
    if lon is not None and not -180 <= lon <= 180:
        return "lat and lon are not a place"
    if not isinstance(kit.exact, bool) or kit.indoor not in (None, True, False):
        return "exact and indoor are true or false"
    if kit.height_m is not None and not (_number(kit.height_m) and 0 <= kit.height_m <= 1000):
        return "height_m is not a height in metres"
    return kit


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
