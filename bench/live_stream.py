"""The live stream: what the SQLite change log costs the write path, how soon a stored
reading reaches a subscriber, and how fast a reconnecting subscriber catches up.

A real server process (uvicorn) over a real SQLite store; the subscriber is an httpx
streaming client in a thread of this process, the writer the gateway's SQLiteStore.write.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from lokaalmeten.readings import Reading
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn
from lokaalmeten.store import SQLiteStore

NAME = "live_stream"
TITLE = "Live stream: change-log cost, delivery delay, catching up"

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
    if not change_log:
        conn = sqlite3.connect(path)
        conn.execute("DROP TRIGGER reading_change_log")
        conn.close()
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


def run(work: Path) -> str:
    with_log = write_rate(work / "with.db", True)
    without = write_rate(work / "without.db", False)

    path = work / "live.db"
    store = SQLiteStore(path)
    port = free_port()
    env = {**os.environ, "LM_RATE_LIMIT": "0"}
    with (work / "server.log").open("ab") as log:
        server = spawn(
            [sys.executable, "-m", "lokaalmeten", "server", "--store", f"sqlite:///{path}",
             "--registry", str(work / "registry.db"), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        assert wait_listening("127.0.0.1", port, 20)
        url = f"http://127.0.0.1:{port}/v1/stream"
        subscriber = Subscriber(url, {}, LIVE_BATCHES * 10)
        subscriber.start()
        subscriber.ready.wait(10)
        time.sleep(0.5)  # the stream has taken its starting position
        stored: dict[int, float] = {}
        for batch in _batches(LIVE_BATCHES, 10):
            store.write(batch)
            done = time.perf_counter()
            head = store.change_head()
            for seq in range(head - 9, head + 1):
                stored[seq] = done
            time.sleep(0.1)
        subscriber.join(30)
        delays = sorted(subscriber.arrived[s] - stored[s] for s in stored)
        last_seen = max(subscriber.arrived)

        for batch in _batches(BACKLOG // 1000, 1000, offset=10_000):
            store.write(batch)
        catcher = Subscriber(url, {"Last-Event-ID": str(last_seen)}, BACKLOG)
        began = time.perf_counter()
        catcher.start()
        catcher.join(60)
        caught = len(catcher.arrived) / (max(catcher.arrived.values()) - began)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
        store.close()

    p95 = delays[int(0.95 * (len(delays) - 1))]
    return (
        f"Write rate: {WRITE_BATCHES * 1000:,} readings in batches of 1000 through "
        "SQLiteStore.write (synchronous=full), with and without the change log's trigger "
        "in the same run.\n\n"
        "| | readings/s |\n|---|---|\n"
        f"| with the change log | {with_log:,.0f} |\n"
        f"| without it | {without:,.0f} |\n"
        f"| ratio | {with_log / without:.2f} |\n\n"
        f"Delivery: {LIVE_BATCHES} batches of 10 readings, one every 0.1 s, to one subscriber "
        f"(the stream polls every 0.5 s): from write's return to the event's arrival, median "
        f"{statistics.median(delays) * 1000:.0f} ms, 95th percentile {p95 * 1000:.0f} ms, "
        f"most {delays[-1] * 1000:.0f} ms; {len(subscriber.arrived)} of "
        f"{LIVE_BATCHES * 10} arrived.\n\n"
        f"Catching up: {BACKLOG:,} readings stored while away, resumed with Last-Event-ID: "
        f"{len(catcher.arrived):,} arrived at {caught:,.0f} readings/s."
    )
