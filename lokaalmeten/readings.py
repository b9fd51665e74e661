"""The reading: one value of one quantity from one node at one time.

Its identity is (node, quantity, time); a re-sent reading has the same identity and is
stored once::

    >>> r = Reading("esp32-0a1b2c", "pm25", 1764324000, 7.5, "SDS011")
    >>> r.identity
    ('esp32-0a1b2c', 'pm25', 1764324000)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

# Reading flags, a bit field stored with each reading.
FLAG_TIME_ESTIMATED = 1  # the kit's clock was not synced; time is the gateway's receive time
FLAG_CLIPPED = 2  # the sensor reported its input clipped (noise)
FLAG_TIME_BACKDATED = 4  # made before the kit's clock was synced; dated from its uptime clock
# Quality flags the gateway sets at ingest (gateway/quality.py); the raw value is kept as sent.
FLAG_IMPLAUSIBLE = 8  # outside the range the quantity can plausibly take outdoors
FLAG_STUCK = 16  # the same value repeated too many times in a row
FLAG_SPIKE = 32  # far from the node's own recent readings (or its neighbours')
FLAG_HIGH_HUMIDITY = 64  # PM measured while the relative humidity was above the threshold
FLAG_WARMING_UP = 128  # made while the sensor was still warming up after the kit started
FLAG_NAMES = (
    (FLAG_TIME_ESTIMATED, "time_estimated"),
    (FLAG_CLIPPED, "clipped"),
    (FLAG_TIME_BACKDATED, "time_backdated"),
    (FLAG_IMPLAUSIBLE, "implausible"),
    (FLAG_STUCK, "stuck"),
    (FLAG_SPIKE, "spike"),
    (FLAG_HIGH_HUMIDITY, "high_humidity"),
    (FLAG_WARMING_UP, "warming_up"),
)
# Readings carrying any of these flags are left out of aggregates, which lowers their
# coverage; the raw readings stay as they are. A time flag says only how the time was found,
# so those readings still count.
EXCLUDED_FROM_AGGREGATES = (
    FLAG_CLIPPED  # a clipped input under-reads the level
    | FLAG_IMPLAUSIBLE
    | FLAG_STUCK
    | FLAG_SPIKE
    | FLAG_HIGH_HUMIDITY  # particles swell with water: PM over-reads, up to tenfold in fog
    | FLAG_WARMING_UP
)


def flag_names(flags: int) -> list[str]:
    """The names of the bits set in a reading's ``flags``, as the API writes them."""
    return [name for bit, name in FLAG_NAMES if flags & bit]


class Reading(NamedTuple):
    node: str
    quantity: str
    time: int  # epoch seconds, UTC
    value: float
    sensor: str | None = None
    flags: int = 0

    @property
    def identity(self) -> tuple[str, str, int]:
        return (self.node, self.quantity, self.time)


def iso_utc(epoch_seconds: int) -> str:
    """Epoch seconds as ISO 8601 UTC with a 'Z', the form every text output uses."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
