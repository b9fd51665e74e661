"""A kit's retained status message (``<prefix>/<node>/status``), parsed and checked.

The kit publishes ``{"v": 1, "state": "online", "fw": …, "counters": {…}, "location": {…}}``
retained on connect and every 10 minutes; its Last Will is ``{"v": 1, "state": "offline",
"fw": …}`` (firmware/kit/status.py, docs/protocol.md)::

    >>> report = parse_status(b'{"v": 1, "state": "online", "fw": "0.1.0",'
    ...                       b' "location": {"lat": 52.091, "lon": 5.122, "exact": false}}')
    >>> report.state, report.location
    ('online', (52.091, 5.122, False))
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_STATUS_BYTES = 4096  # a kit's status is about 400 bytes
MAX_COUNTERS = 32

State = Literal["online", "offline"]
CounterValue = int | float | bool | str | None


class StatusError(ValueError):
    """A status message that cannot be used; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class StatusReport:
    state: State
    firmware: str | None = None
    counters: Mapping[str, CounterValue] = field(default_factory=dict)
    # (latitude, longitude, exact) from the kit's configuration, as it published them
    # (rounded by the kit unless its owner chose exact); None: the kit gave no location.
    location: tuple[float, float, bool] | None = None


def parse_status(payload: bytes) -> StatusReport:
    """Parse one status message; raises :class:`StatusError` saying what is wrong."""
    if len(payload) > MAX_STATUS_BYTES:
        raise StatusError(f"{len(payload)} bytes; a status has at most {MAX_STATUS_BYTES}")
    try:
        doc: Any = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StatusError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("v") != 1:
        raise StatusError('not a status of protocol version 1 ({"v": 1, "state": ...})')
    state = doc.get("state")
    if state not in ("online", "offline"):
        raise StatusError(f"state is {state!r}, not 'online' or 'offline'")
    firmware = doc.get("fw")
    if firmware is not None and not (isinstance(firmware, str) and len(firmware) <= 32):
        raise StatusError("fw must be a text of at most 32 characters")
    return StatusReport(state, firmware, _counters(doc.get("counters")), _location(doc))


def _counters(value: object) -> dict[str, CounterValue]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_COUNTERS:
        raise StatusError(f"counters must be an object of at most {MAX_COUNTERS} entries")
    for key, item in value.items():
        if len(key) > 32 or not isinstance(item, int | float | bool | str | None):
            raise StatusError(f"counter {key[:32]!r} must be a number, text, true/false or null")
        if isinstance(item, str) and len(item) > 64:
            raise StatusError(f"counter {key!r}: a text of at most 64 characters")
    return dict(value)


def _location(doc: dict[str, Any]) -> tuple[float, float, bool] | None:
    where = doc.get("location")
    if where is None:
        return None
    if not isinstance(where, dict):
        raise StatusError('location must be {"lat": ..., "lon": ..., "exact": ...}')
    numbers = []
    for name, limit in (("lat", 90), ("lon", 180)):
        number = where.get(name)
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
            or abs(number) > limit
        ):
            raise StatusError(f"location {name} must be a number from -{limit} to {limit}")
        numbers.append(float(number))
    exact = where.get("exact", False)
    if not isinstance(exact, bool):
        raise StatusError("location exact must be true or false")
    return numbers[0], numbers[1], exact
