"""Alert rules: what counting readings for the kit-health alerts costs the ingest path, and
how long one judgement of every rule takes for a city's kits.

Method: an AlertEngine over a real alert book (SQLite, the registry file) counts batches of
5,000 readings (4 quantities of 1,250 kits, one in ten flagged spike) as Gateway.spooled()
hands them over; the rate is set beside the ingest target of 20,000 readings/s as the share
of one core it would take. Then evaluate() judges all rules for 1,000 and 10,000 kits, with
a quarter of them silent (an offline alert each, raised in that judgement) and then with
nothing changed (the usual case, every LM_ALERT_CHECK_INTERVAL seconds). A judgement holds
the engine's lock, so the ingest thread's counting waits that long once per interval.
"""

from __future__ import annotations

import time
from pathlib import Path

from lokaalmeten.gateway.alert_book import AlertBook
from lokaalmeten.gateway.alerts import AlertEngine, AlertRules
from lokaalmeten.gateway.directory import Directory
from lokaalmeten.readings import FLAG_SPIKE, Reading

NAME = "alert_rules"
TITLE = "Alert rules: counting readings and judging them"

BATCH = 5000
BATCHES = 200
TARGET = 20_000  # readings/s, the gateway's ingest target (docs/benchmarks.md)
QUANTITIES = ("pm25", "pm10", "temperature", "humidity")


def _batch(start: int) -> list[Reading]:
    kits = BATCH // len(QUANTITIES)
    return [
        Reading(f"kit-{k}", q, start + k, 7.5, None, FLAG_SPIKE if k % 10 == 0 else 0)
        for k in range(kits)
        for q in QUANTITIES
    ]


def _engine(folder: Path, now: float) -> AlertEngine:
    path = folder / "registry.db"
    directory = Directory(path)
    book = AlertBook(path, ["webhook", "mqtt"])
    return AlertEngine(book, AlertRules(), directory.entries, now)


def _counting(folder: Path) -> tuple[float, float]:
    now = time.time()
    engine = _engine(folder, now)
    batches = [_batch(i * BATCH) for i in range(10)]
    started = time.perf_counter()
    for i in range(BATCHES):
        engine.readings(batches[i % len(batches)], now + i * 0.25)
    took = time.perf_counter() - started
    rate = BATCHES * BATCH / took
    return rate, TARGET / rate


def _judging(folder: Path, kits: int) -> tuple[float, float, int]:
    now = time.time()
    engine = _engine(folder, now)
    for k in range(kits):
        seen = now - (10_000 if k % 4 == 0 else 10)  # a quarter silent for ages
        engine.readings([Reading(f"kit-{k}", q, int(seen), 1.0) for q in QUANTITIES], seen)
    started = time.perf_counter()
    raised = len(engine.evaluate(now))
    first = time.perf_counter() - started
    started = time.perf_counter()
    engine.evaluate(now + 1)
    again = time.perf_counter() - started
    return first, again, raised


def run(work: Path) -> str:
    rate, share = _counting(work / "count")
    rows = [
        "| what | result |",
        "|---|---|",
        f"| counting readings (AlertEngine.readings) | {rate:,.0f} readings/s; at the "
        f"ingest target of {TARGET:,} readings/s that is {share:.1%} of one core |",
    ]
    for kits in (1_000, 10_000):
        folder = work / f"judge-{kits}"
        folder.mkdir()
        first, again, raised = _judging(folder, kits)
        rows.append(
            f"| judging every rule, {kits:,} kits, {raised:,} offline alerts raised | "
            f"{first * 1000:,.0f} ms (one transaction in the book for all) |"
        )
        rows.append(f"| judging again, {kits:,} kits, nothing changed | {again * 1000:,.0f} ms |")
    return "\n".join(rows) + "\n"
