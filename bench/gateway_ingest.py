"""Gateway ingest: MQTT QoS 1 -> spool -> store, beside a bare paho QoS 1 subscriber.

Method (the one public measurements of a Node-RED MQTT-to-InfluxDB flow use, so figures
compare): a backlog of messages (4 readings each) is queued in Mosquitto for a persistent
session, then the consumer is started and timed until it has everything: the bare subscriber
until it received every message, the gateway until every reading is in the store. Then: an
InfluxDB outage of LM_BENCH_OUTAGE seconds (default 600) while kits publish at a steady rate,
with the gateway's memory sampled; the spool's drain rate when InfluxDB returns; and
publish-to-stored latency at 1,000 readings/s.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.services.processes import spawn, stop_all

NAME = "gateway_ingest"
TITLE = "Gateway ingest: MQTT QoS 1 -> spool -> store"

MESSAGES = int(os.environ.get("LM_BENCH_MESSAGES", "50000"))
OUTAGE = float(os.environ.get("LM_BENCH_OUTAGE", "600"))
STEADY_RATE = 250  # messages/s = 1,000 readings/s, as a large neighbourhood
NODES = 200
# Three days back, so that even the largest offsets below stay in the past (the gateway
# refuses records stamped more than 10 minutes ahead of its clock).
T0 = (int(time.time()) // 86400 - 3) * 86400


def payload(i: int) -> bytes:
    """Message ``i``: a record of 4 readings from one of NODES kits. The values move as a
    kit's do (a slow swing and a little noise): constant ones made every reading "stuck" and
    raised an alert per kit and quantity, work no real network gives a gateway."""
    node = f"kit-{i % NODES}"
    seq = i // NODES + 1
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + seq))
    swing = math.sin(seq / 60)
    return json.dumps(
        {
            "v": 1,
            "node": node,
            "seq": seq,
            "time": moment,
            "values": {
                "pm25": round(7.5 + 3 * swing + seq % 7 / 10, 1),
                "pm10": round(12.0 + 4 * swing + seq % 5 / 10, 1),
                "temperature": round(9.1 + swing, 2),
                "humidity": round(81.0 + 5 * swing, 1),
            },
        }
    ).encode()


def client(broker: Mosquitto, client_id: str, clean: bool = True) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    c.max_inflight_messages_set(1000)
    c.connect("127.0.0.1", broker.port, keepalive=60)
    return c


def create_session(broker: Mosquitto, client_id: str) -> None:
    """Subscribe once with clean session off, so the broker queues for it from now on."""
    c = client(broker, client_id, clean=False)
    c.subscribe("lokaalmeten/+/readings", qos=1)
    c.loop_start()
    time.sleep(0.3)
    c.disconnect()
    c.loop_stop()


def publish_backlog(
    broker: Mosquitto, count: int, offset: int, make: Callable[[int], bytes] | None = None
) -> None:
    """``count`` QoS 1 messages, ``make(i)`` each (the kits' records of this bench by default),
    from kits kit-0 .. kit-NODES, waiting until the broker has every one."""
    make = make or payload
    publisher = client(broker, f"bench-publisher-{offset}")
    publisher.loop_start()
    infos = [
        publisher.publish(f"lokaalmeten/kit-{i % NODES}/readings", make(offset + i), qos=1)
        for i in range(count)
    ]
    for info in infos:
        info.wait_for_publish(60)
    publisher.disconnect()
    publisher.loop_stop()


def bare_drain(broker: Mosquitto, count: int) -> float:
    done = threading.Event()
    received = 0

    def on_message(c: object, u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal received
        received += 1
        if received == count:
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bare", clean_session=False)
    c.on_message = on_message
    started = time.perf_counter()
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    done.wait(600)
    elapsed = time.perf_counter() - started
    c.disconnect()
    c.loop_stop()
    return count / elapsed


def gateway(
    broker: Mosquitto, folder: Path, store: str, http_port: int, *extra: str
) -> subprocess.Popen[bytes]:
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
            store,
            "--spool",
            str(folder / "spool.db"),
            "--registry",
            str(folder / "registry.db"),
            "--open",
            "--ingest-host",
            "127.0.0.1",
            "--ingest-port",
            str(http_port),
            "--client-id",
            f"gw-{folder.name}",
            "--stats",
            "3600",
            "--log-format",
            "json",
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def sqlite_count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM reading").fetchone()[0])
    except sqlite3.Error:
        return 0


def influx_count(url: str, database: str) -> int:
    try:
        answer = httpx.get(
            f"{url}/query",
            params={
                "db": database,
                "q": 'SELECT count("value") FROM "pm25","pm10","temperature","humidity"',
            },
            timeout=30,
        ).json()
    except httpx.HTTPError:
        return 0
    series = answer["results"][0].get("series", [])
    return sum(int(s["values"][0][1]) for s in series)


def wait_count(count_now: object, target: int, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if count_now() >= target:  # type: ignore[operator]
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {target} readings")


def gateway_drain(
    broker: Mosquitto, folder: Path, store: str, counter: object, offset: int
) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    create_session(broker, f"gw-{folder.name}")
    publish_backlog(broker, MESSAGES, offset)
    process = gateway(broker, folder, store, free_port())
    try:
        wait_count(counter, MESSAGES * 4, 900)
        finished = time.time()
    finally:
        stop_all([process])
    # Timed from the gateway's own log line "connected", so that the start-up of Python and
    # its imports (a second or so) do not count as ingest time.
    return MESSAGES * 4 / (finished - connected_at(folder / "gateway.log"))


def connected_at(log: Path) -> float:
    from datetime import datetime

    for line in log.read_text().splitlines():
        if line.startswith("{") and "connected to" in line:
            return datetime.fromisoformat(json.loads(line)["time"]).timestamp()
    raise RuntimeError(f"no 'connected' line in {log}")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the gateway's writer processes
    count too)."""
    total = 0.0
    for one in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass  # ended meanwhile
    return total


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def outage_and_drain(broker: Mosquitto, folder: Path) -> dict[str, object]:
    folder.mkdir(parents=True, exist_ok=True)
    influx = InfluxDB.start(folder / "influx")
    url = f"influxdb://127.0.0.1:{influx.port}/outage"
    create_session(broker, f"gw-{folder.name}")
    process = gateway(broker, folder, url, free_port())
    time.sleep(2)
    publisher = client(broker, "steady-publisher")
    publisher.loop_start()
    sent = 0
    memory: list[float] = []
    stop = threading.Event()

    def steady() -> None:
        nonlocal sent
        started = time.monotonic()
        while not stop.is_set():
            publisher.publish(
                f"lokaalmeten/kit-{sent % NODES}/readings", payload(10_000_000 + sent), qos=1
            )
            sent += 1
            pause = started + sent / STEADY_RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)

    thread = threading.Thread(target=steady, daemon=True)
    thread.start()
    time.sleep(5)
    influx.stop()
    outage_started = time.monotonic()
    while time.monotonic() - outage_started < OUTAGE:
        memory.append(rss_mb(process.pid))
        time.sleep(min(5.0, OUTAGE / 20))
    stop.set()
    thread.join()
    time.sleep(2)  # let the last messages reach the spool
    spool = sqlite3.connect(folder / "spool.db")
    backlog = int(spool.execute("SELECT count(*) FROM spool").fetchone()[0])
    influx.restart()
    started = time.perf_counter()
    while spool.execute("SELECT count(*) FROM spool").fetchone()[0] > 0:
        time.sleep(0.05)
        if time.perf_counter() - started > 900:
            raise RuntimeError("the spool did not drain")
    drain_seconds = time.perf_counter() - started
    stored = influx_count(influx.url, "outage")
    publisher.disconnect()
    publisher.loop_stop()
    stop_all([process])
    influx.stop()
    return {
        "backlog": backlog,
        "drain_rate": backlog / drain_seconds,
        "ingest_rate": STEADY_RATE * 4,
        "sent_readings": sent * 4,
        "stored": stored,
        "memory": memory,
    }


