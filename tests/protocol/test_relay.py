"""The relay batch: what a neighbourhood gateway sends its city gateway, and what the city
gateway makes of a batch that is wrong in part or as a whole."""

from __future__ import annotations

import json

import pytest

from lokaalmeten.protocol.relay import RelayedKit, RelayError, encode_batch, parse_batch
from lokaalmeten.readings import FLAG_STUCK, Reading

NOW = 1795737600


def test_a_batch_carries_readings_as_they_were_stored() -> None:
    readings = [
        Reading("esp32-0a1b2c", "pm25", NOW - 60, 7.5, "SDS011", FLAG_STUCK),
        Reading("esp32-0a1b2c", "temperature", NOW - 60, -3.25, "BME280"),
        Reading("ttn-lombok-3", "noise_laeq", NOW - 30, 54.1, None, 0),
    ]
    payload = encode_batch("lombok", readings)
    assert json.loads(payload)["readings"][0] == [
        "esp32-0a1b2c",
        "pm25",
        NOW - 60,
        7.5,
        "SDS011",
        FLAG_STUCK,
    ]
    batch = parse_batch(payload, NOW)
    assert batch.relay == "lombok"
    assert batch.readings == readings
    assert batch.problems == []


def test_wrong_readings_are_left_out_and_named_the_rest_kept() -> None:
    good = ["esp32-0a1b2c", "pm25", NOW, 7.5, "SDS011", 0]
    rows = [
        good,
        ["Not A Node", "pm25", NOW, 1.0, None, 0],
        ["esp32-0a1b2c", "colour", NOW, 1.0, None, 0],
        ["esp32-0a1b2c", "pm25", "yesterday", 1.0, None, 0],
        ["esp32-0a1b2c", "pm25", NOW + 3600, 1.0, None, 0],
        ["esp32-0a1b2c", "pm25", NOW, 99999.0, None, 0],
        ["esp32-0a1b2c", "pm25", NOW, "7.5", None, 0],
        ["esp32-0a1b2c", "pm25", NOW, 7.5, None, -1],
        ["esp32-0a1b2c", "pm25", NOW],
    ]
    payload = json.dumps({"v": 1, "relay": "lombok", "readings": rows}).encode()
    batch = parse_batch(payload, NOW)
    assert batch.readings == [Reading("esp32-0a1b2c", "pm25", NOW, 7.5, "SDS011", 0)]
    reasons = [reason for reason, _ in batch.problems]
    assert reasons == [
        "schema",
        "schema",
        "bad_time",
        "time_in_future",
        "out_of_range",
        "schema",
        "schema",
        "schema",
    ]
    assert "colour" in batch.problems[1][1]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff not json", "not_json"),
        (b"[1, 2]", "schema"),
        (b'{"v": 2, "relay": "lombok", "readings": []}', "schema"),
        (b'{"v": 1, "relay": "Lombok!", "readings": []}', "schema"),
        (b'{"v": 1, "relay": "lombok", "readings": {}}', "schema"),
    ],
)
def test_a_batch_that_is_not_one_is_refused_whole(payload: bytes, reason: str) -> None:
    with pytest.raises(RelayError) as caught:
        parse_batch(payload, NOW)
    assert caught.value.reason == reason


def test_a_batch_may_say_what_the_neighbourhood_publishes_of_its_kits() -> None:
    kit = RelayedKit("Balkon Lombok", "", 300.0, 52.091, 5.122, False, False, 4.0)
    payload = encode_batch(
        "lombok", [Reading("esp32-0a1b2c", "pm25", NOW, 7.5)], {"esp32-0a1b2c": kit}
    )
    assert json.loads(payload)["kits"]["esp32-0a1b2c"]["lat"] == 52.091
    assert parse_batch(payload, NOW).kits == {"esp32-0a1b2c": kit}
    bad = {
        "esp32-aaaaaa": {"name": 7},
        "esp32-bbbbbb": {"lat": 52.1},
        "esp32-cccccc": {"lat": 95.0, "lon": 5.0},
        "esp32-dddddd": {"colour": "red"},
        "esp32-eeeeee": {"exact": "yes"},
        "esp32-ffffff": {"interval": -5},
        "Not A Node": {},
    }
    doc = {"v": 1, "relay": "lombok", "readings": [], "kits": bad}
    batch = parse_batch(json.dumps(doc).encode(), NOW)
    assert batch.kits == {}
    assert len(batch.problems) == len(bad)
    assert all(reason == "schema" for reason, _ in batch.problems)
