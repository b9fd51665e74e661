"""Synthetic co-located series with known factors: a station's hourly PM, and a kit that
reads it as (reference − offset) / slope, swollen by its own humidity, with noise."""

from __future__ import annotations

import random
from pathlib import Path

from lokaalmeten.calibration.humidity import growth_factor
from lokaalmeten.readings import Reading

T0 = 1795824000  # 2026-11-28T00:00:00Z
STATION = ("NL10636", 52.105, 5.128)
NEAR = (52.1090, 5.1290)  # about 450 m from the station
FAR = (52.2000, 5.3000)  # about 15 km away
SLOPE, OFFSET, KAPPA = 1.6, 2.5, 0.4
PER_HOUR = 25  # a reading every 144 s: above the 19 an hour needs to be valid


def colocated(
    hours: int, seed: int = 14, node: str = "kit-1", noise: float = 1.0
) -> tuple[list[Reading], list[str]]:
    """Readings of the kit (pm25 and humidity) and the station's CSV lines, hour by hour."""
    rng = random.Random(seed)
    readings: list[Reading] = []
    lines = ["station,time,component,value,latitude,longitude,name"]
    for h in range(hours):
        start = T0 + 3600 * h
        reference = rng.uniform(3.0, 40.0)
        humidity = rng.uniform(35.0, 93.0)
        factor = growth_factor(humidity, KAPPA)
        assert factor is not None
        dry = (reference - OFFSET) / SLOPE
        for i in range(PER_HOUR):
            t = start + 144 * i
            value = max(0.0, dry * factor + rng.gauss(0, noise))
            readings.append(Reading(node, "pm25", t, round(value, 2), "SDS011"))
            readings.append(Reading(node, "humidity", t, round(humidity, 1), "BME280"))
        end_stamp = start + 3600  # Luchtmeetnet stamps the end of the hour
        lines.append(
            f"{STATION[0]},{_iso(end_stamp)},PM25,{reference:.1f},{STATION[1]},{STATION[2]},"
            "Utrecht-Kardinaal de Jongweg"
        )
    return readings, lines


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _iso(epoch: int) -> str:
    from lokaalmeten.readings import iso_utc

    return iso_utc(epoch)
