"""Quality flags at ingest: each rule flags what it should, weather stays unflagged, and no
value is ever changed. Records go through the real validator, as every ingest path does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lokaalmeten.calibration.humidity import KAPPA_URBAN, MAX_HUMIDITY, corrected
from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.quality import QualityStage, distance_km, quality_stage, rules_table
from lokaalmeten.gateway.validate import RecordValidator
from lokaalmeten.protocol.quantities import QUALITY, QUANTITIES
from lokaalmeten.readings import (
    FLAG_HIGH_HUMIDITY,
    FLAG_IMPLAUSIBLE,
    FLAG_NAMES,
    FLAG_TIME_BACKDATED,
    FLAG_WARMING_UP,
    Reading,
    flag_names,
)
from lokaalmeten.settings import GatewaySettings

T0 = 1795780800  # 2026-11-27T12:00:00Z
NOW = T0 + 86400


def payload(node: str, seq: int, time: int, values: dict[str, float], **extra: Any) -> bytes:
    moment = f"{_iso(time)}"
    doc = {"v": 1, "node": node, "seq": seq, "time": moment, "values": values, **extra}
    return json.dumps(doc).encode()


def _iso(epoch: int) -> str:
    from lokaalmeten.readings import iso_utc

    return iso_utc(epoch)


class Kit:
    """One kit sending a record a minute through a validator with a quality stage."""

    def __init__(self, validator: RecordValidator, node: str = "kit-1") -> None:
        self.validator = validator
        self.node = node
        self.seq = 0

    def send(self, minute: int, values: dict[str, float], **extra: Any) -> list[Reading]:
        self.seq += 1
        body = payload(self.node, self.seq, T0 + 60 * minute, values, **extra)
        checked = self.validator.record("test", self.node, body, NOW)
        assert not checked.refusals, checked.refusals
        return checked.readings


def validator(stage: QualityStage | None = None) -> RecordValidator:
    return RecordValidator(GatewayMetrics(), "lokaalmeten", quality=stage or QualityStage())


def flags_of(readings: list[Reading], quantity: str) -> list[str]:
    return [name for r in readings if r.quantity == quantity for name in flag_names(r.flags)]


def test_every_quantity_has_a_quality_rule_inside_its_hard_range() -> None:
    assert set(QUALITY) == set(QUANTITIES)
    for name, rule in QUALITY.items():
        hard = QUANTITIES[name]
        assert hard.minimum <= rule.low < rule.high <= hard.maximum, name
        # Narrower, or the flag would never be set apart from the refusal.
        assert (rule.low, rule.high) != (hard.minimum, hard.maximum), name


def test_the_documented_thresholds_are_the_table() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "quality.md").read_text()
    assert rules_table() in doc, "docs/quality.md: paste gateway.quality.rules_table()"
    for _, name in FLAG_NAMES:
        assert f"| `{name}` |" in doc, name


def test_a_stuck_sensor_is_flagged_from_the_repeat_that_makes_it_stuck() -> None:
    kit = Kit(validator())
    runs = [kit.send(m, {"pm25": 12.34, "temperature": 5 + m / 100}) for m in range(25)]
    stuck = [i for i, readings in enumerate(runs) if "stuck" in flags_of(readings, "pm25")]
    assert stuck == list(range(20 - 1, 25))  # the 20th equal value on
    assert QUALITY["pm25"].stuck == 20
    assert all(r.value == 12.34 for readings in runs for r in readings if r.quantity == "pm25")
    assert all(flags_of(readings, "temperature") == [] for readings in runs)
    # It moves again: no longer stuck.
    assert flags_of(kit.send(25, {"pm25": 12.5}), "pm25") == []


def test_zero_pm_on_a_clean_day_and_100_percent_in_fog_are_not_stuck() -> None:
    kit = Kit(validator())
    for minute in range(180):
        readings = kit.send(minute, {"pm10": 0.0, "humidity": 100.0, "temperature": 3.0})
        assert flags_of(readings, "pm10") == ["high_humidity"]  # fog: PM over-reads
        assert flags_of(readings, "humidity") == []
    # A temperature to 0.01 °C equal for three hours is a frozen sensor, though.
    assert flags_of(readings, "temperature") == ["stuck"]


def test_a_spike_is_flagged_and_the_readings_around_it_are_not() -> None:
    kit = Kit(validator())
    noise = [0.3, -0.2, 0.1, -0.4, 0.2, 0.0, -0.1, 0.3, -0.3, 0.1]
    for minute in range(30):
        assert (
            flags_of(kit.send(minute, {"temperature": 8 + noise[minute % 10]}), "temperature") == []
        )
    spike = kit.send(30, {"temperature": 31.5})
    assert flags_of(spike, "temperature") == ["spike"]
    assert spike[0].value == 31.5
    assert flags_of(kit.send(31, {"temperature": 8.2}), "temperature") == []


def test_a_steady_morning_rise_and_a_lasting_change_are_not_spikes() -> None:
    kit = Kit(validator())
    # From 2 °C at dawn to 14 °C at noon: 2 °C an hour, minute by minute.
    for minute in range(360):
        readings = kit.send(
            minute, {"temperature": 2 + minute / 30, "pressure": 1012.0 - minute / 120}
        )
        assert [r.flags for r in readings] == [0, 0], minute
    # PM jumps from 10 to 45 as the wind turns and stays there: a new level, never a spike.
    for minute in range(360, 400):
        assert (
            flags_of(
                kit.send(
                    minute, {"pm25": 10.0 + minute % 3 if minute < 380 else 45.0 + minute % 2}
                ),
                "pm25",
            )
            == []
        )


def test_neighbours_that_jump_together_make_it_weather_not_a_spike() -> None:
    places = {"kit-a": (52.0900, 5.1200), "kit-b": (52.0950, 5.1250), "kit-far": (52.3700, 4.9000)}
    stage = QualityStage(neighbour_radius_km=2.0, places=lambda: places)
    check = validator(stage)
    a, b, far = Kit(check, "kit-a"), Kit(check, "kit-b"), Kit(check, "kit-far")
    for minute in range(20):
        for kit in (a, b, far):
            kit.send(minute, {"pm25": 10.0 + minute % 3})
    # Fireworks at midnight: kit-b sees them first, kit-a a minute later.
    assert flags_of(b.send(20, {"pm25": 300.0}), "pm25") == ["spike"]  # nobody else yet
    for minute in range(21, 26):  # kit-b stays high: its own median catches up
        b.send(minute, {"pm25": 300.0 + minute})
    assert flags_of(a.send(26, {"pm25": 310.0}), "pm25") == []  # its neighbour saw it too
    # kit-far is 30 km away: not a neighbour, so its own jump is a spike.
    assert distance_km(places["kit-a"], places["kit-far"]) > 25
    assert flags_of(far.send(26, {"pm25": 310.0}), "pm25") == ["spike"]


def test_pm_in_a_humid_hour_is_flagged_from_the_same_record_or_a_recent_one() -> None:
    kit = Kit(validator())
    readings = kit.send(0, {"pm25": 18.0, "pm10": 25.0, "humidity": 96.5, "temperature": 4.0})
    assert {r.quantity: flag_names(r.flags) for r in readings} == {
        "pm25": ["high_humidity"],
        "pm10": ["high_humidity"],
        "humidity": [],
        "temperature": [],
    }
    assert flags_of(kit.send(4, {"pm25": 18.5}), "pm25") == ["high_humidity"]  # 4 min after
    assert flags_of(kit.send(10, {"pm25": 18.7}), "pm25") == []  # 10 min: nothing known
    assert flags_of(kit.send(11, {"pm25": 18.9, "humidity": 80.0}), "pm25") == []
    # The threshold is a setting.
    strict = Kit(validator(QualityStage(humidity_threshold=75.0)))
    assert flags_of(strict.send(0, {"pm25": 18.0, "humidity": 80.0}), "pm25") == ["high_humidity"]


def test_a_humid_winter_hour_is_left_to_the_correction_and_only_fog_is_flagged() -> None:
    """Dutch winter air holds 85-95 % RH for days: flagged, those hours left every PM
    aggregate, and with them the very hours the humidity correction (docs/calibration.md)
    is for. Only where the correction gives up (from 95 % RH, fog) is PM flagged."""
    kit = Kit(validator())
    humid = kit.send(0, {"pm25": 18.0, "humidity": 92.0})
    assert flags_of(humid, "pm25") == []
    assert corrected(18.0, 92.0, KAPPA_URBAN) is not None  # the hour can be corrected
    fog = kit.send(1, {"pm25": 18.5, "humidity": MAX_HUMIDITY})
    assert flags_of(fog, "pm25") == ["high_humidity"]
    assert corrected(18.5, MAX_HUMIDITY, KAPPA_URBAN) is None  # and cannot
    assert GatewaySettings().quality_humidity == MAX_HUMIDITY


def test_an_implausible_value_is_kept_and_flagged_and_an_impossible_one_refused() -> None:
    check = validator()
    kit = Kit(check)
    readings = kit.send(0, {"temperature": 61.0, "humidity": 2.0, "pm25": 7.0})
    assert {r.quantity: (r.value, flag_names(r.flags)) for r in readings} == {
        "temperature": (61.0, ["implausible"]),
        "humidity": (2.0, ["implausible"]),
        "pm25": (7.0, []),
    }
    refused = check.record(
        "test", "kit-1", payload("kit-1", 99, T0 + 600, {"temperature": 90.0}), NOW
    )
    assert [r.reason for r in refused.refusals] == ["out_of_range"]


def test_readings_made_while_the_sensor_warms_up_are_flagged() -> None:
    kit = Kit(validator())
    sensors = {"pm25": "SDS011", "co2": "SCD30", "temperature": "BME280"}
    early = kit.send(
        0, {"pm25": 9.0, "co2": 480.0, "temperature": 6.0}, sensors=sensors, uptime=[3, 12000]
    )
    assert {r.quantity: flag_names(r.flags) for r in early} == {
        "pm25": ["warming_up"],
        "co2": ["warming_up"],
        "temperature": [],
    }
    later = kit.send(
        1, {"pm25": 9.0, "co2": 482.0, "temperature": 6.0}, sensors=sensors, uptime=[3, 72000]
    )
    assert {r.quantity: flag_names(r.flags) for r in later} == {
        "pm25": [],
        "co2": ["warming_up"],  # an NDIR cell settles for minutes
        "temperature": [],
    }
    settled = kit.send(2, {"co2": 485.0}, sensors=sensors, uptime=[3, 132000])
    assert flags_of(settled, "co2") == []
    # A record that says nothing of its uptime is not judged by it.
    assert flags_of(kit.send(3, {"co2": 486.0}, sensors=sensors), "co2") == []


def test_a_backdated_record_keeps_its_time_flag_beside_the_quality_flags() -> None:
    kit = Kit(validator())
    readings = kit.send(
        0, {"pm25": 9.0}, flags=["clock_unsynced"], uptime=[1, 5000], sensors={"pm25": "PMS5003"}
    )
    assert readings[0].flags == FLAG_TIME_BACKDATED | FLAG_WARMING_UP


def test_a_resent_record_gets_the_same_flags_and_does_not_count_as_a_repeat() -> None:
    check = validator()
    body = payload("kit-1", 1, T0, {"pm25": 12.34, "humidity": 96.0})
    first = check.record("test", "kit-1", body, NOW).readings
    for _ in range(40):  # at-least-once: the same record again and again
        again = check.record("test", "kit-1", body, NOW).readings
        assert again == first
    assert [r.flags for r in first] == [FLAG_HIGH_HUMIDITY, 0]


def test_a_late_reading_is_judged_only_by_the_rules_without_history() -> None:
    kit = Kit(validator())
    for minute in range(10, 20):
        kit.send(minute, {"temperature": 8.0 + minute / 100})
    late = kit.send(0, {"temperature": 30.0, "pm25": 5.0, "humidity": 97.0})
    assert {r.quantity: flag_names(r.flags) for r in late} == {
        "temperature": [],  # older than the latest: no spike judged
        "pm25": ["high_humidity"],
        "humidity": [],
    }


def test_the_state_stays_bounded_with_many_nodes() -> None:
    stage = QualityStage(max_series=50)
    for n in range(1000):
        stage.flag(
            [Reading(f"kit-{n}", "pm25", T0, 5.0), Reading(f"kit-{n}", "humidity", T0, 50.0)]
        )
    assert len(stage._series) <= 50
    assert len(stage._humidity) <= 50


def test_no_flags_when_the_settings_turn_quality_off() -> None:
    assert quality_stage(GatewaySettings(quality=False), None) is None
    on = quality_stage(GatewaySettings(quality_humidity=70.0), None)
    assert on is not None and on.humidity_threshold == 70.0
    check = RecordValidator(GatewayMetrics(), "lokaalmeten")
    readings = check.record(
        "test", "kit-1", payload("kit-1", 1, T0, {"temperature": 61.0}), NOW
    ).readings
    assert readings[0].flags == 0


def test_flags_are_only_added() -> None:
    stage = QualityStage()
    [reading] = stage.flag([Reading("kit-1", "noise_laeq", T0, 150.0 - 20, "INMP441", 2)])
    assert reading.flags == 2  # clipped stays; 130 is the plausible top, not above it
    [loud] = stage.flag([Reading("kit-1", "noise_laeq", T0 + 60, 135.0, "INMP441", 2)])
    assert loud.flags == 2 | FLAG_IMPLAUSIBLE
    assert loud.value == 135.0
