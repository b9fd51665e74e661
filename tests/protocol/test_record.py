"""Parsing a record into readings: every refusal has a reason, partial records keep the rest."""

from __future__ import annotations

import json

import pytest

from lokaalmeten.protocol.record import MAX_FUTURE_SECONDS, RecordError, parse_record
from lokaalmeten.readings import (
    FLAG_CLIPPED,
    FLAG_TIME_BACKDATED,
    FLAG_TIME_ESTIMATED,
    Reading,
)
from tests.helpers import record

NOW = 1795824000  # 2026-11-28T00:00:00Z


def refusal(payload: bytes, topic_node: str | None = "kit-1") -> str:
    with pytest.raises(RecordError) as caught:
        parse_record(payload, topic_node, NOW)
    return caught.value.reason


def test_good_record_becomes_readings() -> None:
    payload = json.dumps(
        {
            "v": 1,
            "node": "kit-1",
            "seq": 7,
            "time": "2026-11-27T23:00:00Z",
            "values": {"pm25": 7.5, "temperature": -2},
            "sensors": {"pm25": "SDS011"},
        }
    ).encode()
    parsed = parse_record(payload, "kit-1", NOW)
    assert parsed.seq == 7
    assert parsed.readings == [
        Reading("kit-1", "pm25", NOW - 3600, 7.5, "SDS011", 0),
        Reading("kit-1", "temperature", NOW - 3600, -2.0, None, 0),
    ]
    assert isinstance(parsed.readings[1].value, float)


def test_unsynced_time_becomes_receive_time_and_is_flagged() -> None:
    parsed = parse_record(record(time_text=None), "kit-1", NOW)
    assert parsed.readings[0].time == NOW
    assert parsed.readings[0].flags == FLAG_TIME_ESTIMATED


def test_an_undated_record_with_its_age_is_dated_that_much_before_its_receipt() -> None:
    doc = json.loads(record(time_text=None))
    doc.update(flags=["clock_unsynced"], uptime=[3, 5000], age_ms=125900)
    parsed = parse_record(json.dumps(doc).encode(), "kit-1", NOW)
    assert [(r.time, r.flags) for r in parsed.readings] == [(NOW - 125, FLAG_TIME_ESTIMATED)]


def test_a_record_dated_from_the_uptime_clock_is_flagged_backdated() -> None:
    doc = json.loads(record(time_text="2026-11-27T23:00:00Z"))
    doc["flags"] = ["clock_unsynced"]
    parsed = parse_record(json.dumps(doc).encode(), "kit-1", NOW)
    assert [(r.time, r.flags) for r in parsed.readings] == [(NOW - 3600, FLAG_TIME_BACKDATED)]


@pytest.mark.parametrize("age", [-1, 90 * 86400 * 1000 + 1, 1.5, "60000"])
def test_an_impossible_age_is_refused(age: object) -> None:
    doc = json.loads(record(time_text=None))
    doc["age_ms"] = age
    assert refusal(json.dumps(doc).encode()) == "schema"


def test_clipped_flag_is_carried_to_the_readings() -> None:
    doc = json.loads(record(noise_laeq=55.0))
    doc["flags"] = ["clipped"]
    parsed = parse_record(json.dumps(doc).encode(), "kit-1", NOW)
    assert parsed.readings[0].flags == FLAG_CLIPPED


def test_fractional_seconds_are_truncated() -> None:
    parsed = parse_record(record(time_text="2026-11-27T23:00:00.900Z"), "kit-1", NOW)
    assert parsed.readings[0].time == NOW - 3600


def test_out_of_range_value_is_refused_alone() -> None:
    parsed = parse_record(record(pm25=7.5, humidity=130.0), "kit-1", NOW)
    assert [r.quantity for r in parsed.readings] == ["pm25"]
    assert parsed.out_of_range == [("humidity", 130.0)]


def test_nan_and_infinity_are_out_of_range() -> None:
    payload = b'{"v":1,"node":"kit-1","seq":1,"time":null,"values":{"pm25":NaN,"pm10":Infinity}}'
    parsed = parse_record(payload, "kit-1", NOW)
    assert parsed.readings == []
    assert [q for q, _ in parsed.out_of_range] == ["pm25", "pm10"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not_json"),
        (b"{not json", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "schema"),
        (b'{"v":1}', "schema"),
        (record().replace(b'"pm25"', b'"pm2.5"'), "schema"),
        (b'{"v":1,"node":"kit-1","seq":1,"time":null,"values":{"pm25":true}}', "schema"),
        (record(time_text="2026-02-30T10:00:00Z"), "bad_time"),
        (record(time_text="2026-11-28T01:00:00Z"), "time_in_future"),
    ],
)
def test_refusals_carry_a_reason(payload: bytes, reason: str) -> None:
    assert refusal(payload) == reason


def test_node_in_payload_must_match_topic() -> None:
    assert refusal(record(node="kit-2"), topic_node="kit-1") == "node_mismatch"


def test_a_little_clock_skew_is_accepted() -> None:
    ahead = NOW + MAX_FUTURE_SECONDS - 1
    text = "2026-11-28T00:09:59Z"
    assert ahead == 1795824599
    assert parse_record(record(time_text=text), "kit-1", NOW).readings[0].time == ahead
