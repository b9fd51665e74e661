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


# -- Quality at ingest ---------------------------------------------------------------------
# What the gateway's quality stage (gateway/quality.py) checks per quantity. A flagged reading
# is kept with its raw value; aggregates leave it out (lokaalmeten.readings.
# EXCLUDED_FROM_AGGREGATES). The rules are stated for users in docs/quality.md.


@dataclass(frozen=True, slots=True)
class QualityRule:
    """The quality thresholds of one quantity.

    ``low``/``high``: the range the quantity plausibly takes at a Dutch kit; narrower than
    the quantity's hard range (which refuses). ``stuck``: this many equal values in a row
    flag the last ones as stuck (None: never), except values in ``stuck_allowed``, which a
    working sensor repeats legitimately. ``spike``: a reading further than
    max(``spike_mads`` × MAD × 1.4826, ``spike_floor``) from the median of the last
    ``spike_window`` readings (and, where neighbours exist, from theirs) is a spike (None:
    no spike check). ``warm_up_s``: seconds after the kit started in which a reading of an
    unnamed sensor counts as warming up (``WARM_UP_S`` names sensors).
    """

    low: float
    high: float
    stuck: int | None
    stuck_allowed: tuple[float, ...] = ()
    spike_floor: float | None = None
    spike_mads: float = 8.0
    spike_window: int = 15
    warm_up_s: int = 0


# Records come about once a minute, so a count is roughly minutes.
_PM = QualityRule(
    low=0,
    # SDS011 reads up to 999.9 µg/m³ and the PMS5003's range ends at 1000: a value that high
    # is the sensor saturated (fireworks on New Year's night reach some hundreds, and count).
    high=990,
    # Averages of a cycle's one-second readings, to 0.01: twenty equal in a row is a frozen
    # sensor; but on a clean day a PM sensor reads exactly 0 for hours.
    stuck=20,
    stuck_allowed=(0.0,),
    # A wood stove's plume or a passing lorry adds tens of µg/m³ for minutes: local and real,
    # so only a jump of more than 50 µg/m³ beyond eight spreads is called a spike.
    spike_floor=50,
    warm_up_s=30,  # the fan's spin-up (WARM_UP_S)
)
_NOISE = QualityRule(
    # Below about 20 dB(A) is under a MEMS microphone's own noise floor; above 130 dB(A) is
    # the threshold of pain, not street noise.
    low=20,
    high=130,
    stuck=10,  # a level to 0.01 dB(A) never repeats ten times from a working microphone
    spike_floor=None,  # a passing train is the measurement, not a fault
)
QUALITY: dict[str, QualityRule] = {
    "pm1": _PM,
    "pm25": _PM,
    "pm4": _PM,
    "pm10": _PM,
    # The Dutch records are -27.4 °C (1942) and 40.7 °C (2019); a box in the sun reads some
    # degrees above the air. A morning rises some degrees an hour: far under the floor.
    "temperature": QualityRule(low=-30, high=50, stuck=30, spike_floor=5),
    # In fog the sensor sits at exactly 100 % for hours: that repeats legitimately. Outdoors
    # in the Netherlands the air is never drier than about 10 %; 0-5 % is a failed sensor.
    "humidity": QualityRule(low=5, high=100, stuck=30, stuck_allowed=(100.0,), spike_floor=20),
    # At the kit, not reduced to sea level: the Dutch extremes are about 950-1050 hPa at sea
    # level, the kits stand between -7 m and 322 m. Pressure moves a few hPa an hour at most.
    "pressure": QualityRule(low=920, high=1060, stuck=30, spike_floor=4),
    # Outdoor air has about 420 ppm; an NDIR sensor reading below 350 is off its calibration.
    # The SCD30's specified range ends at 10,000 ppm. Breath near an indoor kit is real.
    "co2": QualityRule(low=350, high=10000, stuck=30, spike_floor=500, warm_up_s=120),
    "noise_laeq": _NOISE,
    "noise_lamin": _NOISE,
    "noise_lamax": _NOISE,
    "noise_la10": _NOISE,
    "noise_la90": _NOISE,
}

# Warm-up after the kit started, per sensor model (the reading's ``sensor``), in seconds;
# a model not named here has its quantity's ``warm_up_s``.
WARM_UP_S: dict[str, int] = {
    # Fan and laser: stable data about 30 s after wake-up (Plantower PMS5003 manual; Nova
    # SDS011 likewise; airRohr waits 15 s). The kit's sampler already waits this long in
    # every cycle; the gateway catches firmware that does not.
    "SDS011": 30,
    "PMS5003": 30,
    "PMS7003": 30,
    "SPS30": 30,  # Sensirion SPS30: start-up under 8 s, but its fan shares the PM rule
    # NDIR CO2: the SCD30 boots in under 2 s (Sensirion SCD30 Interface Description v1.0,
    # 2020), but the optical cell and its compensation settle over minutes; an SCD41 read
    # 830 -> 1170 ppm over its first minute in stable air (Sensirion/arduino-i2c-scd4x #13).
    "SCD30": 120,
    "SCD4x": 120,
}