def latency(broker: Mosquitto, folder: Path) -> tuple[float, float]:
    folder.mkdir(parents=True, exist_ok=True)
    create_session(broker, f"gw-{folder.name}")
    db = folder / "lm.db"
    process = gateway(broker, folder, f"sqlite:///{db}", free_port())
    time.sleep(2)
    publisher = client(broker, "latency-publisher")
    publisher.loop_start()
    sent_at: dict[int, float] = {}
    seen: dict[int, float] = {}
    count = STEADY_RATE * 20
    started = time.monotonic()
    for i in range(count):
        publisher.publish(f"lokaalmeten/kit-{i % NODES}/readings", payload(20_000_000 + i), qos=1)
        sent_at[i] = time.monotonic()
        pause = started + (i + 1) / STEADY_RATE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if i % 25 == 0:
            _poll_seen(db, seen)
    deadline = time.monotonic() + 30
    while len(seen) < count and time.monotonic() < deadline:
        _poll_seen(db, seen)
        time.sleep(0.01)
    publisher.disconnect()
    publisher.loop_stop()
    stop_all([process])
    delays = sorted(seen[i] - sent_at[i] for i in seen if i in sent_at)
    return (
        statistics.quantiles(delays, n=100)[49] * 1000,
        statistics.quantiles(delays, n=100)[98] * 1000,
    )


