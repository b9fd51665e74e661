"""CSV export of 10 million readings: rows/s and the server's memory, beside InfluxDB's own
CSV output of the same rows in the same run.

The server runs as `lokaalmeten server` in its own process; a bare socket client streams
`/v1/export/readings.csv` over loopback HTTP/1.0 (no gzip) and counts rows, while the server's
resident memory is sampled from /proc. The same readings are loaded into InfluxDB 1.6.7,
which then answers `/query?chunked=true` with `Accept: application/csv` (its own CSV), and
our export is run once more with InfluxDB as the store.

LM_BENCH_CSV_READINGS scales the row count (default 10,000,000).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.api_queries import INTERVAL, T0, build_store
from lokaalmeten.readings import iso_utc
from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.ports import free_port

NAME = "csv_export"
TITLE = "CSV export: 10 million readings, beside InfluxDB's own CSV"

NODES = 12
QUANTITIES = ("pm25", "pm10", "temperature", "humidity")
MiB = 1024 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Server:
    """`lokaalmeten server` on a free port, in its own process."""

    def __init__(
        self, store: str, log: Path, workers: int = 1, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.log = log
        env = {**os.environ, "LM_RATE_LIMIT": "0", "LM_MAX_RANGE_DAYS": "3660", **(env or {})}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lokaalmeten",
                "server",
                "--store",
                store,
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/v1/quantities", timeout=1)
                return
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {log.read_text()[-500:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def download(url: str, pid: int | None, headers: dict[str, str]) -> dict[str, float]:
    """Stream a CSV and count its rows (line ends minus the header) and the server's memory.

    The client is a bare HTTP/1.0 socket reader: no chunked encoding, no parsing beyond the
    header, so it costs far less CPU than the servers it measures (2 cores, shared).
    """
    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    request = f"GET {target} HTTP/1.0\r\nHost: {parts.netloc}\r\n" + "".join(
        f"{key}: {value}\r\n" for key, value in headers.items()
    )
    samples: list[tuple[int, int]] = []  # (bytes received, rss)
    received = [0]
    done = threading.Event()

    def sample() -> None:
        while pid is not None and not done.is_set():
            samples.append((received[0], rss(pid)))
            time.sleep(0.1)

    before = rss(pid) if pid is not None else 0
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    lines = 0
    head: bytes | None = b""
    started = time.perf_counter()
    with socket.create_connection((parts.hostname, parts.port or 80)) as connection:
        connection.sendall(f"{request}\r\n".encode())
        while (size := connection.recv_into(buffer)) > 0:
            received[0] += size
            if head is not None:  # still in the response header
                head += bytes(view[:size])
                if b"\r\n\r\n" not in head:
                    continue
                status, body = head.split(b"\r\n\r\n", 1)
                if b" 200 " not in status.split(b"\r\n", 1)[0]:
                    raise RuntimeError(f"{url}: {status[:200]!r}")
                lines += body.count(b"\n")
                head = None
                continue
            lines += buffer.count(b"\n", 0, size)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    total = received[0]
    early = [r for b, r in samples if b <= total * 0.1] or [before]
    late = [r for b, r in samples if b >= total * 0.9] or [before]
    return {
        "lines": lines,
        "bytes": total,
        "seconds": elapsed,
        "rss_before": before,
        "rss_early": max(early),
        "rss_late": max(late),
        "rss_peak": max([r for _, r in samples] or [before]),
    }


def load_influxdb(url: str, per_stream: int) -> float:
    """The SQLite store's readings, point for point, into InfluxDB; returns seconds."""
    started = time.monotonic()
    httpx.post(f"{url}/query", data={"q": "CREATE DATABASE bench"}, timeout=30)
    with httpx.Client(base_url=url, timeout=300) as client:
        for n in range(NODES):
            node_id = n + 1
            for q_id, quantity in enumerate(QUANTITIES, start=1):
                for first in range(0, per_stream, 100_000):
                    body = "\n".join(
                        f"{quantity},node=kit-{n:03d},sensor=SDS011 "
                        f"value={((i * 37 + node_id * 11 + q_id * 5) % 400) / 8.0!r},flags=0i "
                        f"{T0 + i * INTERVAL}"
                        for i in range(first, min(per_stream, first + 100_000))
                    )
                    response = client.post(
                        "/write", params={"db": "bench", "precision": "s"}, content=body
                    )
                    response.raise_for_status()
    return time.monotonic() - started


