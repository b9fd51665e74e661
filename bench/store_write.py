"""SQLite store write rate: readings/s through SQLiteStore.write, with hourly roll-ups.

Reference in the same run: the same rows inserted with one executemany into the same
table without the roll-up trigger, node_sensor bookkeeping or id lookups (bare SQLite).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from lokaalmeten.readings import Reading
from lokaalmeten.store import SQLiteStore

NAME = "store_write"
TITLE = "SQLite store: write rate with roll-ups"

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
        "keeps the hourly and daily roll-ups current through triggers, and records which sensors "
        "each node has. The gateway's ingest target is 20,000 readings/s end to end.",
    ]
    return "\n".join(lines)
