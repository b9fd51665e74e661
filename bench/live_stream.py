"""The live stream: what the SQLite change log costs the write path, how soon a stored
reading reaches a subscriber, and how fast a reconnecting subscriber catches up, on SQLite
and on InfluxDB 1.6.7 (its change log's write cost is in the store_write benchmark).

A real server process (uvicorn) over a real store; the subscriber is an httpx streaming
client in a thread of this process, the writer the gateway's store (its write()).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from lokaalmeten.readings import Reading
from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn
from lokaalmeten.store import SQLiteStore, Store
from lokaalmeten.store.influxdb import InfluxDBStore

NAME = "live_stream"
TITLE = "Live stream: change-log cost, delivery delay, catching up (SQLite, InfluxDB)"

T0 = 1795824000
WRITE_BATCHES = 200  # of 1000 readings: 200,000 per case
LIVE_BATCHES = 60  # of 10 readings, one every 0.1 s, while subscribed
BACKLOG = 20_000  # readings stored while the subscriber was away


def _batches(count: int, size: int, offset: int = 0) -> list[list[Reading]]:
    return [
        [
            Reading(f"kit-{i % 50}", "pm25", T0 + 10 * (offset + b * size + i), float(i), "SDS011")
            for i in range(size)
        ]
        for b in range(count)
    ]


def write_rate(path: Path, change_log: bool) -> float:
    store = SQLiteStore(path)
    if not change_log:  # the write path without its change-log statement
        store._write_conn()
        store._after_insert = [s for s in store._after_insert if "reading_change" not in s]
    batches = _batches(WRITE_BATCHES, 1000)
    started = time.perf_counter()
    for batch in batches:
        store.write(batch)
    elapsed = time.perf_counter() - started
    store.close()
    return WRITE_BATCHES * 1000 / elapsed


class Subscriber(threading.Thread):
    """Reads reading events; records when each id arrived."""

    def __init__(self, url: str, headers: dict[str, str], expect: int) -> None:
        super().__init__(daemon=True)
        self.url, self.headers, self.expect = url, headers, expect
        self.arrived: dict[int, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        with (
            httpx.Client(timeout=30) as client,
            client.stream("GET", self.url, headers=self.headers) as response,
        ):
            self.ready.set()
            for line in response.iter_lines():
                if line.startswith("id: "):
                    self.arrived[int(line[4:])] = time.perf_counter()
                    if len(self.arrived) >= self.expect:
                        return


class Delivery:
    """One backend's figures: delays from write to event, and the catching-up rate."""

    def __init__(self, delays: list[float], live: int, caught: int, rate: float) -> None:
        self.delays, self.live, self.caught, self.rate = delays, live, caught, rate

    def row(self, name: str) -> str:
        p95 = self.delays[int(0.95 * (len(self.delays) - 1))]
        return (
            f"| {name} | {statistics.median(self.delays) * 1000:.0f} | {p95 * 1000:.0f} | "
            f"{self.delays[-1] * 1000:.0f} | {self.live} of {LIVE_BATCHES * 10} | "
            f"{self.caught:,} | {self.rate:,.0f} |"
        )


def delivery(work: Path, url: str, store: Store) -> Delivery:
    port = free_port()
    env = {**os.environ, "LM_RATE_LIMIT": "0"}
    with (work / "server.log").open("ab") as log:
        server = spawn(
            [sys.executable, "-m", "lokaalmeten", "server", "--store", url,
             "--registry", str(work / "registry.db"), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        assert wait_listening("127.0.0.1", port, 20)
        stream = f"http://127.0.0.1:{port}/v1/stream"
        subscriber = Subscriber(stream, {}, LIVE_BATCHES * 10)
        subscriber.start()
        subscriber.ready.wait(10)
        time.sleep(0.5)  # the stream has taken its starting position
        stored: dict[int, float] = {}
        for batch in _batches(LIVE_BATCHES, 10):
            store.write(batch)
            done = time.perf_counter()
            # Both stores number a batch's readings consecutively, the last one the head.
            head = store.change_head()
            for seq in range(head - 9, head + 1):
                stored[seq] = done
            time.sleep(0.1)
        subscriber.join(30)
        delays = sorted(subscriber.arrived[s] - stored[s] for s in stored)
        last_seen = max(subscriber.arrived)

        for batch in _batches(BACKLOG // 1000, 1000, offset=10_000):
            store.write(batch)
        catcher = Subscriber(stream, {"Last-Event-ID": str(last_seen)}, BACKLOG)
        began = time.perf_counter()
        catcher.start()
        catcher.join(60)
        caught = len(catcher.arrived) / (max(catcher.arrived.values()) - began)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
        store.close()
    return Delivery(delays, len(subscriber.arrived), len(catcher.arrived), caught)


def run(work: Path) -> str:
    with_log = write_rate(work / "with.db", True)
    without = write_rate(work / "without.db", False)

    path = work / "live.db"
    on_sqlite = delivery(work, f"sqlite:///{path}", SQLiteStore(path))
    influx = InfluxDB.start(work / "influx")
    try:
        on_influx = delivery(
            work, f"influxdb://127.0.0.1:{influx.port}/live", InfluxDBStore(influx.url, "live")
        )
    finally:
        influx.stop()

    return (
        f"Write rate: {WRITE_BATCHES * 1000:,} readings in batches of 1000 through "
        "SQLiteStore.write (synchronous=full), with and without the change log's statement "
        "in the same run.\n\n"
        "| | readings/s |\n|---|---|\n"
        f"| with the change log | {with_log:,.0f} |\n"
        f"| without it | {without:,.0f} |\n"
        f"| ratio | {with_log / without:.2f} |\n\n"
        f"Delivery: {LIVE_BATCHES} batches of 10 readings, one every 0.1 s, to one subscriber "
        "(the stream polls every 0.5 s), from write's return to the event's arrival; then "
        f"catching up: {BACKLOG:,} readings stored while away (batches of 1000), resumed "
        "with Last-Event-ID.\n\n"
        "| store | median ms | p95 ms | most ms | arrived | caught up | readings/s |\n"
        "|---|---|---|---|---|---|---|\n"
        f"{on_sqlite.row('SQLite')}\n"
        f"{on_influx.row('InfluxDB 1.6.7')}"
    )
