"""The bulk archive of one month: how fast `lokaalmeten archive` writes it (the daily gzipped
CSV and the monthly Parquet per quantity), beside the export's own CSV formatting of the
same rows in the same run; what a rerun with nothing changed costs, and one after a late
reading; the files' sizes; the command's peak memory.

The archive runs as the real command in its own process (its peak resident memory from
getrusage of the child). The reference is the export's row formatting alone
(csv_body into nothing: no gzip, no file, no HTTP), the least any CSV archive must spend.

LM_BENCH_ARCHIVE_NODES scales the network (default 25 nodes × 4 quantities, a reading
every 145 s: 1.8 million readings in 31 days).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.api_queries import INTERVAL, T0, build_store
from lokaalmeten.readings import Reading
from lokaalmeten.server.csvfmt import CsvWriter
from lokaalmeten.server.routes.export import csv_body
from lokaalmeten.store import ReadingQuery, open_store

NAME = "archive"
TITLE = "Bulk archive: a month as daily CSV and monthly Parquet"

QUANTITIES = ("pm25", "pm10", "temperature", "humidity")
DAYS = 31
MiB = 1024 * 1024


def archive(store: str, folder: Path, work: Path) -> tuple[float, str, int]:
    """One run of the command: seconds, its last line, and its peak memory (bytes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "lokaalmeten", "archive", "--store", store, "--folder",
         str(folder), "--registry", str(work / "registry.db"), "--since", "2025-12-01",
         "--until", "2025-12-31"],
        capture_output=True, text=True, env={**os.environ, "LM_CONFIG": "none"},
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"lokaalmeten archive failed: {done.stderr[-500:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest of any child so far, in KiB on Linux.
    return seconds, done.stdout.strip().splitlines()[-1], max(peak, before) * 1024


def run(work: Path) -> str:
    nodes = int(os.environ.get("LM_BENCH_ARCHIVE_NODES", 25))
    per_stream = DAYS * 86400 // INTERVAL
    readings = nodes * len(QUANTITIES) * per_stream
    path = work / "archive.db"
    build_store(path, nodes, QUANTITIES, per_stream)
    url = f"sqlite:///{path}"

    store = open_store(url, read_only=True)
    started = time.perf_counter()
    raw = 0
    for chunk in csv_body(store, ReadingQuery(T0, T0 + DAYS * 86400, 1), CsvWriter({})):
        raw += len(chunk)
    export_seconds = time.perf_counter() - started
    store.close()

    folder = work / "archive"
    first, first_line, peak = archive(url, folder, work)
    again, again_line, _ = archive(url, folder, work)
    writer = open_store(url)
    writer.write([Reading("kit-003", "pm25", T0 + 10 * 86400 + 7, 12.5, "SDS011")])
    writer.close()
    late, late_line, _ = archive(url, folder, work)

    daily = sum(p.stat().st_size for p in (folder / "daily").iterdir())
    monthly = sum(p.stat().st_size for p in (folder / "monthly").iterdir())
    export_rate = readings / export_seconds
    archive_rate = readings / first
    return (
        f"{nodes} nodes × {len(QUANTITIES)} quantities, a reading every {INTERVAL} s for "
        f"{DAYS} days: {readings:,} readings in a SQLite store. `lokaalmeten archive` runs "
        "as its own process, three times.\n\n"
        "| run | seconds | readings/s | what it wrote |\n"
        "|---|---|---|---|\n"
        f"| first (31 daily CSV, 4 monthly Parquet) | {first:.1f} | {archive_rate:,.0f} | "
        f"{first_line} |\n"
        f"| again, nothing changed | {again:.2f} | | {again_line} |\n"
        f"| after one late reading | {late:.1f} | | {late_line} |\n"
        f"| reference: the export's CSV formatting of the same rows, no gzip, no file | "
        f"{export_seconds:.1f} | {export_rate:,.0f} | {raw / MiB:,.0f} MiB of CSV |\n\n"
        f"Writing the archive (each reading formatted twice: a gzipped CSV row and a Parquet "
        f"row) runs at {archive_rate / export_rate:.2f} × the export's bare formatting rate. "
        f"A rerun with nothing changed only compares fingerprints (one aggregate query per "
        f"month) and writes nothing; a late reading rewrites its day and its quantity's month. "
        f"Peak memory of the command: {peak / MiB:.0f} MiB (row groups of 250,000 rows; "
        "pyarrow imports pandas when it is installed, as in this development environment, "
        "which a gateway's installation is not).\n\n"
        "| files | size | bytes per reading |\n|---|---|---|\n"
        f"| CSV, uncompressed (the export) | {raw / MiB:,.1f} MiB | {raw / readings:.1f} |\n"
        f"| 31 daily `.csv.gz` | {daily / MiB:,.1f} MiB | {daily / readings:.1f} |\n"
        f"| 4 monthly `.parquet` (zstd) | {monthly / MiB:,.1f} MiB | {monthly / readings:.1f} |\n"
    )
