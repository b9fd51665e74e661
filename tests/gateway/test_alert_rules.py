"""Each alert rule raises and resolves, judged on readings and a clock the test sets, with the
real alert book and node directory in a SQLite file. The readings carry the quality flags
gateway/quality.py sets at ingest; here the test sets them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from lokaalmeten.gateway.alert_book import AlertBook, AlertKey, AlertReader
from lokaalmeten.gateway.alerts import AlertEngine, AlertRules
from lokaalmeten.gateway.directory import Directory, Edit
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.protocol.status import StatusReport
from lokaalmeten.readings import (
    FLAG_HIGH_HUMIDITY,
    FLAG_IMPLAUSIBLE,
    FLAG_SPIKE,
    FLAG_STUCK,
    Reading,
)
from lokaalmeten.settings import GatewaySettings

T0 = 1_795_737_600.0
RULES = AlertRules(offline_intervals=4, interval=60, flag_share=0.5, flag_min_readings=4)


class Rig:
    def __init__(self, folder: Path, rules: AlertRules = RULES) -> None:
        self.path = folder / "registry.db"
        self.directory = Directory(self.path)
        self.book = AlertBook(self.path, ["webhook", "mqtt"])
        self.engine = AlertEngine(self.book, rules, self.directory.entries, T0)

    def send(self, now: float, node: str = "kit-1", flags: int = 0, **values: float) -> None:
        self.engine.readings(
            [Reading(node, q, int(now), v, None, flags) for q, v in values.items()], now
        )

    def changes(self, now: float) -> list[tuple[str, str, str, str]]:
        return [
            (e.change, e.alert.kind, e.alert.node, e.alert.quantity)
            for e in self.engine.evaluate(now)
        ]

    def restart(self, started: float = T0) -> None:
        self.engine.save()  # as the gateway's stop does
        self.book.close()
        self.book = AlertBook(self.path, ["webhook", "mqtt"])
        self.engine = AlertEngine(self.book, self.engine.rules, self.directory.entries, started)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_a_silent_kit_is_offline_after_n_intervals_and_back_with_a_reading(rig: Rig) -> None:
    rig.send(T0, pm25=5.0)
    assert rig.changes(T0 + 240) == []  # 4 x 60 s: not more than
    assert rig.changes(T0 + 241) == [("raised", "offline", "kit-1", "")]
    assert rig.changes(T0 + 300) == []  # raised once
    (alert,) = rig.book.open_alerts().values()
    assert alert.message == (
        "Kit kit-1 sends nothing: no reading for more than 4 x its interval of 60 s "
        "(last reading: 2026-11-27T00:00:00Z, 4 min ago)."
    )
    rig.send(T0 + 310, pm25=5.0)
    assert rig.changes(T0 + 310) == [("resolved", "offline", "kit-1", "")]
    assert rig.book.open_alerts() == {}


def test_the_kits_own_interval_from_the_directory_counts(rig: Rig) -> None:
    rig.directory.edit("kit-1", Edit(interval=300))
    rig.send(T0, pm25=5.0)
    assert rig.changes(T0 + 1000) == []  # 1000 s < 4 x 300 s
    assert rig.changes(T0 + 1201) == [("raised", "offline", "kit-1", "")]


def test_a_last_will_is_offline_at_once_until_a_reading_comes(rig: Rig) -> None:
    rig.send(T0, pm25=5.0)
    rig.directory.report_status("kit-1", StatusReport("offline"), int(T0) + 10, retained=False)
    assert rig.changes(T0 + 11) == [("raised", "offline", "kit-1", "")]
    assert "status says so" in rig.book.open_alerts()[AlertKey("offline", "kit-1")].message
    rig.send(T0 + 20, pm25=5.0)  # it sends again (say over HTTP) before a new status
    assert rig.changes(T0 + 20) == [("resolved", "offline", "kit-1", "")]


def test_a_kit_never_heard_since_the_start_counts_from_the_start(rig: Rig) -> None:
    rig.directory.report_status("kit-9", StatusReport("online"), int(T0) - 5000, retained=True)
    assert rig.changes(T0 + 200) == []
    assert rig.changes(T0 + 241) == [("raised", "offline", "kit-9", "")]


def test_a_quantity_silent_while_others_arrive_is_a_dead_sensor(rig: Rig) -> None:
    for step in range(0, 7):
        rig.send(T0 + 60 * step, pm25=5.0, temperature=10.0 + step)
    for step in range(7, 12):
        rig.send(T0 + 60 * step, temperature=10.0 + step)  # the PM sensor fell silent
        rig.changes(T0 + 60 * step)
    assert rig.book.open_alerts().keys() == {AlertKey("dead_sensor", "kit-1", "pm25")}
    alert = rig.book.open_alerts()[AlertKey("dead_sensor", "kit-1", "pm25")]
    assert alert.opened == int(T0 + 60 * 11)  # 6*60 + 300 > 240 first at step 11
    assert "no pm25" in alert.message and "still sends other quantities" in alert.message
    rig.send(T0 + 60 * 12, pm25=6.0, temperature=3.0)
    assert rig.changes(T0 + 60 * 12) == [("resolved", "dead_sensor", "kit-1", "pm25")]


def test_a_wholly_silent_kit_is_offline_not_a_dead_sensor_for_each_quantity(rig: Rig) -> None:
    rig.send(T0, pm25=5.0, temperature=10.0)
    assert rig.changes(T0 + 1000) == [("raised", "offline", "kit-1", "")]


def test_readings_flagged_stuck_raise_and_one_without_resolves(rig: Rig) -> None:
    rig.send(T0, pm25=5.0)
    rig.send(T0 + 60, flags=FLAG_STUCK, pm25=5.0)
    assert rig.changes(T0 + 60) == [("raised", "stuck", "kit-1", "pm25")]
    rig.send(T0 + 120, flags=FLAG_STUCK, pm25=5.0)
    assert rig.changes(T0 + 120) == []
    rig.send(T0 + 180, pm25=5.5)
    assert rig.changes(T0 + 180) == [("resolved", "stuck", "kit-1", "pm25")]


def test_more_than_half_flagged_in_the_hour_is_persistent(rig: Rig) -> None:
    flags = [FLAG_SPIKE, 0, FLAG_IMPLAUSIBLE, FLAG_SPIKE]  # 3 of 4
    for step, bits in enumerate(flags):
        rig.send(T0 + 60 * step, flags=bits, pm25=80.0)
    raised = rig.changes(T0 + 180)
    assert raised == [("raised", "persistent_flags", "kit-1", "pm25")]
    message = rig.book.open_alerts()[AlertKey("persistent_flags", "kit-1", "pm25")].message
    assert "3 of its last hour's 4 pm25 readings (75%)" in message
    assert "implausible or spike" in message
    for step in range(4, 8):  # clean readings: 3 of 8 is not more than half
        rig.send(T0 + 60 * step, pm25=9.0)
    assert rig.changes(T0 + 420) == [("resolved", "persistent_flags", "kit-1", "pm25")]


def test_half_exactly_or_too_few_readings_raise_nothing(rig: Rig) -> None:
    rig.send(T0, flags=FLAG_SPIKE, pm25=80.0)
    rig.send(T0 + 60, flags=FLAG_SPIKE, pm25=80.0)
    rig.send(T0 + 120, flags=FLAG_SPIKE, pm25=80.0)
    assert rig.changes(T0 + 120) == []  # 3 readings, fewer than 4
    rig.send(T0 + 180, pm25=8.0)
    rig.send(T0 + 240, pm25=8.0)
    rig.send(T0 + 300, pm25=8.0)
    assert rig.changes(T0 + 300) == []  # 3 of 6: not more than half


def test_flags_older_than_an_hour_no_longer_count(rig: Rig) -> None:
    for step in range(4):
        rig.send(T0 + 60 * step, flags=FLAG_SPIKE, pm25=80.0)
    assert rig.changes(T0 + 180) == [("raised", "persistent_flags", "kit-1", "pm25")]
    for step in range(4):
        rig.send(T0 + 3700 + 60 * step, pm25=8.0)
    assert ("resolved", "persistent_flags", "kit-1", "pm25") in rig.changes(T0 + 3900)


def test_fog_is_weather_high_humidity_does_not_count_by_default(rig: Rig) -> None:
    for step in range(6):
        rig.send(T0 + 60 * step, flags=FLAG_HIGH_HUMIDITY, pm25=40.0)
    assert rig.changes(T0 + 300) == []


def test_the_flag_set_is_a_setting(tmp_path: Path) -> None:
    rules = AlertRules.of(GatewaySettings(alert_flags="high_humidity", alert_interval=60))
    rig = Rig(tmp_path, rules)
    for step in range(4):
        rig.send(T0 + 60 * step, flags=FLAG_HIGH_HUMIDITY, pm25=40.0)
    assert rig.changes(T0 + 180) == [("raised", "persistent_flags", "kit-1", "pm25")]


def test_open_alerts_and_the_silence_survive_a_restart(rig: Rig) -> None:
    rig.send(T0, pm25=5.0, temperature=3.0)
    rig.send(T0 + 60, flags=FLAG_STUCK, pm25=5.0)
    rig.send(T0 + 60, temperature=3.1)
    assert rig.changes(T0 + 60) == [("raised", "stuck", "kit-1", "pm25")]
    rig.restart()
    # The kit's last reading is remembered: silent since T0+60, not since the restart.
    assert rig.changes(T0 + 200) == []
    assert rig.changes(T0 + 301) == [("raised", "offline", "kit-1", "")]
    assert set(rig.book.open_alerts()) == {
        AlertKey("stuck", "kit-1", "pm25"),
        AlertKey("offline", "kit-1"),
    }
    rig.send(T0 + 400, pm25=5.1, temperature=3.0)
    assert sorted(rig.changes(T0 + 400)) == [
        ("resolved", "offline", "kit-1", ""),
        ("resolved", "stuck", "kit-1", "pm25"),
    ]


def test_every_event_is_in_the_outbox_of_every_sink_with_its_body(rig: Rig) -> None:
    rig.send(T0, flags=FLAG_STUCK, pm25=5.0)
    rig.changes(T0)
    rig.send(T0 + 60, pm25=5.5)
    rig.changes(T0 + 60)
    assert rig.book.outbox_depth() == {"webhook": 2, "mqtt": 2}
    event_id, body = rig.book.next_event("webhook") or ("", "")
    doc = json.loads(body)
    assert doc["event"] == event_id and doc["change"] == "raised"
    assert doc["alert"]["kind"] == "stuck" and doc["alert"]["quantity"] == "pm25"
    assert doc["alert"]["opened"] == "2026-11-27T00:00:00Z" and doc["alert"]["resolved"] is None
    rig.book.delivered("webhook", event_id)
    assert rig.book.outbox_depth() == {"webhook": 1, "mqtt": 2}
    second_id, second = rig.book.next_event("webhook") or ("", "")
    assert json.loads(second)["change"] == "resolved"
    assert json.loads(second)["alert"]["id"] == doc["alert"]["id"]
    assert json.loads(second)["alert"]["message"] == "Kit kit-1's pm25 values change again."
    assert json.loads(second)["alert"]["resolved"] == "2026-11-27T00:01:00Z"
    assert second_id != event_id


def test_the_reader_sees_open_alerts_read_only(rig: Rig) -> None:
    reader = AlertReader(rig.path)
    assert reader.open_alerts() == {}
    rig.send(T0, flags=FLAG_STUCK, pm25=5.0)
    rig.changes(T0)
    (alert,) = reader.open_alerts()["kit-1"]
    assert alert.kind == "stuck" and alert.resolved is None
    with pytest.raises(sqlite3.OperationalError):
        reader._conn.execute("DELETE FROM alert")  # type: ignore[union-attr]
    reader.close()


def test_the_reader_of_a_file_not_made_yet_sees_no_alerts(tmp_path: Path) -> None:
    assert AlertReader(tmp_path / "none.db").open_alerts() == {}
    sqlite3.connect(tmp_path / "old.db").execute("CREATE TABLE node (name TEXT)").connection.close()
    assert AlertReader(tmp_path / "old.db").open_alerts() == {}


def test_bad_alert_settings_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="unknown flag foggy"):
        GatewaySettings(alert_flags="spike,foggy")
    with pytest.raises(ValueError, match="http:// or https:// URL"):
        GatewaySettings(alert_webhook="127.0.0.1:9000/hook")


def test_a_kit_removed_from_the_registry_is_no_longer_watched(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    registry.add("kit-1")
    rig = Rig(tmp_path)
    rig.engine = AlertEngine(rig.book, RULES, rig.directory.entries, T0, known=registry.known)
    rig.send(T0, pm25=5.0)
    assert rig.changes(T0 + 241) == [("raised", "offline", "kit-1", "")]
    registry.remove("kit-1")
    (event,) = rig.engine.evaluate(T0 + 300)
    assert event.change == "resolved" and event.alert.kind == "offline"
    assert event.alert.message == "Kit kit-1 is no longer registered."
    assert rig.changes(T0 + 900) == []  # and not raised again


def test_readings_ask_for_a_judgement_only_when_one_may_change_an_alert(rig: Rig) -> None:
    def due(now: float, flags: int = 0) -> bool:
        return rig.engine.readings([Reading("kit-1", "pm25", int(now), 5.0, None, flags)], now)

    assert not due(T0)  # an ordinary reading
    assert not due(T0 + 60, FLAG_SPIKE)  # a share of an hour: the timer judges it
    assert due(T0 + 120, FLAG_STUCK)  # stuck now: raise at once
    assert not due(T0 + 180, FLAG_STUCK)  # still stuck: nothing new
    rig.changes(T0 + 180)
    assert due(T0 + 240)  # the first unstuck reading may resolve the open alert
    assert not due(T0 + 241)  # ... asked once until the next judgement
    assert ("raised", "offline", "kit-1", "") in rig.changes(T0 + 1000)
    assert due(T0 + 1001)  # the first reading of an offline kit ends its alert
    assert not due(T0 + 1002)


def test_delivered_events_older_than_90_days_are_dropped_at_start(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    book = AlertBook(path, ["webhook"])
    old = book.raise_alert(AlertKey("offline", "kit-1"), "old and delivered", int(T0))
    waiting = book.raise_alert(AlertKey("offline", "kit-2"), "old, never accepted", int(T0))
    book.delivered("webhook", old.id)
    over = book.resolve(old.alert, "back", int(T0) + 60)
    book.delivered("webhook", over.id)
    book.close()
    book = AlertBook(path, ["webhook"], now=T0 + 91 * 86400)
    assert list(book.open_alerts()) == [AlertKey("offline", "kit-2")]
    assert book.next_event("webhook") == (waiting.id, json.dumps(waiting.body()))
    conn = sqlite3.connect(path)
    assert [row[0] for row in conn.execute("SELECT id FROM alert_event")] == [waiting.id]
    assert [row[0] for row in conn.execute("SELECT id FROM alert")] == [waiting.alert.id]
    conn.close()
    book.close()


def test_the_gateways_own_downtime_is_not_the_kits_silence(rig: Rig) -> None:
    for step in range(6):
        rig.send(T0 + 60 * step, pm25=5.0, temperature=3.0)
    for step in range(6, 11):
        rig.send(T0 + 60 * step, temperature=3.0)
        rig.changes(T0 + 60 * step)
    assert set(rig.book.open_alerts()) == {AlertKey("dead_sensor", "kit-1", "pm25")}
    # The gateway was down for an hour (a power cut); the kit kept its readings meanwhile.
    back = T0 + 600 + 3600
    rig.restart(started=back)
    assert rig.changes(back + 1) == []  # not offline at once, the dead sensor still dead
    rig.send(back + 30, temperature=3.0)  # the kit's backlog arrives, still without PM
    assert rig.changes(back + 30) == []
    assert set(rig.book.open_alerts()) == {AlertKey("dead_sensor", "kit-1", "pm25")}
    assert rig.changes(back + 30 + 241) == [("raised", "offline", "kit-1", "")]


def test_a_sensor_silent_across_a_restart_is_found_after_n_intervals(rig: Rig) -> None:
    rig.send(T0, pm25=5.0, temperature=3.0)
    back = T0 + 3600
    rig.restart(started=back)
    for step in range(5):
        rig.send(back + 60 * step, temperature=3.0)  # PM died while the gateway was down
        assert rig.changes(back + 60 * step) == []
    rig.send(back + 241, temperature=3.0)
    assert rig.changes(back + 241) == [("raised", "dead_sensor", "kit-1", "pm25")]