def _poll_seen(db: Path, seen: dict[int, float]) -> None:
    """Mark messages whose readings are in the store (by their node and time)."""
    if not db.exists():
        return
    now = time.monotonic()
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            rows = conn.execute(
                "SELECT CAST(substr(n.name, 5) AS INTEGER), r.time FROM reading r "
                "JOIN node n ON n.id = r.node_id JOIN quantity q ON q.id = r.quantity_id "
                "WHERE q.name = 'pm25' AND r.time > ?",
                (T0,),
            ).fetchall()
    except sqlite3.Error:
        return
    for node_number, moment in rows:
        seq = moment - T0
        index = (seq - 1) * NODES + node_number - 20_000_000
        if index >= 0 and index not in seen:
            seen[index] = now


def run(work: Path) -> str:
    broker = Mosquitto.start(work / "mqtt")
    try:
        create_session(broker, "bare")
        publish_backlog(broker, MESSAGES, 0)
        bare = bare_drain(broker, MESSAGES) * 4
        lite = gateway_drain(
            broker,
            work / "sqlite",
            f"sqlite:///{work / 'sqlite' / 'lm.db'}",
            lambda: sqlite_count(work / "sqlite" / "lm.db"),
            1_000_000,
        )
        influx = InfluxDB.start(work / "influx")
        try:
            influx_rate = gateway_drain(
                broker,
                work / "influxgw",
                f"influxdb://127.0.0.1:{influx.port}/bench",
                lambda: influx_count(influx.url, "bench"),
                2_000_000,
            )
        finally:
            influx.stop()
        p50, p99 = latency(broker, work / "latency")
        outage = outage_and_drain(broker, work / "outage")
    finally:
        broker.stop()
    memory = outage["memory"]
    assert isinstance(memory, list)
    lines = [
        f"{MESSAGES:,} messages of 4 readings queued in Mosquitto (persistence on) for a "
        "persistent session, then drained; the gateway runs as `lokaalmeten gateway` "
        "(spool synchronous=full).",
        "",
        "| consumer | readings/s | ratio to bare paho |",
        "|---|---|---|",
        f"| bare paho QoS 1 subscriber (receives only) | {bare:,.0f} | 1.00 |",
        f"| gateway -> spool -> SQLite | {lite:,.0f} | {lite / bare:.2f} |",
        f"| gateway -> spool -> InfluxDB 1.6.7 | {influx_rate:,.0f} | {influx_rate / bare:.2f} |",
        "",
        f"Publish to stored (SQLite) at {STEADY_RATE * 4:,} readings/s: p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms.",
        "",
        f"InfluxDB stopped for {OUTAGE:.0f} s while kits published {STEADY_RATE * 4:,} "
        f"readings/s: {outage['backlog']:,} readings spooled; after InfluxDB returned the "
        f"spool drained at {outage['drain_rate']:,.0f} readings/s = "
        f"{float(outage['drain_rate']) / STEADY_RATE / 4:.1f} × the ingest rate "  # type: ignore[arg-type]
        f"({outage['stored']:,} of {outage['sent_readings']:,} sent readings in InfluxDB). "
        "Gateway memory (RSS, with its writer processes) during the outage: "
        f"{min(memory):.0f} MB at least, "
        f"{max(memory):.0f} MB at most, first {memory[0]:.0f} MB, last {memory[-1]:.0f} MB.",
    ]
    return "\n".join(lines)
