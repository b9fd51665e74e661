"""Kit runtime: 10,000 measurement cycles with every driver in a 64 KB data heap; the outbox.

1. One kit (``simkit``, ``sensors=drivers``: every driver against simulated devices, the
   noise meter on the fake I2S) runs 10,000 cycles in fast mode and publishes each record to
   a real Mosquitto. The unix port loads code into the heap (an ESP32 with frozen firmware
   keeps it in flash), so a probe run first measures what the loaded code takes (firmware
   bytecode, the fake hardware, the harness). The real run keeps a 64 KB block free while
   the code loads (``reserve``) and gives it to the kit: ``-X heapsize`` = code + 64 KB +
   the holes that loading leaves. The free heap after every cycle (after a collection)
   shows any upward trend in use.
2. The outbox in MicroPython with a 64 KB heap: records per second appended and read back
   (peek + ack), and flash bytes per record. The references in the same run do the same
   work without the outbox's format: append each payload to a plain file (open, write,
   close), and read each back by offset, then save the position durably (write a small
   file, rename it over the old one), as ``ack`` does.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.simulate import compile_firmware, find_micropython, micropython_env

NAME = "kit_runtime"
TITLE = "Kit runtime: 10,000 cycles in a 64 KB data heap; outbox speed and size"
CYCLES = 10_000
INTERVAL = 2  # seconds of simulated time per cycle (the noise meter is polled every 20 ms)
DATA_HEAP = 64 * 1024
LOAD_SLACK = 32 * 1024  # holes that loading .mpy files leaves between code objects
OUTBOX_RECORDS = 2000

OUTBOX_SCRIPT = """
import gc, json, os, time
from kit.outbox import Outbox
N = {n}
payload = {payload!r}
os.mkdir("{folder}")
os.chdir("{folder}")
box = Outbox("outbox", max_records=N + 64)
gc.collect()
t0 = time.ticks_us()
for seq in range(1, N + 1):
    box.append(seq, payload)
t1 = time.ticks_us()
flash = sum(os.stat("outbox/" + name)[6] for name in os.listdir("outbox"))
t1 = time.ticks_us()
sent = 0
while True:
    item = box.peek()
    if item is None:
        break
    sent += 1
    box.ack()
t2 = time.ticks_us()
# the reference: the same bytes appended to a plain file, then read back
t3 = time.ticks_us()
for seq in range(1, N + 1):
    with open("plain.log", "ab") as f:
        f.write(payload)
t4 = time.ticks_us()
buf = bytearray(len(payload))
for seq in range(N):
    with open("plain.log", "rb") as f:
        f.seek(seq * len(payload))
        f.readinto(buf)
    with open("pos.tmp", "w") as f:
        f.write("%d\\n" % seq)
    os.rename("pos.tmp", "pos")
t5 = time.ticks_us()
print(json.dumps({{"append_us": time.ticks_diff(t1, t0), "read_us": time.ticks_diff(t2, t1),
                  "plain_append_us": time.ticks_diff(t4, t3),
                  "plain_read_us": time.ticks_diff(t5, t4), "sent": sent, "flash": flash}}))
