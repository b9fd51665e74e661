"""The quantity vocabulary: what a kit may measure, in which unit, within which range.

This table is the single source for the JSON Schema of a record, the gateway's range checks,
the Sensor.Community mapping and the API's units::

    >>> QUANTITIES["pm25"].unit
    'µg/m³'
    >>> QUANTITIES["pressure"].plausible(1013.2)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How readings of a quantity combine into an hour's or a day's value. A mean suits levels
# that add linearly (concentrations, temperature); sound levels are logarithmic, so LAeq
# combines as energy: 10·log10 of the mean of 10^(L/10). The loudest LAFmax and the
# quietest LAFmin of the readings are the period's. A percentile level of a period (LAF10,
# LAF90) cannot be found from those of its parts — neither their mean nor their median is
# the level exceeded 10 % of the hour — so those get no aggregate value at all ("none").
Aggregation = Literal["mean", "energetic_mean", "max", "min", "none"]
AGGREGATIONS: tuple[Aggregation, ...] = ("mean", "energetic_mean", "max", "min", "none")


@dataclass(frozen=True, slots=True)
class Quantity:
    """One measured quantity in canonical units."""

    name: str
    unit: str
    minimum: float
    maximum: float
    description: str
    aggregation: Aggregation = "mean"

    def plausible(self, value: float) -> bool:
        return self.minimum <= value <= self.maximum


# Ranges are what the sensors can physically report, widened a little; a value outside them
# is a fault (a bad frame, a wrong unit), never weather. Order is the order the API lists them.
_TABLE = (
    Quantity("pm1", "µg/m³", 0, 1000, "Particulate matter up to 1 µm (PM1)"),
    Quantity("pm25", "µg/m³", 0, 1000, "Particulate matter up to 2.5 µm (PM2.5)"),
    Quantity("pm4", "µg/m³", 0, 1000, "Particulate matter up to 4 µm (PM4)"),
    Quantity("pm10", "µg/m³", 0, 2000, "Particulate matter up to 10 µm (PM10)"),
    Quantity("temperature", "°C", -40, 85, "Air temperature"),
    Quantity("humidity", "%", 0, 100, "Relative humidity"),
    Quantity("pressure", "hPa", 300, 1100, "Air pressure at the kit (not reduced to sea level)"),
    Quantity("co2", "ppm", 0, 40000, "Carbon dioxide concentration"),
    Quantity(
        "noise_laeq",
        "dB(A)",
        0,
        140,
        "A-weighted equivalent sound level over the interval",
        "energetic_mean",
    ),
    Quantity(
        "noise_lamin", "dB(A)", 0, 140, "Lowest A-weighted Fast sound level in the interval", "min"
    ),
    Quantity(
        "noise_lamax", "dB(A)", 0, 140, "Highest A-weighted Fast sound level in the interval", "max"
    ),
    Quantity(
        "noise_la10", "dB(A)", 0, 140, "A-weighted level exceeded 10 % of the interval", "none"
    ),
    Quantity(
        "noise_la90", "dB(A)", 0, 140, "A-weighted level exceeded 90 % of the interval", "none"
    ),
)

ENERGETIC = tuple(q.name for q in _TABLE if q.aggregation == "energetic_mean")

QUANTITIES: dict[str, Quantity] = {q.name: q for q in _TABLE}
