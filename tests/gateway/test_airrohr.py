"""airRohr's two formats, as its firmware sends them (docs/gateway.md; the firmware's source:
https://github.com/opendata-stuttgart/sensors-software)."""

from __future__ import annotations

import pytest

from lokaalmeten.gateway.airrohr import AirRohrError, parse_airrohr_json, parse_line_protocol
from lokaalmeten.readings import Reading

NOW = 1795824000

COMBINED = (
    b'{"esp8266id": "12345678", "software_version": "NRZ-2024-135", "sensordatavalues":['
    b'{"value_type":"SDS_P1","value":"12.30"},{"value_type":"SDS_P2","value":"8.10"},'
    b'{"value_type":"BME280_temperature","value":"21.40"},'
    b'{"value_type":"BME280_pressure","value":"100653.25"},'
    b'{"value_type":"BME280_humidity","value":"55.20"},{"value_type":"samples","value":"612345"},'
    b'{"value_type":"min_micro","value":"33"},{"value_type":"max_micro","value":"20512"},'
    b'{"value_type":"interval","value":"145000"},{"value_type":"signal","value":"-67"}]}'
)


def test_combined_payload_becomes_our_quantities_in_our_units() -> None:
    parsed = parse_airrohr_json(COMBINED, "esp8266-12345678", NOW)
    node = "esp8266-12345678"
    assert parsed.node == node
    assert parsed.readings == [
        Reading(node, "pm10", NOW, 12.3, "SDS011"),
        Reading(node, "pm25", NOW, 8.1, "SDS011"),
        Reading(node, "temperature", NOW, 21.4, "BME280"),
        Reading(node, "pressure", NOW, pytest.approx(1006.5325), "BME280"),  # type: ignore[arg-type]
        Reading(node, "humidity", NOW, 55.2, "BME280"),
    ]
    assert parsed.rssi == -67
    assert parsed.problems == []


def test_node_id_from_chip_id_when_there_is_no_x_sensor_header() -> None:
    assert parse_airrohr_json(COMBINED, None, NOW).node == "esp8266-12345678"
    assert parse_airrohr_json(COMBINED, "ESP32-A1B2C3", NOW).node == "esp32-a1b2c3"


def test_per_sensor_post_without_prefix() -> None:
    body = (
        b'{"software_version": "NRZ-2024-135", "sensordatavalues":['
        b'{"value_type":"noise_LAeq","value":"45.30"},'
        b'{"value_type":"noise_LA_min","value":"38.10"},'
        b'{"value_type":"noise_LA_max","value":"61.70"}]}'
    )
    parsed = parse_airrohr_json(body, "esp8266-12345678", NOW)
    assert [(r.quantity, r.value, r.sensor) for r in parsed.readings] == [
        ("noise_laeq", 45.3, None),
        ("noise_lamin", 38.1, None),
        ("noise_lamax", 61.7, None),
    ]


def test_bad_values_are_left_out_with_a_reason_and_the_rest_kept() -> None:
    body = (
        b'{"esp8266id": "1", "sensordatavalues":[{"value_type":"SDS_P2","value":"n/a"},'
        b'{"value_type":"SDS_P1","value":"99999"},{"value_type":"GPS_lat","value":"52.1"},'
        b'{"value_type":"BME280_humidity","value":"55.2"}]}'
    )
    parsed = parse_airrohr_json(body, None, NOW)
    assert [r.quantity for r in parsed.readings] == ["humidity"]
    assert [reason for reason, _ in parsed.problems] == [
        "not_a_number",
        "out_of_range",
        "unknown_value_type",
    ]


@pytest.mark.parametrize(
    ("body", "header", "reason"),
    [
        (b"not json", None, "not_json"),
        (b'{"esp8266id": "1"}', None, "schema"),
        (b'{"sensordatavalues": []}', None, "bad_node"),
        (b'{"sensordatavalues": []}', "esp8266 with spaces", "bad_node"),
    ],
)
def test_unusable_payloads_are_refused(body: bytes, header: str | None, reason: str) -> None:
    with pytest.raises(AirRohrError) as caught:
        parse_airrohr_json(body, header, NOW)
    assert caught.value.reason == reason


def test_line_protocol_as_airrohr_sends_it() -> None:
    body = (
        b"feinstaub,node=esp8266-12345678 SDS_P1=12.30,SDS_P2=8.10,BME280_temperature=21.40,"
        b"BME280_pressure=100653.25,BME280_humidity=55.20,samples=612345,min_micro=33,"
        b"max_micro=20512,interval=145000,signal=-67\n"
    )
    (group,) = parse_line_protocol(body, NOW)
    assert group.node == "esp8266-12345678"
    assert [(r.quantity, round(r.value, 4), r.time) for r in group.readings] == [
        ("pm10", 12.3, NOW),
        ("pm25", 8.1, NOW),
        ("temperature", 21.4, NOW),
        ("pressure", 1006.5325, NOW),
        ("humidity", 55.2, NOW),
    ]
    assert group.rssi == -67


def test_line_protocol_timestamps_escapes_and_types() -> None:
    body = (
        b'feinstaub,node=esp32-ab,place=Grote\\ Markt SDS_P2=7i,note="a, b" 1795820400\n'
        b"# a comment\n\n"
        b"feinstaub,node=esp32-cd SDS_P2=9.5 1795820400000\n"
    )
    groups = parse_line_protocol(body, NOW, precision="s")
    assert [g.node for g in groups] == ["esp32-ab", "esp32-cd"]
    assert groups[0].readings == [Reading("esp32-ab", "pm25", 1795820400, 7.0, "SDS011")]
    assert groups[0].problems == [("unknown_value_type", "note='a, b'")]
    ms = parse_line_protocol(b"f,node=esp32-cd SDS_P2=9.5 1795820400000\n", NOW, precision="ms")
    assert ms[0].readings[0].time == 1795820400


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"feinstaub,node=esp32-ab SDS_P1", "bad_line"),
        (b"one two three four", "bad_line"),
        (b"feinstaub,node=esp32-ab SDS_P1=1 notatime", "bad_line"),
        (b"\xff\xfe", "not_utf8"),
        (b"feinstaub SDS_P1=1", "bad_node"),
    ],
)
def test_bad_line_protocol_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(AirRohrError) as caught:
        parse_line_protocol(body, NOW)
    assert caught.value.reason == reason
