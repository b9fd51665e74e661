"""Store write rates: readings/s through SQLiteStore.write, with hourly roll-ups, and
through InfluxDBStore.write with and without its change log.

Reference in the same run: the same rows inserted with one executemany into the same
table without the roll-ups, node_sensor bookkeeping or id lookups (bare SQLite); for
InfluxDB, the same line protocol POSTed to /write with nothing else (bare InfluxDB).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from lokaalmeten.readings import Reading
from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.store import SQLiteStore
from lokaalmeten.store.influxdb import InfluxDBStore, line

NAME = "store_write"
TITLE = "Store write rate: SQLite with roll-ups, InfluxDB with its change log"

NODES = 200
QUANTITIES = ("pm25", "pm10", "temperature", "humidity")
BATCH = 1000
BATCHES = 400  # 400,000 readings per case
T0 = 1795824000


def readings() -> list[list[Reading]]:
    rows = [
        Reading(
            f"kit-{i % NODES}",
            QUANTITIES[(i // NODES) % 4],
            T0 + 10 * (i // (NODES * 4)),
            float(i % 97),
            "SDS011",
        )
        for i in range(BATCH * BATCHES)
    ]
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def bare(path: Path, batches: list[list[Reading]], synchronous: str) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(
        "CREATE TABLE reading (node_id INTEGER, quantity_id INTEGER, time INTEGER, value REAL,"
        " sensor_id INTEGER, flags INTEGER, PRIMARY KEY (node_id, quantity_id, time))"
        " WITHOUT ROWID"
    )
    quantity_ids = {q: i for i, q in enumerate(QUANTITIES)}
    prepared = [
        [(int(r.node[4:]), quantity_ids[r.quantity], r.time, r.value, 1, 0) for r in batch]
        for batch in batches
    ]
    started = time.perf_counter()
    for rows in prepared:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO reading VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return BATCH * BATCHES / elapsed


def ours(path: Path, batches: list[list[Reading]], synchronous: str) -> float:
    store = SQLiteStore(path, synchronous=synchronous)
    started = time.perf_counter()
    for batch in batches:
        store.write(batch)
    elapsed = time.perf_counter() - started
    store.close()
    return BATCH * BATCHES / elapsed


def influx_bare(url: str, database: str, batches: list[list[Reading]]) -> float:
    bodies = ["\n".join(line(r) for r in batch).encode() for batch in batches]
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/query", data={"q": f'CREATE DATABASE "{database}"'})
        started = time.perf_counter()
        for body in bodies:
            answer = client.post("/write", params={"db": database, "precision": "s"}, content=body)
            assert answer.status_code == 204, answer.text
        elapsed = time.perf_counter() - started
    return BATCH * BATCHES / elapsed


def influx_ours(url: str, database: str, batches: list[list[Reading]], change_log: bool) -> float:
    store = InfluxDBStore(url, database, change_log=change_log)
    started = time.perf_counter()
    for batch in batches:
        store.write(batch)
    elapsed = time.perf_counter() - started
    store.close()
    return BATCH * BATCHES / elapsed


def influx_rates(work: Path, batches: list[list[Reading]]) -> list[str]:
    # Each case on an influxd of its own (one that took a case before slows down compacting
    # it), twice, alternating, the better of the two kept: the machine is shared.
    cases: dict[str, Callable[[str], float]] = {
        "bare": lambda url: influx_bare(url, "bare", batches),
        "without": lambda url: influx_ours(url, "without", batches, change_log=False),
        "with": lambda url: influx_ours(url, "with", batches, change_log=True),
    }
    best = dict.fromkeys(cases, 0.0)
    for round_ in range(2):
        for name, case in cases.items():
            server = InfluxDB.start(work / f"influx-{name}-{round_}")
            try:
                best[name] = max(best[name], case(server.url))
            finally:
                server.stop()
    bare_rate, without, with_log = best["bare"], best["without"], best["with"]
    return [
        "",
        f"InfluxDB 1.6.7, the same {BATCH * BATCHES:,} readings in batches of {BATCH}, each "
        "case on a fresh influxd, twice, alternating; the better run of each:",
        "",
        "| write | readings/s | × bare |",
        "|---|---|---|",
        f"| bare `/write` of the line protocol | {bare_rate:,.0f} | 1.00 |",
        f"| InfluxDBStore.write, `changes=off` | {without:,.0f} | {without / bare_rate:.2f} |",
        f"| InfluxDBStore.write with the change log (default) | {with_log:,.0f} | "
        f"{with_log / bare_rate:.2f} |",
        "",
        f"The change log costs {1 - with_log / without:.0%} of the write rate "
        f"({with_log / without:.2f} × without it): each batch is written a second time into "
        "the `lm_changes` retention policy, as one point holding the batch as JSON.",
    ]


def run(work: Path) -> str:
    batches = readings()
    lines = [
        f"{BATCH * BATCHES:,} readings ({NODES} nodes × {len(QUANTITIES)} quantities) in "
        f"batches of {BATCH}, WAL mode.",
        "",
        "| synchronous | bare SQLite insert (readings/s) | SQLiteStore.write (readings/s) "
        "| ratio |",
        "|---|---|---|---|",
    ]
    for synchronous in ("full", "normal"):
        reference = bare(work / f"bare-{synchronous}.db", batches, synchronous)
        measured = ours(work / f"ours-{synchronous}.db", batches, synchronous)
        lines.append(
            f"| {synchronous} | {reference:,.0f} | {measured:,.0f} | {measured / reference:.2f} |"
        )
    lines += [
        "",
        "The store does more than the bare insert: it resolves node, quantity and sensor ids, "
        "keeps the hourly and daily roll-ups and the change log current (a statement each per "
        "batch), and records which sensors each node has. The gateway's ingest target is "
        "20,000 readings/s end to end.",
    ]
    lines += influx_rates(work, batches)
    return "\n".join(lines)
