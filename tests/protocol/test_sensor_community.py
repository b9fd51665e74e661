"""Sensor.Community value types land on our quantities, in our units."""

from __future__ import annotations

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.protocol.sensor_community import DIAGNOSTIC_TYPES, VALUE_TYPES


def test_pm_size_names_follow_airrohr() -> None:
    assert VALUE_TYPES["SDS_P1"].quantity == "pm10"
    assert VALUE_TYPES["SDS_P2"].quantity == "pm25"
    assert VALUE_TYPES["PMS_P0"].quantity == "pm1"
    assert VALUE_TYPES["SPS30_P4"].quantity == "pm4"


def test_every_mapping_targets_a_known_quantity() -> None:
    assert {vt.quantity for vt in VALUE_TYPES.values()} <= set(QUANTITIES)


def test_bosch_pressure_in_pascal_becomes_plausible_hectopascal() -> None:
    for name in ("BME280_pressure", "BMP280_pressure", "pressure"):
        hpa = 100653.25 * VALUE_TYPES[name].scale
        assert QUANTITIES["pressure"].plausible(hpa)
        assert round(hpa, 4) == 1006.5325


def test_diagnostics_are_not_measurements() -> None:
    assert not DIAGNOSTIC_TYPES & set(VALUE_TYPES)
