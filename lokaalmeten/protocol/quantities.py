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


@dataclass(frozen=True, slots=True)
class Quantity:
    """One measured quantity in canonical units."""

    name: str
    unit: str
    minimum: float
    maximum: float
    description: str

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
    Quantity("noise_laeq", "dB(A)", 0, 140, "A-weighted equivalent sound level over the interval"),
    Quantity("noise_lamin", "dB(A)", 0, 140, "Lowest A-weighted Fast sound level in the interval"),
    Quantity("noise_lamax", "dB(A)", 0, 140, "Highest A-weighted Fast sound level in the interval"),
    Quantity("noise_la10", "dB(A)", 0, 140, "A-weighted level exceeded 10 % of the interval"),
    Quantity("noise_la90", "dB(A)", 0, 140, "A-weighted level exceeded 90 % of the interval"),
)

QUANTITIES: dict[str, Quantity] = {q.name: q for q in _TABLE}
