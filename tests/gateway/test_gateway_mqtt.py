"""The gateway against a real Mosquitto: stores what is valid, quarantines what is not, and
keeps readings in its spool while a store is down."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.readings import Reading
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.store import SQLiteStore, StoreError, WriteResult
from tests.gateway.harness import RunningGateway, publish, publisher, settings_for, stored
from tests.helpers import record, wait_until

pytestmark = pytest.mark.mosquitto


class FailingStore(SQLiteStore):
    """A real SQLite store whose writes fail while ``failing`` is set (a full disk, say)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failing = threading.Event()
        self.failing.set()

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        if self.failing.is_set():
            raise StoreError("disk full (simulated by the test)")
        return super().write(readings)


@pytest.fixture
def gateways() -> Iterator[list[RunningGateway]]:
    started: list[RunningGateway] = []
    yield started
    for running in started:
        if running.thread.is_alive():
            running.stop()


def test_valid_records_are_stored_and_bad_ones_quarantined_by_reason(
    mosquitto: Mosquitto, tmp_path: Path, gateways: list[RunningGateway]
) -> None:
    gw = Gateway(settings_for(mosquitto, tmp_path))
    gateways.append(RunningGateway(gw))
    client = publisher(mosquitto)
    topic = "lokaalmeten/kit-1/readings"
    for seq in (1, 2, 3):
        publish(
            client,
            topic,
            record(seq=seq, time_text=f"2026-11-27T10:0{seq}:00Z", pm25=7.0 + seq, pm10=11.0),
        )
    bad = {
        "not_json": b"\x00garbage",
        "schema": json.dumps({"v": 1, "node": "kit-1"}).encode(),
        "node_mismatch": record(node="kit-2"),
        "time_in_future": record(time_text="2099-01-01T00:00:00Z"),
    }
    for payload in bad.values():
        publish(client, topic, payload)
    publish(
        client, topic, record(seq=9, time_text="2026-11-27T11:00:00Z", pm25=5.0, humidity=150.0)
    )
    client.loop_stop()
    wait_until(lambda: gw.metrics.count("readings_stored") == 7, 10, "7 readings")
    assert gw.metrics.count("messages_received") == 8
    assert gw.metrics.refusals() == {**dict.fromkeys(bad, 1), "out_of_range": 1}
    readings = stored(tmp_path / "lm.db")
    eleven = int(datetime.fromisoformat("2026-11-27T11:00:00Z").timestamp())
    assert [(r.quantity, r.value) for r in readings if r.time == eleven] == [("pm25", 5.0)]
    assert sorted(r.value for r in readings if r.quantity == "pm25") == [5.0, 8.0, 9.0, 10.0]
    quarantine = gw.spool.quarantined()
    assert sorted(r.reason for r in quarantine) == sorted([*bad, "out_of_range"])
    garbage = next(r for r in quarantine if r.reason == "not_json")
    assert garbage.payload == b"\x00garbage" and garbage.source == topic
    assert gateways[0].thread.is_alive()  # refusals never stop the gateway


def test_unregistered_kits_are_refused_until_registered(
    mosquitto: Mosquitto, tmp_path: Path, gateways: list[RunningGateway]
) -> None:
    gw = Gateway(settings_for(mosquitto, tmp_path, require_registration=True))
    gateways.append(RunningGateway(gw))
    client = publisher(mosquitto)
    publish(client, "lokaalmeten/kit-9/readings", record(node="kit-9", seq=1))
    wait_until(lambda: gw.metrics.refusals().get("unknown_node") == 1, 10, "the refusal")
    assert gw.registry is not None
    gw.registry.add("kit-9")
    publish(
        client,
        "lokaalmeten/kit-9/readings",
        record(node="kit-9", seq=2, time_text="2026-11-27T10:05:00Z"),
    )
    wait_until(lambda: len(stored(tmp_path / "lm.db")) == 1, 10, "the registered kit's reading")
    (refused,) = gw.spool.quarantined()
    assert refused.reason == "unknown_node" and b'"seq": 1' in refused.payload


