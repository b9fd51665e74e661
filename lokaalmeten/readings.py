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
FLAG_NAMES = (
    (FLAG_TIME_ESTIMATED, "time_estimated"),
    (FLAG_CLIPPED, "clipped"),
    (FLAG_TIME_BACKDATED, "time_backdated"),
)
# Readings carrying any of these flags are left out of aggregates, which lowers their
# coverage; the raw readings stay as they are. The quality flags of issue 14 join this mask.
EXCLUDED_FROM_AGGREGATES = FLAG_CLIPPED  # a clipped input under-reads the level


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
