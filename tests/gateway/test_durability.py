"""Nothing lost: a steady QoS 1 stream survives gateway kills, an InfluxDB outage and a
broker restart; every reading the publisher got a PUBACK for is stored exactly once.

All parts are real: Mosquitto (persistence on), influxd 1.x, the gateway as a process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.processes import stop_all
from lokaalmeten.store import ReadingQuery, open_store
from tests.gateway.harness import gateway_process, stored
from tests.helpers import wait_until

pytestmark = pytest.mark.mosquitto

T0 = 1795737600  # 2026-11-27T00:00:00Z
NODES = 5


class Stream:
    """Publishes records at a steady rate with QoS 1 and remembers which were PUBACKed.

    Each message's MQTTMessageInfo says whether its PUBACK arrived; no callback and no lock
    of our own, which could deadlock against paho's internal locks.
    """

    def __init__(self, broker: Mosquitto, rate: float) -> None:
        self._infos: list[tuple[mqtt.MQTTMessageInfo, tuple[str, int]]] = []
        self.rate = rate
        self.count = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="durability-publisher", clean_session=False
        )
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            node = f"kit-{self.count % NODES + 1}"
            seq = self.count // NODES + 1
            moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + seq))
            payload = json.dumps(
                {
                    "v": 1,
                    "node": node,
                    "seq": seq,
                    "time": moment,
                    "values": {"pm25": seq % 500 / 10, "pm10": 1.0},
                }
            )
            info = self.client.publish(f"lokaalmeten/{node}/readings", payload, qos=1)
            self._infos.append((info, (node, seq)))
            self.count += 1
            pause = started + self.count / self.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    @staticmethod
    def _acked(info: mqtt.MQTTMessageInfo) -> bool | None:
        """True: PUBACKed; False: refused at once (not connected); None: still in flight."""
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        return True if info.is_published() else None

    def wait_all_acked(self, timeout: float) -> None:
        wait_until(
            lambda: all(self._acked(info) is not None for info, _ in self._infos),
            timeout,
            "the broker to answer every message",
        )
        self.client.loop_stop()
        self.client.disconnect()

    def expected(self) -> set[tuple[str, str, int]]:
        """Readings of the messages the broker acknowledged: each must be stored."""
        acked = [key for info, key in self._infos if self._acked(info)]
        return {(node, q, T0 + seq) for node, seq in acked for q in ("pm10", "pm25")}

    def published(self) -> set[tuple[str, str, int]]:
        """Readings of every message handed to paho; paho may deliver ones whose publish()
        reported 'not connected' after it reconnects, so these may be stored too."""
        return {(node, q, T0 + seq) for _, (node, seq) in self._infos for q in ("pm10", "pm25")}


def wait_gateway_ready(folder: Path, times: int = 1) -> None:
    log = folder / "gateway.log"
    wait_until(
        lambda: log.exists() and log.read_text().count("subscribed to") >= times,
        20,
        "the gateway to subscribe",
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    stop_all(started)


def identities(path: Path) -> list[tuple[str, str, int]]:
    return [(r.node, r.quantity, r.time) for r in stored(path)]


def test_gateway_killed_repeatedly_loses_nothing(
    mosquitto: Mosquitto, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    processes.append(gateway_process(mosquitto, tmp_path))
    wait_gateway_ready(tmp_path)
    stream = Stream(mosquitto, rate=400)
    stream.start()
    for kill in range(1, 4):
        time.sleep(1.5)
        processes[-1].send_signal(signal.SIGKILL)
        processes[-1].wait()
        time.sleep(0.3)  # the stream goes on while no gateway is there
        processes.append(gateway_process(mosquitto, tmp_path))
        wait_gateway_ready(tmp_path, kill + 1)
    time.sleep(1)
    stream.stop()
    stream.wait_all_acked(60)
    expected = stream.expected()
    assert len(expected) > 2000
    wait_until(
        lambda: len(identities(tmp_path / "lm.db")) >= len(expected),
        60,
        "every acknowledged reading in the store",
    )
    found = identities(tmp_path / "lm.db")
    assert len(found) == len(set(found))  # exactly once
    assert expected <= set(found) <= stream.published()


@pytest.mark.influxdb
def test_influxdb_outage_loses_nothing_and_the_spool_drains(
    mosquitto: Mosquitto, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    if InfluxDB.find() is None:
        pytest.skip("influxd not installed")
    influx = InfluxDB.start(tmp_path / "influx")
    try:
        url = f"influxdb://127.0.0.1:{influx.port}/lm"
        processes.append(gateway_process(mosquitto, tmp_path, "--store", url))
        wait_gateway_ready(tmp_path)
        stream = Stream(mosquitto, rate=300)
        stream.start()
        time.sleep(1.5)
        influx.stop()
        time.sleep(3)  # readings pile up in the spool meanwhile
        health = httpx.get(f"http://127.0.0.1:{_http_port(tmp_path)}/health", timeout=5).json()
        assert health["status"] == "degraded" and health["spool_depth"] > 0
        influx.restart()
        time.sleep(1)
        stream.stop()
        stream.wait_all_acked(60)
        expected = stream.expected()
        store = open_store(url)

        def influx_identities() -> set[tuple[str, str, int]]:
            rows = store.readings(ReadingQuery(0, 2**33, 10**6))
            return {(r.node, r.quantity, r.time) for r in rows}

        wait_until(lambda: influx_identities() >= expected, 60, "every reading in InfluxDB")
        assert expected <= influx_identities() <= stream.published()
    finally:
        influx.stop()


def test_broker_restart_loses_nothing(
    mosquitto: Mosquitto, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    processes.append(gateway_process(mosquitto, tmp_path))
    wait_gateway_ready(tmp_path)
    stream = Stream(mosquitto, rate=300)
    stream.start()
    time.sleep(1.5)
    mosquitto.restart()
    time.sleep(2)
    stream.stop()
    stream.wait_all_acked(60)
    expected = stream.expected()
    wait_until(
        lambda: set(identities(tmp_path / "lm.db")) >= expected,
        60,
        "every acknowledged reading in the store",
    )
    found = identities(tmp_path / "lm.db")
    assert len(found) == len(set(found))  # exactly once
    assert expected <= set(found) <= stream.published()


def _http_port(folder: Path) -> int:
    text = (folder / "gateway.log").read_text()
    marker = "/metrics on 127.0.0.1:"
    if marker not in text:
        marker = "/metrics on 0.0.0.0:"
    return int(text.rsplit(marker, 1)[1].split()[0])
