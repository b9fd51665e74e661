"""Daily noise indicators: a year of Lden for 100 nodes from a SQLite store, in process
(lokaalmeten.noise_indicators.indicators) and through /v1/noise/indicators. Target: ≤ 500 ms.

The store holds one LAeq reading per node and hour for a year (100 × 8,760 readings),
loaded with executemany and its roll-ups built in one statement each (the store's own
rebuild), as the gateway's triggers would have kept them.
"""

from __future__ import annotations

import math
import os
import random
import sqlite3
import statistics
import time
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

from lokaalmeten.noise_indicators import indicators
from lokaalmeten.server.app import create_app
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import SQLiteStore
from lokaalmeten.store.sqlite import rebuild_rollups

NAME = "noise_indicators"
TITLE = "Noise indicators: a year of daily Lden for 100 nodes on SQLite"

FIRST = date(2026, 1, 1)
END = date(2027, 1, 1)
T0 = 1767222000  # 2025-12-31T23:00:00Z, 1 January 2026 00:00 CET
HOURS = 8784  # a year and a day of hours, so the last local day is whole


def build_store(path: Path, nodes: int) -> float:
    started = time.monotonic()
    SQLiteStore(path).close()  # the schema, as the gateway makes it
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    conn.execute("DROP TRIGGER reading_hourly")
    conn.execute("DROP TRIGGER reading_daily")
    conn.executemany("INSERT INTO node (id, name) VALUES (?, ?)",
                     [(n + 1, f"kit-{n:03d}") for n in range(nodes)])  # fmt: skip
    conn.execute("INSERT INTO quantity (id, name) VALUES (1, 'noise_laeq')")
    rng = random.Random(14)
    for node in range(1, nodes + 1):
        # A street: loud by day, quiet at night, a little noise on top.
        conn.executemany(
            "INSERT INTO reading VALUES (?, 1, ?, ?, NULL, 0)",
            (
                (
                    node,
                    T0 + 3600 * h + 1800,
                    round(52 + 8 * math.sin((h % 24 - 8) / 24 * 2 * math.pi) + rng.random(), 1),
                )
                for h in range(HOURS)
            ),
        )
    rebuild_rollups(conn)
    conn.execute("COMMIT")
    conn.close()
    SQLiteStore(path).close()  # checks the roll-ups' rule
    return time.monotonic() - started


def run(work: Path) -> str:
    nodes = int(os.environ.get("LM_BENCH_NOISE_NODES", 100))
    path = work / "noise.db"
    build = build_store(path, nodes)
    store = SQLiteStore(path, read_only=True)
    # One reading an hour: an hour is valid with one.
    in_process = []
    for _ in range(7):
        began = time.perf_counter()
        days = indicators(store, (), FIRST, END, {}, 1, 55.0)
        in_process.append(time.perf_counter() - began)
    store.close()
    assert len(days) == nodes * 365, len(days)
    assert all(d.valid for d in days)
    settings = ServerSettings(
        store=f"sqlite:///{path}",
        rate_limit=0,
        max_range_days=366,
        measurement_interval=3600,
        registry=str(work / "registry.db"),
    )
    url = f"/v1/noise/indicators?start={FIRST}&end={END}"
    csv_url = f"/v1/export/noise.csv?start={FIRST}&end={END}"
    with TestClient(create_app(settings)) as client:
        client.get("/v1/quantities")  # warm the app
        api = []
        for _ in range(7):
            began = time.perf_counter()
            response = client.get(url, headers={"Accept-Encoding": "identity"})
            api.append(time.perf_counter() - began)
            assert response.status_code == 200, response.text[:300]
        size = len(response.content)
        csv = []
        for _ in range(3):
            began = time.perf_counter()
            response = client.get(csv_url, headers={"Accept-Encoding": "identity"})
            csv.append(time.perf_counter() - began)
            assert response.status_code == 200, response.text[:300]
    ms = 1000
    return "\n".join(
        [
            f"Store: {nodes} nodes × one LAeq reading an hour for a year ({nodes * HOURS:,} "
            f"readings), built in {build:.1f} s. {nodes * 365:,} node-days per request; "
            "requests through the FastAPI app in-process (no network), without compression.",
            "",
            "| query | median | max | target |",
            "|---|---|---|---|",
            f"| `indicators()` in process (7 runs) | {statistics.median(in_process) * ms:.0f} ms "
            f"| {max(in_process) * ms:.0f} ms | ≤ 500 ms |",
            f"| `/v1/noise/indicators`, {size / 1e6:.1f} MB of JSON (7 runs) | "
            f"{statistics.median(api) * ms:.0f} ms | {max(api) * ms:.0f} ms | ≤ 500 ms |",
            f"| `/v1/export/noise.csv` (3 runs) | {statistics.median(csv) * ms:.0f} ms | "
            f"{max(csv) * ms:.0f} ms | — |",
            "",
            "SQLite answers from its `daily` roll-up: one row per node and UTC day carries "
            "each hour's count and energy sum; the periods of a local day are sums of slices "
            "of those hours.",
        ]
    )
