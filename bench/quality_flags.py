"""Quality flags at ingest: the gateway's ingest rate with the quality stage on and off.

Method, as bench/gateway_ingest.py: a backlog of messages (4 readings each, values that move
as weather does, so that every rule does its full work) is queued in Mosquitto for a
persistent session; a gateway process (MQTT QoS 1 -> spool -> SQLite) is started and timed
from its "connected" log line until every reading is in the store. Runs alternate off, on,
off, on, ... in the same run on the same broker, so that the machine's load (shared cores)
falls on both alike; each side reports its median. Beside it, the stage alone in-process.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from bench.gateway_ingest import (
    NODES,
    connected_at,
    create_session,
    publish_backlog,
    sqlite_count,
    wait_count,
)
from lokaalmeten.gateway.quality import QualityStage
from lokaalmeten.readings import Reading
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.services.processes import spawn, stop_all

NAME = "quality_flags"
TITLE = "Quality flags at ingest: the gateway's ingest rate with and without them"

MESSAGES = int(os.environ.get("LM_BENCH_MESSAGES", "50000"))
ROUNDS = int(os.environ.get("LM_BENCH_ROUNDS", "5"))
T0 = (int(time.time()) // 86400 - 3) * 86400
TARGET_COST = 0.15


def payload(i: int) -> bytes:
    node = f"kit-{i % NODES}"
    seq = i // NODES + 1
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + seq))
    wave = (seq * 7 + i % NODES) % 23
    values = {
        "pm25": 7.5 + wave * 0.31,
        "pm10": 12.0 + wave * 0.47,
        "temperature": 9.1 + wave * 0.05,
        "humidity": 88.0 + wave * 0.4,  # fog (95 % and above) for some: that rule works too
    }
    doc = {"v": 1, "node": node, "seq": seq, "time": moment, "values": values}
    doc["uptime"] = [1, seq * 60_000]
    return json.dumps(doc).encode()


def drain(broker: Mosquitto, folder: Path, quality: bool, offset: int) -> float:
    """Readings/s of one gateway draining a fresh backlog into a fresh SQLite store."""
    folder.mkdir(parents=True, exist_ok=True)
    create_session(broker, f"gw-{folder.name}")
    publish_backlog(broker, MESSAGES, offset, payload)
    log = (folder / "gateway.log").open("ab")
    env = {**os.environ, "LM_QUALITY": "true" if quality else "false"}
    process = spawn(
        [
            sys.executable, "-m", "lokaalmeten", "gateway",
            "--broker", broker.url,
            "--store", f"sqlite:///{folder / 'lm.db'}",
            "--spool", str(folder / "spool.db"),
            "--registry", str(folder / "registry.db"),
            "--open",
            "--ingest-host", "127.0.0.1", "--ingest-port", str(free_port()),
            "--client-id", f"gw-{folder.name}",
            "--stats", "3600",
            "--log-format", "json",
        ],
        stdout=log,
        stderr=log,
        env=env,
    )  # fmt: skip
    try:
        wait_count(lambda: sqlite_count(folder / "lm.db"), MESSAGES * 4, 900)
        finished = time.time()
    finally:
        stop_all([process])
    return MESSAGES * 4 / (finished - connected_at(folder / "gateway.log"))


def stage_alone(count: int = 400_000) -> float:
    """Readings/s through QualityStage.flag alone, one record (4 readings) per call."""
    stage = QualityStage()
    records = []
    for i in range(count // 4):
        node = f"kit-{i % NODES}"
        seq = i // NODES + 1
        wave = (seq * 7 + i % NODES) % 23
        t = T0 + seq
        records.append(
            [
                Reading(node, "pm25", t, 7.5 + wave * 0.31),
                Reading(node, "pm10", t, 12.0 + wave * 0.47),
                Reading(node, "temperature", t, 9.1 + wave * 0.05),
                Reading(node, "humidity", t, 78.0 + wave * 0.5),
            ]
        )
    started = time.perf_counter()
    for readings in records:
        stage.flag(readings, 3600.0)
    return count / (time.perf_counter() - started)


def run(work: Path) -> str:
    broker = Mosquitto.start(work / "mqtt")
    off: list[float] = []
    on: list[float] = []
    try:
        for round_ in range(ROUNDS):
            for quality, rates in ((False, off), (True, on)):
                name = f"{'on' if quality else 'off'}-{round_}"
                rates.append(drain(broker, work / name, quality, (len(off) + len(on)) * 10**6))
                print(f"  quality {name}: {rates[-1]:,.0f} readings/s", flush=True)
    finally:
        broker.stop()
    rate_off, rate_on = statistics.median(off), statistics.median(on)
    alone = statistics.median(stage_alone() for _ in range(3))
    share = rate_off / alone  # seconds in the stage per second of ingest at the rate without
    ratio = rate_on / rate_off
    cost = 1 - ratio
    verdict = "meets" if cost <= TARGET_COST else "misses"
    lines = [
        f"{MESSAGES:,} messages of 4 readings ({MESSAGES * 4:,} readings) from {NODES} kits per "
        f"run, MQTT QoS 1 -> spool -> SQLite; {ROUNDS} runs each way, alternating; medians.",
        "",
        "| quality stage | readings/s (median) | runs |",
        "|---|---|---|",
        f"| off (`LM_QUALITY=false`) | {rate_off:,.0f} | "
        + ", ".join(f"{r:,.0f}" for r in off)
        + " |",
        f"| on (default) | {rate_on:,.0f} | " + ", ".join(f"{r:,.0f}" for r in on) + " |",
        "",
        f"With the quality stage the gateway ingests {ratio:.2f} × its rate without it: a cost "
        f"of {cost * 100:.1f} % ({verdict} the target of at most {TARGET_COST * 100:.0f} %). "
        f"The stage alone, in-process, flags {alone:,.0f} readings/s (median of 3): at the "
        f"gateway's rate it takes {share * 100:.1f} % of the time: the cost without the noise "
        f"of the shared machine, on which single runs spread from {min(off + on):,.0f} to "
        f"{max(off + on):,.0f} readings/s.",
    ]
    return "\n".join(lines)