def run(work: Path) -> str:
    total = int(os.environ.get("LM_BENCH_CSV_READINGS", 10_000_000))
    per_stream = total // (NODES * len(QUANTITIES))
    rows = per_stream * NODES * len(QUANTITIES)
    path = work / "export.db"
    build_store(path, NODES, QUANTITIES, per_stream)
    span = f"from={iso_utc(T0)}&to={iso_utc(T0 + per_stream * INTERVAL)}"
    identity = {"Accept-Encoding": "identity"}
    server = Server(f"sqlite:///{path}", work / "server.log")
    try:
        ours = download(
            f"http://127.0.0.1:{server.port}/v1/export/readings.csv?{span}",
            server.process.pid,
            identity,
        )
        dutch = download(
            f"http://127.0.0.1:{server.port}/v1/export/readings.csv?{span}&delimiter=semicolon",
            None,
            identity,
        )
    finally:
        server.stop()
    influx = InfluxDB.start(work / "influx")
    try:
        load = load_influxdb(influx.url, per_stream)
        sources = ",".join(f'"{q}"' for q in QUANTITIES)
        statement = (
            f'SELECT "value","flags","sensor" FROM {sources} WHERE time >= {T0}s AND '
            f'time < {T0 + per_stream * INTERVAL}s GROUP BY "node"'
        )
        own = download(
            f"{influx.url}/query?db=bench&chunked=true&chunk_size=10000&"
            + httpx.QueryParams({"q": statement}).__str__(),
            influx.process.pid,
            {**identity, "Accept": "application/csv"},
        )
        server = Server(f"influxdb://127.0.0.1:{influx.port}/bench", work / "server.log")
        try:
            via = download(
                f"http://127.0.0.1:{server.port}/v1/export/readings.csv?{span}",
                server.process.pid,
                identity,
            )
        finally:
            server.stop()
    finally:
        influx.stop()
    for name, result in (("ours", ours), ("dutch", dutch), ("via", via)):
        if result["lines"] - 1 != rows:
            raise RuntimeError(f"{name}: {result['lines'] - 1} rows, expected {rows}")

    def rate(result: dict[str, float]) -> float:
        return rows / result["seconds"]

    reference = rate(own)
    return "\n".join(
        [
            f"{rows:,} readings ({NODES} nodes × {len(QUANTITIES)} quantities); the client "
            "streams each export over loopback HTTP without gzip. InfluxDB 1.6.7 was loaded "
            f"with the same points in {load:.0f} s.",
            "",
            "| export | rows/s | × InfluxDB's own CSV | MB | server memory (RSS) |",
            "|---|---|---|---|---|",
            f"| `/v1/export/readings.csv`, SQLite store | {rate(ours):,.0f} | "
            f"{rate(ours) / reference:.2f} | {ours['bytes'] / 1e6:,.0f} | "
            f"{ours['rss_before'] / MiB:.0f} MiB idle, {ours['rss_early'] / MiB:.0f} MiB after "
            f"10 % of the rows, {ours['rss_late'] / MiB:.0f} MiB at 90 %, peak "
            f"{ours['rss_peak'] / MiB:.0f} MiB |",
            f"| the same with `delimiter=semicolon` (decimal comma) | {rate(dutch):,.0f} | "
            f"{rate(dutch) / reference:.2f} | {dutch['bytes'] / 1e6:,.0f} | |",
            f"| `/v1/export/readings.csv`, InfluxDB store | {rate(via):,.0f} | "
            f"{rate(via) / reference:.2f} | {via['bytes'] / 1e6:,.0f} | "
            f"{via['rss_early'] / MiB:.0f} MiB at 10 %, {via['rss_late'] / MiB:.0f} MiB at "
            f"90 % |",
            f"| InfluxDB's own CSV (`/query?chunked=true`, `Accept: application/csv`) | "
            f"{reference:,.0f} | 1.00 | {own['bytes'] / 1e6:,.0f} | influxd peak "
            f"{own['rss_peak'] / MiB:.0f} MiB |",
        ]
    )
