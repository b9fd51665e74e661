"""Sensor.Community (airRohr) value types mapped onto our quantities.

airRohr names PM sizes P0 = PM1, P1 = PM10, P2 = PM2.5, P4 = PM4, prefixes each value type with
the sensor (``SDS_P1``) in its combined payload and strips the prefix when it posts one sensor at
a time (``P1``). Bosch pressures arrive in pascal::

    >>> VALUE_TYPES["SDS_P1"]
    ValueType(quantity='pm10', sensor='SDS011', scale=1.0)
    >>> VALUE_TYPES["BME280_pressure"].scale
    0.01
"""

from __future__ import annotations

from typing import NamedTuple


class ValueType(NamedTuple):
    quantity: str
    sensor: str | None
    scale: float = 1.0


_PA_TO_HPA = 0.01

VALUE_TYPES: dict[str, ValueType] = {
    "SDS_P1": ValueType("pm10", "SDS011"),
    "SDS_P2": ValueType("pm25", "SDS011"),
    "PMS_P0": ValueType("pm1", "PMS5003"),
    "PMS_P1": ValueType("pm10", "PMS5003"),
    "PMS_P2": ValueType("pm25", "PMS5003"),
    "HPM_P1": ValueType("pm10", "HPM"),
    "HPM_P2": ValueType("pm25", "HPM"),
    "NPM_P0": ValueType("pm1", "NextPM"),
    "NPM_P1": ValueType("pm10", "NextPM"),
    "NPM_P2": ValueType("pm25", "NextPM"),
    "SPS30_P0": ValueType("pm1", "SPS30"),
    "SPS30_P2": ValueType("pm25", "SPS30"),
    "SPS30_P4": ValueType("pm4", "SPS30"),
    "SPS30_P1": ValueType("pm10", "SPS30"),
    "BME280_temperature": ValueType("temperature", "BME280"),
    "BME280_humidity": ValueType("humidity", "BME280"),
    "BME280_pressure": ValueType("pressure", "BME280", _PA_TO_HPA),
    "BMP280_temperature": ValueType("temperature", "BMP280"),
    "BMP280_pressure": ValueType("pressure", "BMP280", _PA_TO_HPA),
    "BMP_temperature": ValueType("temperature", "BMP180"),
    "BMP_pressure": ValueType("pressure", "BMP180", _PA_TO_HPA),
    "SHT3X_temperature": ValueType("temperature", "SHT3x"),
    "SHT3X_humidity": ValueType("humidity", "SHT3x"),
    "HTU21D_temperature": ValueType("temperature", "HTU21D"),
    "HTU21D_humidity": ValueType("humidity", "HTU21D"),
    "DS18B20_temperature": ValueType("temperature", "DS18B20"),
    "SCD30_temperature": ValueType("temperature", "SCD30"),
    "SCD30_humidity": ValueType("humidity", "SCD30"),
    "SCD30_co2_ppm": ValueType("co2", "SCD30"),
    "DNMS_noise_LAeq": ValueType("noise_laeq", "DNMS"),
    "DNMS_noise_LA_min": ValueType("noise_lamin", "DNMS"),
    "DNMS_noise_LA_max": ValueType("noise_lamax", "DNMS"),
    # Unprefixed names, as posted one sensor at a time (the sensor is then only known from the
    # X-PIN header) and as sent by a DHT22, which never had a prefix.
    "P0": ValueType("pm1", None),
    "P1": ValueType("pm10", None),
    "P2": ValueType("pm25", None),
    "P4": ValueType("pm4", None),
    "temperature": ValueType("temperature", None),
    "humidity": ValueType("humidity", None),
    "pressure": ValueType("pressure", None, _PA_TO_HPA),
    "co2_ppm": ValueType("co2", None),
    "noise_LAeq": ValueType("noise_laeq", None),
    "noise_LA_min": ValueType("noise_lamin", None),
    "noise_LA_max": ValueType("noise_lamax", None),
}

# Diagnostics airRohr appends to every combined payload; they are not measurements.
DIAGNOSTIC_TYPES = frozenset({"samples", "min_micro", "max_micro", "interval", "signal"})
