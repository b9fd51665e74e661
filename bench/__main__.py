"""Run the benchmarks and write their sections into docs/benchmarks.md."""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import tempfile
import time
from pathlib import Path

BENCHMARKS = [
    "store_write",
    "firmware_drivers",
    "gateway_ingest",
    "quality_flags",
    "noise",
    "kit_runtime",
    "kit_memory",
    "portal_heap",
    "api_queries",
    "csv_export",
    "hostile_clients",
    "noise_indicators",
    "calibration",
    "alert_rules",
    "sta_noise",
    "live_stream",
    "api_clients",
    "archive",
    "kit_ranges",
    "peer_nodered",
    "fleet_update",
    "relay",
]
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, "
        f"Python {platform.python_version()}"
    )


def update_doc(name: str, section: str) -> None:
    start, end = f"<!-- bench:{name} -->\n", f"<!-- /bench:{name} -->"
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if start in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}{section}\n{end}{tail}"
    else:
        text = f"{text.rstrip()}\n\n{start}{section}\n{end}\n"
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave the doc alone")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    for name in args.names or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {module.TITLE}", flush=True)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"lm-bench-{name}-") as work:
            body = module.run(Path(work))
        stamp = time.strftime("%Y-%m-%d", time.gmtime())
        section = (
            f"## {module.TITLE}\n\nMeasured {stamp} by `make bench` on {machine()}; "
            f"took {time.monotonic() - started:.0f} s.\n\n{body}"
        )
        print(section, flush=True)
        if not args.no_doc:
            update_doc(name, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
