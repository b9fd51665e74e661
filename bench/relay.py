"""Several gateways, one city store: a neighbourhood gateway's backlog relayed to the city.

A backlog of messages (4 readings each, the gateway_ingest bench's kits) waits in the
neighbourhood broker for a gateway that stores in SQLite and relays to a city gateway
through the city's broker (``upstream+mqtt://``); the city gateway stores in SQLite too.
Both are timed from the neighbourhood gateway's "connected" log line: until every reading
is in the neighbourhood's store, and until every one is in the city's. The first is the
reference of the same run: what the gateway does without the relay's second hop. The bytes
on the relay's topic are counted by a subscriber on the city broker.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.gateway_ingest import (
    connected_at,
    create_session,
    gateway,
    publish_backlog,
    sqlite_count,
    wait_count,
)
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.services.processes import stop_all

NAME = "relay"
TITLE = "Relay: a neighbourhood gateway's backlog into the city store"
MESSAGES = int(os.environ.get("LM_BENCH_RELAY_MESSAGES", "25000"))


class Wire:
    """Counts the relay's messages and bytes on the city broker."""

    def __init__(self, broker: Mosquitto) -> None:
        self.messages = self.bytes = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-wire")
        self.client.on_message = self._count
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe("lokaalmeten/+/relay", qos=0)
        self.client.loop_start()

    def _count(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages += 1
            self.bytes += len(message.payload)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def measure(work: Path) -> dict[str, float]:
    here, city_folder = work / "lombok", work / "city"
    for folder in (here, city_folder):
        folder.mkdir(parents=True, exist_ok=True)
    local = Mosquitto.start(work / "lombok-mqtt")
    city_broker = Mosquitto.start(work / "city-mqtt")
    processes = []
    wire = Wire(city_broker)
    try:
        city = gateway(city_broker, city_folder, f"sqlite:///{city_folder / 'lm.db'}", free_port())
        processes.append(city)
        # The city subscribed before anything is relayed: its session keeps the batches.
        wait_count(lambda: int("subscribed to" in _log(city_folder)), 1, 60)
        create_session(local, f"gw-{here.name}")
        publish_backlog(local, MESSAGES, 0)
        upstream = f"upstream+mqtt://127.0.0.1:{city_broker.port}/?relay=lombok"
        store = f"sqlite:///{here / 'lm.db'}"
        processes.append(gateway(local, here, store, free_port(), "--extra-store", upstream))
        total = MESSAGES * 4
        wait_count(lambda: sqlite_count(here / "lm.db"), total, 900)
        here_done = time.time()
        wait_count(lambda: sqlite_count(city_folder / "lm.db"), total, 900)
        city_done = time.time()
        started = connected_at(here / "gateway.log")
    finally:
        stop_all(processes)
        wire.close()
        local.stop()
        city_broker.stop()
    return {
        "readings": total,
        "here": total / (here_done - started),
        "city": total / (city_done - started),
        "messages": wire.messages,
        "bytes": wire.bytes,
    }


def _log(folder: Path) -> str:
    path = folder / "gateway.log"
    return path.read_text() if path.exists() else ""


def run(work: Path) -> str:
    m = measure(work)
    return "\n".join(
        [
            f"{MESSAGES:,} messages of 4 readings queued in the neighbourhood's Mosquitto; its "
            "gateway stores in SQLite and relays to the city gateway through the city's "
            "Mosquitto (both gateways as `lokaalmeten gateway`, spool synchronous=full).",
            "",
            "| readings of the backlog … | readings/s | ratio |",
            "|---|---|---|",
            f"| in the neighbourhood's store | {m['here']:,.0f} | 1.00 |",
            f"| in the city's store (relayed) | {m['city']:,.0f} | {m['city'] / m['here']:.2f} |",
            "",
            f"On the relay's topic: {m['messages']:,.0f} messages, "
            f"{m['bytes'] / m['readings']:.0f} bytes per reading "
            f"({m['readings'] / max(m['messages'], 1):,.0f} readings per message).",
        ]
    )
