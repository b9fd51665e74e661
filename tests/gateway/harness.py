"""Running a gateway (in a thread or as a process) and publishing to it, for the tests."""

from __future__ import annotations

import subprocess
import sys
import threading
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
