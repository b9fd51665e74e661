"""Running a gateway (in a thread or as a process) and publishing to it, for the tests."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.readings import Reading
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.services.processes import spawn
from lokaalmeten.settings import GatewaySettings
from lokaalmeten.store import ReadingQuery, SQLiteStore
from tests.helpers import wait_until


def settings_for(broker: Mosquitto, folder: Path, **changes: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "broker": broker.url,
        "store": f"sqlite:///{folder / 'lm.db'}",
        "spool": str(folder / "spool.db"),
        "registry": str(folder / "registry.db"),
        "require_registration": False,
        "ingest_port": 0,
        "batch_wait": 0.02,
        "stats_interval": 3600,
    }
    values.update(changes)
    return GatewaySettings(**values)


class RunningGateway:
    """A Gateway in a thread of the test process."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        wait_until(lambda: gateway.ingest.connected, 10, "the gateway to connect")

    def _run(self) -> None:
        try:
            self.gateway.run()
        except BaseException as exc:  # surfaced to the test
            self.error = exc

    def stop(self) -> None:
        self.gateway.stop()
        self.thread.join(15)
        assert not self.thread.is_alive()


def gateway_process(
    broker: Mosquitto, folder: Path, *extra: str, open_network: bool = True
) -> subprocess.Popen[bytes]:
    """The gateway as `lokaalmeten gateway` runs it, logging to folder/gateway.log;
    ``open_network=False``: only kits in folder/registry.db are accepted."""
    log = (folder / "gateway.log").open("ab")
    return spawn(
        [
            sys.executable,
            "-m",
            "lokaalmeten",
            "gateway",
            "--broker",
            broker.url,
            "--store",
            f"sqlite:///{folder / 'lm.db'}",
            "--spool",
            str(folder / "spool.db"),
            "--registry",
            str(folder / "registry.db"),
            *(["--open"] if open_network else []),
            "--ingest-host",
            "127.0.0.1",
            "--ingest-port",
            str(free_port()),
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def publisher(broker: Mosquitto, client_id: str = "test-publisher") -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(5)  # returns once the broker's PUBACK arrived
    assert info.is_published()


def stored(path: Path) -> list[Reading]:
    store = SQLiteStore(path, read_only=True)
    try:
        return store.readings(ReadingQuery(0, 2**40, 10**7))
    finally:
        store.close()


def identities(path: Path) -> list[tuple[str, str, int]]:
    return [(r.node, r.quantity, r.time) for r in stored(path)]


T0 = 1795737600  # 2026-11-27T00:00:00Z
NODES = 5


class Stream:
    """Publishes records at a steady rate with QoS 1 and remembers which were PUBACKed.

    Each message's MQTTMessageInfo says whether its PUBACK arrived; no callback and no lock
    of our own, which could deadlock against paho's internal locks.
    """

    def __init__(
        self,
        broker: Mosquitto,
        rate: float,
        client_id: str = "durability-publisher",
        nodes: str = "kit",
    ) -> None:
        self.nodes = nodes  # the kits are <nodes>-1 … <nodes>-5
        self._infos: list[tuple[mqtt.MQTTMessageInfo, tuple[str, int]]] = []
        self.rate = rate
        self.count = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            node = f"{self.nodes}-{self.count % NODES + 1}"
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


def assert_every_acked_reading_stored_once(stream: Stream, store: Path) -> None:
    """After the stream stopped: each reading the broker acknowledged is in the SQLite store
    at ``store`` once, and nothing there was never published."""
    stream.wait_all_acked(60)
    expected = stream.expected()
    assert len(expected) > 2000
    wait_until(
        lambda: len(identities(store)) >= len(expected),
        60,
        "every acknowledged reading in the store",
    )
    found = identities(store)
    assert len(found) == len(set(found))  # exactly once
    assert expected <= set(found) <= stream.published()
