"""Open-data API under 1, 10 and 50 concurrent keep-alive clients, beside a bare endpoint.

Three requests — /v1/latest (every kit's newest values), one kit's hourly pm25 means over a
day, and /v1.1/Observations?$top=100 — against ``lokaalmeten server --workers N`` (the
production start, docs/api.md) on SQLite and on a real InfluxDB 1.x, and a bare ASGI "hello"
app (one route, a small JSON) served by the same supervisor and uvicorn configuration, in
the same run with the same client. The client is wrk (Debian's package: C, one thread, HTTP/1.1
keep-alive, latency percentiles), so that the client costs little beside the servers on a
machine whose cores they share. The rate limit and the fair share are off (LM_RATE_LIMIT=0,
LM_MAX_HEAVY_PER_CLIENT=0, LM_MAX_HEAVY_TOTAL=0): every request comes from one address, and
the point is what the server can answer, not what it refuses. The shared rate limit's own
cost is measured apart, per call, beside the in-process one.

    python -m bench.api_clients hello PORT WORKERS   # the bare app alone
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.types import Receive, Scope, Send

from bench.api_queries import INTERVAL, T0, build_store
from bench.csv_export import NODES, QUANTITIES, Server, load_influxdb
from lokaalmeten.readings import Reading, iso_utc
from lokaalmeten.server.buckets import LocalBuckets, SharedBuckets
from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn
from lokaalmeten.store import open_store

TITLE = "Open-data API: requests/s and p99 at 1, 10 and 50 clients, beside a bare endpoint"

CLIENTS = (1, 10, 50)
DAY = 86400
PER_STREAM = 7 * DAY // INTERVAL  # a week of readings per kit and quantity
REQUESTS = {
    "latest": "/v1/latest",
    "hourly": f"/v1/aggregates?node=kit-000&quantity=pm25&window=1h&from={iso_utc(T0 + DAY)}"
    f"&to={iso_utc(T0 + 2 * DAY)}",
    "observations": "/v1.1/Observations?$top=100",
}
OPEN = {"LM_MAX_HEAVY_PER_CLIENT": "0", "LM_MAX_HEAVY_TOTAL": "0"}


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """The bare endpoint: what uvicorn and the supervisor cost with no application."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b'{"hello":"world"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"17")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def serve_hello(port: int, workers: int) -> None:
    from lokaalmeten.server.serve import run, uvicorn_config
    from lokaalmeten.server.workers import serve_workers

    if workers > 1:
        serve_workers(lambda index: hello, "127.0.0.1", port, workers)
    else:
        run(uvicorn_config(hello, "127.0.0.1", port, "127.0.0.1"))