"""


def _kit(
    micropython: str,
    env: dict[str, str],
    heap: int,
    work: Path,
    port: int,
    cycles: int,
    reserve: int = 0,
) -> list[dict[str, Any]]:
    done = subprocess.run(
        [
            micropython,
            "-X",
            f"heapsize={heap}",
            "-m",
            "simkit",
            "node=bench-1",
            f"folder={work / 'bench-1'}",
            f"port={port}",
            f"interval={INTERVAL}",
            f"cycles={cycles}",
            "fast=1",
            "sensors=drivers",
            "trace=1",
            f"reserve={reserve}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    events = []
    for line in done.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"event": "output", "text": line})
    if done.returncode != 0:
        events.append({"event": "exit", "code": done.returncode, "stderr": done.stderr[-2000:]})
    return events


def _kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == kind]


def run(work: Path) -> str:
    micropython = find_micropython()
    env = micropython_env(fakes=True, compiled=compile_firmware(work / "firmware"))
    broker = Mosquitto.start(work / "mosquitto")
    try:
        probe = _kit(micropython, env, 1024 * 1024, work / "probe", broker.port, 3)
        code = _kind(probe, "boot")[0]["code"]
        heap = code + DATA_HEAP + LOAD_SLACK
        started = time.monotonic()
        events = _kit(micropython, env, heap, work / "run", broker.port, CYCLES, DATA_HEAP)
        seconds = time.monotonic() - started
    finally:
        broker.stop()
    free = [e["free"] for e in _kind(events, "heap")]
    done = _kind(events, "done")
    crashes = _kind(events, "crash") + _kind(events, "exit")
    tenth = max(1, len(free) // 10)
    first = sum(free[:tenth]) / tenth if free else 0.0
    last = sum(free[-tenth:]) / tenth if free else 0.0
    published = _kind(events, "published")
    payload = json.dumps(
        {
            "v": 1,
            "node": "esp32-240ac4123456",
            "seq": 123456,
            "time": "2026-11-28T10:05:00Z",
            "values": published[-1]["values"] if published else {"pm25": 1.0},
            "sensors": {q: "SDS011" for q in (published[-1]["values"] if published else {})},
            "fw": "0.2.0",
            "rssi": -61,
        }
    ).encode()
    box = _outbox(micropython, work, payload)
    lines = [
        f"**{CYCLES:,} cycles** (every driver: SDS011, PMS5003, SPS30, BME280, SHT3x, SHT4x, "
        f"SCD30, SCD4x, DNMS, the I2S noise meter; {INTERVAL} s simulated interval, fast "
        f"mode, each record published with QoS 1 to Mosquitto) took {seconds:.0f} s.",
        "",
        "| | bytes |",
        "|---|---|",
        f"| heap taken by loaded code before the kit starts (firmware `.mpy`, fakes, harness) "
        f"| {code:,} |",
        f"| `-X heapsize` of the run (code + 64 KB kept in one piece + {LOAD_SLACK // 1024} "
        f"KB for the holes loading leaves) | {heap:,} |",
        f"| kit data in use after a cycle (heap − code − free): lowest / highest | "
        f"{heap - code - max(free, default=0):,} / {heap - code - min(free, default=0):,} |",
        f"| free heap after a cycle: lowest / highest | {min(free, default=0):,} / "
        f"{max(free, default=0):,} |",
        f"| free heap, mean of the first / last 10 % of cycles | {first:,.0f} / {last:,.0f} |",
        "",
        f"Records made: {done[0]['records'] if done else 'none (the run failed)'}, "
        f"published: {len(published):,}; crashes or MemoryError: "
        f"{len(crashes)}{' — ' + str(crashes[0])[:300] if crashes else ''}.",
        "",
        f"**Outbox** ({OUTBOX_RECORDS:,} records of {len(payload)} bytes, MicroPython, 64 KB "
        "heap, on the host's file system):",
        "",
        "| | records/s | reference: plain file, same steps (records/s) | ratio |",
        "|---|---|---|---|",
        f"| append (durable, CRC, commit marker) | {box['append']:,.0f} | "
        f"{box['plain_append']:,.0f} | {box['append'] / box['plain_append']:.2f} |",
        f"| read + acknowledge (head file replaced per record) | {box['read']:,.0f} | "
        f"{box['plain_read']:,.0f} | {box['read'] / box['plain_read']:.2f} |",
        "",
        f"Flash per record: {box['bytes_per_record']:.1f} bytes for a {len(payload)}-byte "
        "record (12 bytes of framing per entry). Read + acknowledge rewrites the small "
        "`head` file per record, the price of sending nothing twice after a reboot.",
    ]
    return "\n".join(lines)


def _outbox(micropython: str, work: Path, payload: bytes) -> dict[str, float]:
    folder = work / "outbox-bench"
    script = work / "outbox_bench.py"
    script.write_text(
        OUTBOX_SCRIPT.format(n=OUTBOX_RECORDS, payload=payload, folder=folder.as_posix())
    )
    env = micropython_env(fakes=True, compiled=compile_firmware(work / "firmware"))
    done = subprocess.run(
        [micropython, "-X", "heapsize=64k", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"outbox benchmark failed: {done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    n = OUTBOX_RECORDS
    return {
        "append": n / (result["append_us"] / 1e6),
        "read": n / (result["read_us"] / 1e6),
        "plain_append": n / (result["plain_append_us"] / 1e6),
        "plain_read": n / (result["plain_read_us"] / 1e6),
        "bytes_per_record": result["flash"] / n,
    }
