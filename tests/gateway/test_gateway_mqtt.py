"""The gateway against a real Mosquitto: stores what is valid, counts what is not, and lets
the broker keep every message the store has not committed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from lokaalmeten.gateway.pipeline import Gateway
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.readings import Reading
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.settings import GatewaySettings
from lokaalmeten.store import ReadingQuery, SQLiteStore, StoreError, WriteResult
from tests.helpers import record, wait_until


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


def publisher(broker: Mosquitto) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(5)  # returns once the broker's PUBACK arrived
    assert info.is_published()


class RunningGateway:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        wait_until(lambda: gateway.ingest.connected, 10, "the gateway to connect")

    def _run(self) -> None:
        try:
            self.gateway.run()
        except BaseException as exc:  # surfaced to the test by stop()
            self.error = exc

    def stop(self) -> None:
        self.gateway.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def gateways() -> Iterator[list[RunningGateway]]:
    started: list[RunningGateway] = []
    yield started
    for running in started:
        if running.thread.is_alive():
            running.stop()


def settings_for(broker: Mosquitto, store: str) -> GatewaySettings:
    return GatewaySettings(broker=broker.url, store=store, batch_wait=0.05, stats_interval=3600)


def stored(path: Path) -> list[Reading]:
    return SQLiteStore(path, read_only=True).readings(ReadingQuery(0, 2**40, 10**6))


@pytest.mark.mosquitto
def test_valid_records_are_stored_and_bad_ones_counted_by_reason(
    mosquitto: Mosquitto, tmp_path: Path, gateways: list[RunningGateway]
) -> None:
    path = tmp_path / "lm.db"
    gw = Gateway(settings_for(mosquitto, f"sqlite:///{path}"))
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
    wait_until(lambda: gw.metrics.count("messages_received") == 8, 10, "8 messages")
    wait_until(lambda: gw.metrics.count("readings_stored") == 7, 10, "7 readings")
    assert gw.metrics.refusals() == {**dict.fromkeys(bad, 1), "out_of_range": 1}
    readings = stored(path)
    eleven = int(datetime.fromisoformat("2026-11-27T11:00:00Z").timestamp())
    assert [(r.quantity, r.value) for r in readings if r.time == eleven] == [("pm25", 5.0)]
    assert sorted(r.value for r in readings if r.quantity == "pm25") == [5.0, 8.0, 9.0, 10.0]
    assert gateways[0].thread.is_alive()  # refusals never stop the gateway


@pytest.mark.mosquitto
def test_messages_the_store_did_not_commit_stay_with_the_broker(
    mosquitto: Mosquitto, tmp_path: Path, gateways: list[RunningGateway]
) -> None:
    path = tmp_path / "lm.db"
    failing = FailingStore(path)
    first = Gateway(settings_for(mosquitto, f"sqlite:///{path}"), store=failing)
    gateways.append(RunningGateway(first))
    client = publisher(mosquitto)
    for seq in range(1, 6):
        publish(
            client,
            "lokaalmeten/kit-1/readings",
            record(seq=seq, time_text=f"2026-11-27T10:0{seq}:00Z"),
        )
    wait_until(lambda: first.metrics.count("store_errors") >= 1, 10, "a failed write")
    gateways[0].stop()  # gives up while the store still fails: nothing acknowledged
    assert isinstance(gateways[0].error, StoreError)
    assert stored(path) == []

    # The same client id resumes the session; the broker sends the five messages again.
    second = Gateway(settings_for(mosquitto, f"sqlite:///{path}"))
    gateways.append(RunningGateway(second))
    wait_until(lambda: len(stored(path)) == 5, 15, "the redelivered readings")
    assert sorted(r.value for r in stored(path)) == [7.5] * 5


@pytest.mark.mosquitto
def test_a_failing_store_recovers_without_losing_the_batch(
    mosquitto: Mosquitto, tmp_path: Path, gateways: list[RunningGateway]
) -> None:
    path = tmp_path / "lm.db"
    failing = FailingStore(path)
    gw = Gateway(settings_for(mosquitto, f"sqlite:///{path}"), store=failing)
    gateways.append(RunningGateway(gw))
    client = publisher(mosquitto)
    publish(client, "lokaalmeten/kit-1/readings", record(seq=1))
    wait_until(lambda: gw.metrics.count("store_errors") >= 2, 10, "retries")
    failing.failing.clear()  # the disk has room again
    wait_until(lambda: len(stored(path)) == 1, 15, "the retried batch")