class Hello:
    def __init__(self, workers: int, log: Path) -> None:
        self.port = free_port()
        with log.open("ab") as out:
            self.process = spawn(
                [sys.executable, "-m", "bench.api_clients", "hello", str(self.port), str(workers)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if not wait_listening(
            "127.0.0.1", self.port, 30, alive=lambda: self.process.poll() is None
        ):
            raise RuntimeError(f"hello app did not start: {log.read_text()[-500:]}")
        time.sleep(1)  # every worker up, not only the first

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass(frozen=True)
class Cell:
    rate: float  # requests/s
    p50_ms: float
    p99_ms: float
    failed: int = 0  # answers other than 2xx/3xx, and socket errors


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, clients: int, seconds: float) -> Cell:
    """One wrk thread, ``clients`` keep-alive connections, ``seconds`` long."""
    result = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", "--timeout", "10s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    out = result.stdout
    # Counted and shown, not fatal: a rare 503 of an overloaded store (its query time limit)
    # is the server's answer under this load, and the table says how often it came.
    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        failed += sum(int(n) for n in errors.groups())
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    return Cell(rate, p50, p99, failed)


def measure(base: str, paths: dict[str, str], seconds: float) -> dict[tuple[str, int], Cell]:
    for path in paths.values():
        wrk(base + path, 10, 1)  # warm: caches, the node directory, every worker
    return {
        (name, clients): wrk(base + path, clients, seconds)
        for name, path in paths.items()
        for clients in CLIENTS
    }


def bucket_cost(calls: int = 200_000) -> tuple[float, float]:
    """Microseconds per rate-limit decision: in-process dict, shared table (one address)."""
    costs = []
    shared = SharedBuckets.create()
    for buckets in (LocalBuckets(), shared):
        now = time.monotonic()
        started = time.perf_counter()
        for n in range(calls):
            buckets.take("192.0.2.7", now + n, 1e9, 1e9)
        costs.append((time.perf_counter() - started) / calls * 1e6)
    shared.close()
    return costs[0], costs[1]


def run(work: Path) -> str:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk (tools/ensure-services)")
    seconds = float(os.environ.get("LM_BENCH_CLIENTS_SECONDS", 3))
    worker_counts = (2, 1)
    path = work / "clients.db"
    build_store(path, NODES, QUANTITIES, PER_STREAM)
    influx = InfluxDB.start(work / "influx")
    results: dict[tuple[str, int], dict[tuple[str, int], Cell]] = {}
    try:
        load_influxdb(influx.url, PER_STREAM)
        # The points went in by line protocol, as InfluxDB's own tools load them; a gateway
        # writes through the store, which keeps the change log the server's kept answers
        # look at. One batch through the store starts that log.
        gateway_side = open_store(f"influxdb://127.0.0.1:{influx.port}/bench")
        try:
            gateway_side.write(
                [Reading("kit-000", "pm25", T0 + PER_STREAM * INTERVAL, 7.5, "SDS011")]
            )
        finally:
            gateway_side.close()
        for workers in worker_counts:
            bare = Hello(workers, work / "hello.log")
            try:
                results[("hello", workers)] = measure(
                    f"http://127.0.0.1:{bare.port}", {"hello": "/"}, seconds
                )
            finally:
                bare.stop()
            for store, url in (
                ("SQLite", f"sqlite:///{path}"),
                ("InfluxDB", f"influxdb://127.0.0.1:{influx.port}/bench"),
            ):
                server = Server(url, work / "server.log", workers, OPEN)
                try:
                    time.sleep(1)  # every worker up, not only the one that answered
                    results[(store, workers)] = measure(
                        f"http://127.0.0.1:{server.port}", REQUESTS, seconds
                    )
                finally:
                    server.stop()
    finally:
        influx.stop()
    local_us, shared_us = bucket_cost()
    return report(results, worker_counts, seconds, local_us, shared_us)


def report(
    results: dict[tuple[str, int], dict[tuple[str, int], Cell]],
    worker_counts: tuple[int, ...],
    seconds: float,
    local_us: float,
    shared_us: float,
) -> str:
    lines = [
        f"{NODES} kits × {len(QUANTITIES)} quantities, a week of readings each "
        f"({NODES * len(QUANTITIES) * PER_STREAM:,} readings), the same in SQLite and in "
        f"InfluxDB 1.x. Client: wrk, one thread, N keep-alive connections, {seconds:g} s per "
        "cell after a 1 s warm-up; all on this machine's cores (client included). `× bare`: "
        "requests/s over the bare hello app's with the same workers and clients; `failed`: "
        "answers other than 2xx/3xx and socket errors in the cell.",
        "",
        "| workers | store | request | clients | requests/s | × bare | p50 ms | p99 ms | failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for workers in worker_counts:
        bare = results[("hello", workers)]
        for clients in CLIENTS:
            cell = bare[("hello", clients)]
            lines.append(
                f"| {workers} | — | bare hello | {clients} | {cell.rate:,.0f} | 1.00 | "
                f"{cell.p50_ms:.2f} | {cell.p99_ms:.2f} | {cell.failed} |"
            )
        for store in ("SQLite", "InfluxDB"):
            cells = results[(store, workers)]
            for name in REQUESTS:
                for clients in CLIENTS:
                    cell = cells[(name, clients)]
                    ratio = cell.rate / bare[("hello", clients)].rate
                    lines.append(
                        f"| {workers} | {store} | {name} | {clients} | {cell.rate:,.0f} | "
                        f"{ratio:.2f} | {cell.p50_ms:.2f} | {cell.p99_ms:.2f} | {cell.failed} |"
                    )
    lines += [
        "",
        "Requests: "
        + "; ".join(f"`{name}` = `{path}`" for name, path in REQUESTS.items())
        + ". Target: /v1/latest ≥ 0.3 × bare.",
        "",
        f"Rate-limit decision: {local_us:.2f} µs in this process's dict, {shared_us:.2f} µs in "
        "the table the workers share (BLAKE2b of the address, an fcntl range lock, 8 slots "
        "read) — per request, beside the milliseconds above.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["hello"]:
        serve_hello(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("usage: python -m bench.api_clients hello PORT WORKERS")
