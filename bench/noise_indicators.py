"""Daily noise indicators: a year of Lden for 100 nodes from a SQLite store, in process
(lokaalmeten.noise_indicators.indicators) and through /v1/noise/indicators. Target: ≤ 500 ms.

The store holds one LAeq reading per node and hour for a year (100 × 8,760 readings),
loaded with executemany and its roll-ups built in one statement each (the store's own
rebuild), as the gateway's writes would have kept them.
"""

from __future__ import annotations

import math
import os
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
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
    conn.executemany("INSERT INTO node (id, name) VALUES (?, ?)",
                     [(n + 1, f"kit-{n:03d}") for n in range(nodes)])  # fmt: skip
    conn.execute("INSERT OR IGNORE INTO quantity (name) VALUES ('noise_laeq')")
    (quantity,) = conn.execute("SELECT id FROM quantity WHERE name = 'noise_laeq'").fetchone()
    rng = random.Random(14)
    for node in range(1, nodes + 1):
        # A street: loud by day, quiet at night, a little noise on top.
        conn.executemany(
            "INSERT INTO reading VALUES (?, ?, ?, ?, NULL, 0)",
            (
                (
                    node,
                    quantity,
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


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call. The CPU time (all threads of this process:
    the test client's server runs in one) is the figure to read on a shared machine, where
    the wall clock also counts the time other processes held the cores."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def row(name: str, runs: list[tuple[float, float]], target: str) -> str:
    ms = 1000
    wall = statistics.median(w for w, _ in runs) * ms
    cpu = statistics.median(c for _, c in runs) * ms
    return f"| {name} ({len(runs)} runs) | {cpu:.0f} ms | {wall:.0f} ms | {target} |"


def ok(client: TestClient, url: str) -> int:
    response = client.get(url, headers={"Accept-Encoding": "identity"})
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    return len(response.content)


def run(work: Path) -> str:
    nodes = int(os.environ.get("LM_BENCH_NOISE_NODES", 100))
    path = work / "noise.db"
    build = build_store(path, nodes)
    store = SQLiteStore(path, read_only=True)
    days = indicators(store, (), FIRST, END, {}, 1, 55.0)  # one reading an hour is enough
    assert len(days) == nodes * 365, len(days)
    assert all(d.valid for d in days)
    in_process = [timed(lambda: indicators(store, (), FIRST, END, {}, 1, 55.0)) for _ in range(7)]
    store.close()
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
        size, brief_size = ok(client, url), ok(client, f"{url}&periods=false")  # warm
        api = [timed(lambda: ok(client, url)) for _ in range(7)]
        brief = [timed(lambda: ok(client, f"{url}&periods=false")) for _ in range(7)]
        csv = [timed(lambda: ok(client, csv_url)) for _ in range(3)]
    return "\n".join(
        [
            f"Store: {nodes} nodes × one LAeq reading an hour for a year ({nodes * HOURS:,} "
            f"readings), built in {build:.1f} s. {nodes * 365:,} node-days per request; "
            "requests through the FastAPI app in-process (no network), without compression.",
            "",
            "| query | CPU, median | wall clock, median | target |",
            "|---|---|---|---|",
            row("`indicators()` in process", in_process, "≤ 500 ms"),
            row(f"`/v1/noise/indicators`, {size / 1e6:.1f} MB of JSON", api, "≤ 500 ms"),
            row(
                f"`/v1/noise/indicators&periods=false` (Lden, validity, hours; "
                f"{brief_size / 1e6:.1f} MB)",
                brief,
                "≤ 500 ms",
            ),
            row("`/v1/export/noise.csv`", csv, "—"),
            "",
            "SQLite answers from its `daily` roll-up: one row per node and UTC day carries "
            "each hour's count and energy sum, and one SQL statement per shape of local day "
            "(winter, summer, each change day) sums a day's periods from the two UTC days' rows "
            "it touches. The CPU time counts every thread of the process (the test client's "
            "server runs in one); on a shared machine the wall clock also counts the time "
            "other processes held the cores.",
        ]
    )