def test_readings_wait_in_the_spool_while_the_store_is_down(
    mosquitto: Mosquitto, tmp_path: Path, gateways: list[RunningGateway]
) -> None:
    failing = FailingStore(tmp_path / "lm.db")
    first = Gateway(settings_for(mosquitto, tmp_path), stores=[failing])
    gateways.append(RunningGateway(first))
    client = publisher(mosquitto)
    for seq in range(1, 6):
        publish(
            client,
            "lokaalmeten/kit-1/readings",
            record(seq=seq, time_text=f"2026-11-27T10:0{seq}:00Z"),
        )
    wait_until(lambda: first.metrics.count("readings_spooled") == 5, 10, "5 spooled readings")
    wait_until(lambda: first.metrics.count("store_errors") >= 1, 10, "a failed write")
    assert first.health()["status"] == "degraded"
    gateways[0].stop()  # a restart while the store is still down
    assert stored(tmp_path / "lm.db") == []

    second = Gateway(settings_for(mosquitto, tmp_path))
    assert second.spool.depth() == 5  # survived the restart
    gateways.append(RunningGateway(second))
    wait_until(lambda: len(stored(tmp_path / "lm.db")) == 5, 15, "the spooled readings")
    assert sorted(r.value for r in stored(tmp_path / "lm.db")) == [7.5] * 5
    wait_until(lambda: second.spool.depth() == 0, 5, "an empty spool")


def test_a_failing_store_recovers_without_losing_the_batch(
    mosquitto: Mosquitto, tmp_path: Path, gateways: list[RunningGateway]
) -> None:
    failing = FailingStore(tmp_path / "lm.db")
    gw = Gateway(settings_for(mosquitto, tmp_path), stores=[failing])
    gateways.append(RunningGateway(gw))
    client = publisher(mosquitto)
    publish(client, "lokaalmeten/kit-1/readings", record(seq=1))
    wait_until(lambda: gw.metrics.count("store_errors") >= 2, 10, "retries")
    failing.failing.clear()  # the disk has room again
    wait_until(lambda: len(stored(tmp_path / "lm.db")) == 1, 15, "the retried batch")
    wait_until(lambda: gw.health()["status"] == "ok", 5, "health to recover")


def test_a_full_spool_stops_acknowledging_and_the_broker_keeps_the_messages(
    mosquitto: Mosquitto, tmp_path: Path, gateways: list[RunningGateway]
) -> None:
    failing = FailingStore(tmp_path / "lm.db")
    settings = settings_for(mosquitto, tmp_path, spool_max_readings=1000)
    gw = Gateway(settings, stores=[failing])
    gateways.append(RunningGateway(gw))
    client = publisher(mosquitto)
    # 1,000 readings fill the spool exactly; the next message cannot be spooled.
    for seq in range(1, 501):
        publish(
            client,
            "lokaalmeten/kit-1/readings",
            record(
                seq=seq,
                time_text=f"2026-11-27T{seq // 60:02d}:{seq % 60:02d}:00Z",
                pm25=1.0,
                pm10=2.0,
            ),
        )
    publish(
        client,
        "lokaalmeten/kit-1/readings",
        record(seq=501, time_text="2026-11-27T12:00:00Z", pm25=3.0),
    )
    wait_until(lambda: gw.metrics.count("spool_full_waits") >= 1, 10, "the spool to fill")
    # As many whole messages as fit: the spool stops at its maximum (or one message short).
    assert 998 <= gw.spool.depth() <= 1000
    failing.failing.clear()  # the store returns: the spool drains and the held message follows
    wait_until(lambda: len(stored(tmp_path / "lm.db")) == 1001, 20, "every reading")


def test_drop_oldest_policy_drops_and_counts(tmp_path: Path) -> None:
    from lokaalmeten.gateway.spool import Spool

    spool = Spool(tmp_path / "spool.db", ["store-a"], max_readings=1000, full_policy="drop_oldest")
    batch = [Reading("kit-1", "pm25", t, 1.0) for t in range(1000)]
    spool.put(batch)
    spool.put([Reading("kit-1", "pm25", 5000 + t, 2.0) for t in range(10)])
    assert spool.depth() == 1000
    assert spool.dropped() == 10
    oldest = spool.take("store-a", 1)[0][1]
    assert oldest.time == 10  # times 0..9 were dropped
