"""PM calibration: ``calibrate fit`` over many co-located kits, and ``/v1/corrected`` (raw,
humidity-corrected and calibrated hourly PM of one kit over 30 days) through the FastAPI app
(in-process HTTP), beside ``/v1/aggregates`` of the same kit, quantity and hours in the same
run — what the correction and the calibration add to the plain hourly means.

The store holds LM_BENCH_CALIBRATION_KITS kits (default 20), each 30 days of PM2.5 and
humidity every 144 s, all beside one station, from the synthetic co-located series the tests
use (known slope and offset, with noise).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from fastapi.testclient import TestClient

from lokaalmeten.calibration.book import CalibrationBook
from lokaalmeten.calibration.fit import calibrate
from lokaalmeten.calibration.reference import read_reference
from lokaalmeten.gateway.directory import Directory
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.server.app import create_app
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import open_store
from tests.calibration.colocated import KAPPA, NEAR, OFFSET, SLOPE, colocated, write_csv

NAME = "calibration"
TITLE = "PM calibration: co-location fits and /v1/corrected"
HOURS = 30 * 24
SPAN = "from=2026-11-28T00:00:00Z&to=2026-12-28T00:00:00Z"


def _timed(client: TestClient, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
    return elapsed * 1000


def _p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def run(work: Path) -> str:
    kits = int(os.environ.get("LM_BENCH_CALIBRATION_KITS", "20"))
    url = f"sqlite:///{work / 'lm.db'}"
    store = open_store(url)
    readings = 0
    started = time.monotonic()
    for k in range(kits):
        kit, _ = colocated(hours=HOURS, node=f"kit-{k:03d}", seed=k)
        for i in range(0, len(kit), 5000):
            store.write(kit[i : i + 5000])
        readings += len(kit)
    built = time.monotonic() - started
    directory = Directory(work / "registry.db")
    directory.adopt([NodeMeta(f"kit-{k:03d}", NEAR[0], NEAR[1]) for k in range(kits)])
    directory.close()
    book = CalibrationBook(work / "calibration.db")
    # The station's series is kit-000's; the other kits' (other seeds) fit other lines, which
    # does not matter for the timing.
    _, lines = colocated(hours=HOURS, node="kit-000", seed=0)
    book.import_file(read_reference(write_csv(work / "ref.csv", lines)))
    places = {f"kit-{k:03d}": NEAR for k in range(kits)}

    started = time.perf_counter()
    first = calibrate(store, book, places, 2000, None, None, KAPPA)
    fitted = time.perf_counter() - started
    started = time.perf_counter()
    again = calibrate(store, book, places, 2000, None, None, KAPPA)
    refitted = time.perf_counter() - started
    store.close()
    book.close()
    fit = first[0].fit
    if fit is None or any(o.new for o in again):
        raise RuntimeError("the fits were not made, or re-fitting made new versions")

    settings = ServerSettings(
        store=url,
        registry=str(work / "registry.db"),
        calibration=str(work / "calibration.db"),
        rate_limit=0,
        max_heavy_per_client=0,
        max_heavy_total=0,
    )
    corrected: list[float] = []
    plain: list[float] = []
    with TestClient(create_app(settings)) as client:
        for n in range(40):
            node = f"kit-{n % kits:03d}"
            corrected.append(_timed(client, f"/v1/corrected?node={node}&quantity=pm25&{SPAN}"))
            plain.append(
                _timed(client, f"/v1/aggregates?node={node}&quantity=pm25&window=1h&{SPAN}")
            )
    c50, c95 = _p50_p95(corrected[5:])
    a50, a95 = _p50_p95(plain[5:])
    return (
        f"{kits} kits × 30 days of PM2.5 and humidity ({readings:,} readings, written in "
        f"{built:.1f} s), one station with {HOURS} hourly values.\n\n"
        "| what | figure |\n|---|---|\n"
        f"| `calibrate fit`, {kits} kits × {HOURS} paired hours | {fitted:.2f} s "
        f"({fitted / kits * 1000:.0f} ms per kit) |\n"
        f"| the same again (every version unchanged, nothing kept) | {refitted:.2f} s |\n"
        f"| `/v1/corrected`, 1 kit, 30 days (720 hours), p50 / p95 | {c50:.1f} / {c95:.1f} ms |\n"
        f"| `/v1/aggregates`, same kit and hours, p50 / p95 | {a50:.1f} / {a95:.1f} ms |\n"
        f"| ratio corrected / aggregates (p50) | {c50 / a50:.2f} |\n\n"
        f"First kit's fit: slope {fit.slope:.4f}, offset {fit.offset:.3f} (true {SLOPE}, "
        f"{OFFSET}), n {fit.n}, r² {fit.r2:.4f}, RMSE {fit.rmse:.2f} µg/m³.\n"
    )
