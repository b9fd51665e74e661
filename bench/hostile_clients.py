"""Hostile clients against `lokaalmeten server` (own process, default limits) on a SQLite
store of millions of readings, while a second client asks `/v1/nodes` every 20 ms.

The hostile clients come from two loopback addresses (127.0.0.2, 127.0.0.3), eight threads
each, cycling through the probes of issue 21 (refused with 400 at once) and the worst
requests the limits still admit: a scan of just under `max_points` observations with a
filter and `$count`, 6,000 observations with two expansions, a whole year as CSV. A ninth
thread per address fires as fast as it can, so that most of its requests are refused (429
or 503); their latency is what a refusal costs. The reference, in the same run: `/v1/nodes`
latency with no hostile client. The server's RSS is sampled every 50 ms throughout.

LM_BENCH_HOSTILE_READINGS sets the store size (default 4,350,000, the store the limits were
first measured on); LM_BENCH_HOSTILE_SECONDS the length of the hostile phase (default 30).
The hostile clients run in a process of their own, the second client in this one: its
latency is the server's.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.api_queries import INTERVAL, T0, build_store
from bench.csv_export import Server, rss
from lokaalmeten.settings import ServerSettings

NAME = "hostile_clients"
TITLE = "Open-data server under hostile clients: /v1/nodes latency, refusals, memory"

QUANTITIES = ("pm25", "pm10", "temperature", "humidity")
MiB = 1024 * 1024
RSS_CEILING = 400 * MiB  # documented in docs/api.md for the default limits


def iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def requests(per_stream: int) -> list[tuple[str, dict[str, str]]]:
    end = T0 + per_stream * INTERVAL
    # 24,000 readings per stream span 24,000 × 145 s; four streams of kit-000: ~96,000.
    scan_end = T0 + 24_000 * INTERVAL
    deep = "Datastreams($top=10000;$expand=Thing($expand=Datastreams($top=10000;$expand="
    deep += "Thing($expand=Datastreams($top=10000)))))"
    return [
        ("/v1.1/Observations", {"$filter": " or ".join(f"result eq {i}" for i in range(700))}),
        ("/v1.1/Things", {"$expand": deep}),
        (
            "/v1.1/Observations",
            {
                "$expand": "FeatureOfInterest,Datastream($expand=Thing($expand=Locations))",
                "$top": "10000",
            },
        ),
        ("/v1.1/Observations", {"$filter": "(" * 3000 + "result gt 1" + ")" * 3000}),
        (
            "/v1.1/Observations",
            {
                "$filter": f"phenomenonTime ge {iso(T0)} and phenomenonTime lt {iso(end)} "
                "and result gt 10",
                "$count": "true",
            },
        ),
        # admitted, and as costly as the limits allow
        (
            "/v1.1/Things('kit-000')/Datastreams",
            {"$expand": "Observations($top=1000;$filter=result gt 1000)"},
        ),
        (
            "/v1.1/Observations",
            {
                "$filter": f"Datastream/Thing/name eq 'x' and phenomenonTime ge {iso(T0)} "
                f"and phenomenonTime lt {iso(scan_end)}",
                "$count": "true",
                "$top": "1",
            },
        ),
        ("/v1.1/Observations", {"$top": "6000", "$expand": "Datastream($expand=Thing)"}),
        ("/v1/export/readings.csv", {"from": iso(T0), "to": iso(T0 + 365 * 86400)}),
    ]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def victim(base: str, stop: threading.Event, latencies: list[float], errors: Counter[str]) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                status = client.get("/v1/nodes").status_code
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                continue
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors[str(status)] += 1
            time.sleep(0.02)


def hostile(
    base: str,
    address: str,
    probes: list[tuple[str, dict[str, str]]],
    offset: int,
    stop: threading.Event,
    statuses: Counter[int],
) -> None:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=base, timeout=60, transport=transport) as client:
        i = offset
        while not stop.is_set():
            path, params = probes[i % len(probes)]
            i += 1
            try:
                with client.stream("GET", path, params=params) as response:
                    for _ in response.iter_raw():
                        if stop.is_set():
                            break
                statuses[response.status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1


def burst(
    base: str, address: str, stop: threading.Event, refusals: list[float], statuses: Counter[int]
) -> None:
    """As fast as one connection allows: each refusal's round trip is recorded."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=base, timeout=60, transport=transport) as client:
        while not stop.is_set():
            started = time.perf_counter()
            status = client.get("/v1.1/Observations", params={"$top": "1000"}).status_code
            statuses[status] += 1
            if status in (429, 503):
                refusals.append(time.perf_counter() - started)


