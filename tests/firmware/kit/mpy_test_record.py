# MicroPython tests of the record builder and clock (run by tests/firmware/conftest.py).
import json

from kit import clock, record

MPY_HEAP = "64k"


def test_record_rounds_values_to_two_decimals():
    doc = json.loads(record.build("kit-1", 1, 1795824000, {"pm25": 7.456, "co2": 612.0}))
    assert doc["values"] == {"pm25": 7.46, "co2": 612.0}, doc


def test_unsynced_record_has_null_time():
    doc = json.loads(record.build("kit-1", 1, None, {"pm25": 1.0}))
    assert doc["time"] is None


def test_optional_keys_are_left_out_when_not_given():
    doc = json.loads(record.build("kit-1", 5, 1795824000, {"pm25": 1.0}))
    assert sorted(doc) == ["node", "seq", "time", "v", "values"], sorted(doc)


def test_a_dated_record_carries_the_uptime_too():
    # The gateway's warm-up rule reads it; backdating looks only at undated records.
    doc = json.loads(record.build("kit-1", 6, 1795824000, {"co2": 480.0}, uptime=(4, 65000)))
    assert doc["uptime"] == [4, 65000], doc
    assert "flags" not in doc  # dated: not clock_unsynced


def test_iso_utc_of_a_leap_day():
    assert clock.iso_utc(1709164800) == "2024-02-29T00:00:00Z"