def attack(
    base: str, probes: list[tuple[str, dict[str, str]]], seconds: float, results: Any
) -> None:
    """The hostile clients (a process of their own): 2 addresses × (8 cycling + 1 burst)."""
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    burst_statuses: Counter[int] = Counter()
    refusals: list[float] = []
    threads = []
    for address in ("127.0.0.2", "127.0.0.3"):
        threads += [
            threading.Thread(target=hostile, args=(base, address, probes, k, stop, statuses))
            for k in range(8)
        ]
        threads.append(
            threading.Thread(target=burst, args=(base, address, stop, refusals, burst_statuses))
        )
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    results.put((statuses, burst_statuses, refusals))


def run(work: Path) -> str:
    total = int(os.environ.get("LM_BENCH_HOSTILE_READINGS", 4_350_000))
    seconds = float(os.environ.get("LM_BENCH_HOSTILE_SECONDS", 30))
    nodes = 6
    per_stream = max(1, total // (nodes * len(QUANTITIES)))
    path = work / "hostile.db"
    build = build_store(path, nodes, QUANTITIES, per_stream)
    server = Server(f"sqlite:///{path}", work / "server.log")
    base = f"http://127.0.0.1:{server.port}"
    pid = server.process.pid
    memory: list[int] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            memory.append(rss(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        # The server is started with LM_RATE_LIMIT=0 (bench/csv_export.Server): the fair
        # share, not the rate limit, is what stands between the clients here.
        quiet_stop = threading.Event()
        quiet: list[float] = []
        quiet_errors: Counter[str] = Counter()
        t = threading.Thread(target=victim, args=(base, quiet_stop, quiet, quiet_errors))
        t.start()
        time.sleep(min(10.0, seconds / 3))
        quiet_stop.set()
        t.join()
        idle_rss = rss(pid)

        # The hostile clients run in a process of their own, as they would on other
        # machines: the victim's latency is the server's, not this process's GIL shared with
        # sixteen threads parsing hostile answers. (All still share the server's two cores.)
        probes = requests(per_stream)
        results: multiprocessing.Queue[Any] = multiprocessing.get_context("fork").Queue()
        attackers = multiprocessing.get_context("fork").Process(
            target=attack, args=(base, probes, seconds, results)
        )
        stop = threading.Event()
        loud: list[float] = []
        loud_errors: Counter[str] = Counter()
        watcher = threading.Thread(target=victim, args=(base, stop, loud, loud_errors))
        attackers.start()
        time.sleep(1.0)  # the attackers' threads are at work
        watcher.start()
        statuses, burst_statuses, refusals = results.get(timeout=seconds + 180)
        stop.set()
        watcher.join()
        attackers.join(timeout=30)
    finally:
        sampling.set()
        sampler.join()
        server.stop()
    peak = max(memory)
    limits = ServerSettings()
    rows = [
        "| `/v1/nodes` | requests | p50 (ms) | p99 (ms) | max (ms) | errors |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, samples, errors in (
        ("alone (reference)", quiet, quiet_errors),
        ("beside the hostile clients", loud, loud_errors),
    ):
        rows.append(
            f"| {label} | {len(samples)} | {statistics.median(samples) * 1000:.1f} | "
            f"{percentile(samples, 0.99) * 1000:.1f} | {max(samples) * 1000:.1f} | "
            f"{dict(errors) or 'none'} |"
        )
    ratio = percentile(loud, 0.99) / percentile(quiet, 0.99)
    answered = ", ".join(f"{status or 'failed'}: {n}" for status, n in sorted(statuses.items()))
    bursts = ", ".join(f"{status}: {n}" for status, n in sorted(burst_statuses.items()))
    refusal = (
        f"p50 {statistics.median(refusals) * 1000:.1f} ms, "
        f"p99 {percentile(refusals, 0.99) * 1000:.1f} ms"
        if refusals
        else "none refused"
    )
    return "\n".join(
        [
            f"{nodes * len(QUANTITIES) * per_stream:,} readings ({nodes} nodes × "
            f"{len(QUANTITIES)} quantities, one every {INTERVAL} s), built in {build:.0f} s "
            "through the bulk path; the server with its default limits "
            f"(`max_heavy_per_client` {limits.max_heavy_per_client}, `max_heavy_total` "
            f"{limits.max_heavy_total}), rate limit off. "
            f"Hostile phase {seconds:.0f} s: 2 addresses × (8 threads cycling through "
            f"{len(probes)} requests + 1 burst thread).",
            "",
            *rows,
            "",
            f"p99 beside the hostile clients / p99 alone: {ratio:.1f}×.",
            "",
            f"Hostile requests answered: {answered}. Burst threads: {bursts}; "
            f"a refusal's round trip {refusal}.",
            "",
            f"Server RSS: {idle_rss / MiB:.0f} MiB idle, peak {peak / MiB:.0f} MiB during the "
            f"whole run, beside the documented ceiling of {RSS_CEILING / MiB:.0f} MiB "
            f"({peak / RSS_CEILING:.2f} of it).",
        ]
    )
