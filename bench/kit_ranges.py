"""The kit page over long ranges: time to drawn charts in headless chromium, at full speed and
with the CPU slowed four times (as a mid-range phone), for a month of raw readings, a month
of hourly means and a week of raw readings; beside it, in the same run, what fetching the
same month page by page through /v1/readings takes (the page's way before /v1/series).

A real server process over SQLite and over InfluxDB 1.6.7, each holding one kit that read
four quantities every 145 s for 31 days (~74,000 readings). The time runs from the
navigation to the page's `data-ready` (HTML, scripts, the kit's facts, the readings, every
chart drawn); median of REPEATS.
"""

from __future__ import annotations

import gzip
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from lokaalmeten.gateway.directory import Directory
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.readings import Reading
from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn
from lokaalmeten.store import open_store

NAME = "kit_ranges"
TITLE = "Kit page over long ranges: time to drawn charts (chromium, SQLite and InfluxDB)"

KIT = "maand-kit"
INTERVAL = 145
DAYS = 31
REPEATS = 5
QUANTITIES = {"pm25": 9.0, "pm10": 17.0, "temperature": 7.0, "noise_laeq": 45.0}
VIEWS = [
    ("month, raw readings", "range=month&mode=raw"),
    ("month, to suit (hourly means)", "range=month"),
    ("week, raw readings", "range=week&mode=raw"),
]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _fill(url: str, registry: Path, now: int) -> int:
    start = now - DAYS * 86400
    readings = [
        Reading(KIT, q, t, round(base + 4 * math.sin(t / 86400 * 6.283), 2), "SDS011")
        for t in range(start - start % INTERVAL, now, INTERVAL)
        for q, base in QUANTITIES.items()
    ]
    store = open_store(url)
    try:
        for i in range(0, len(readings), 10_000):
            store.write(readings[i : i + 10_000])
    finally:
        store.close()
    directory = Directory(registry)
    directory.adopt([NodeMeta(KIT, 52.09, 5.12, name="Maandkastje")])
    directory.close()
    return len(readings)


def _median_s(page: Any, url: str, slow: int) -> float:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": slow})
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("body[data-ready]", timeout=120_000)
        times.append(time.perf_counter() - began)
        assert page.get_attribute("body", "data-charts") == "ready", page.inner_text("#charts")
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    return statistics.median(times)


def _paged_s(page: Any, base: str, slow: int) -> tuple[float, int]:
    """Fetching the month page by page, in the page, as kit.js did before /v1/series."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": slow})
    page.goto(f"{base}/kits/{KIT}?range=hour")
    page.wait_for_selector("body[data-ready]")
    now = int(time.time())
    to = now - now % 60
    script = """async (url) => {
      const began = performance.now();
      let pages = 0, rows = 0;
      while (url) {
        const page = await (await fetch(url)).json();
        pages += 1; rows += page.value.length;
        const next = page["@nextLink"];
        url = next ? new URL(next).pathname + new URL(next).search : null;
      }
      return [performance.now() - began, pages, rows];
    }"""
    times, pages = [], 0
    for _ in range(3):
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(to - 30 * 86400))
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(to))
        ms, pages, _rows = page.evaluate(script, f"/v1/readings?node={KIT}&from={iso}&to={end}")
        times.append(ms / 1000)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    return statistics.median(times), pages


def _case(work: Path, name: str, url: str, browser: Any) -> list[str]:
    folder = work / name
    folder.mkdir()
    registry = folder / "registry.db"
    count = _fill(url, registry, int(time.time()))
    port = free_port()
    env = {**os.environ, "LM_RATE_LIMIT": "0"}
    with (folder / "server.log").open("ab") as log:
        server = spawn(
            [sys.executable, "-m", "lokaalmeten", "server", "--store", url,
             "--registry", str(registry), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    rows = []
    try:
        assert wait_listening("127.0.0.1", port, 30)
        base = f"http://127.0.0.1:{port}"
        to = int(time.time()) // 60 * 60
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(to - 30 * 86400))
        raw = httpx.get(
            f"{base}/v1/series?node={KIT}&from={iso}", headers={"Accept-Encoding": "identity"},
            timeout=60,
        )  # fmt: skip
        size, packed = len(raw.content), len(gzip.compress(raw.content, 1))
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        for label, query in VIEWS:
            fast = _median_s(page, f"{base}/kits/{KIT}?{query}", 1)
            slow = _median_s(page, f"{base}/kits/{KIT}?{query}", 4)
            rows.append(f"| {name} | {label} | 1 | {fast:.2f} | {slow:.2f} | | |")
        paged_fast, pages = _paged_s(page, base, 1)
        paged_slow, _ = _paged_s(page, base, 4)
        new_fast = float(rows[0].split("|")[4])
        new_slow = float(rows[0].split("|")[5])
        rows.append(
            f"| {name} | month, paged /v1/readings (fetch only, before) | {pages} | "
            f"{paged_fast:.2f} | {paged_slow:.2f} | {new_fast / paged_fast:.2f} | "
            f"{new_slow / paged_slow:.2f} |"
        )
        rows.append(
            f"| {name} | (the month's /v1/series answer: {size / 1e6:.1f} MB, "
            f"{packed / 1e6:.2f} MB gzipped; {count:,} readings stored) | | | | | |"
        )
        page.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)
    return rows


def run(work: Path) -> str:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            rows = _case(work, "SQLite", f"sqlite:///{work / 'month.db'}", browser)
            influx = InfluxDB.start(work / "influx")
            try:
                rows += _case(
                    work, "InfluxDB", f"influxdb://127.0.0.1:{influx.port}/month", browser
                )
            finally:
                influx.stop()
        finally:
            browser.close()
    return (
        f"One kit, {len(QUANTITIES)} quantities every {INTERVAL} s for {DAYS} days; the kit page "
        "at 1366 × 900 in headless chromium, from navigation to every chart drawn "
        f"(median of {REPEATS}); ×4: the CPU slowed four times (DevTools CPU throttling), as a "
        "mid-range phone. The paged row fetches the same month through /v1/readings (1000 a "
        "page) inside the page and draws nothing; its ratios are the month of raw readings "
        "drawn through /v1/series over that fetch alone (lower is faster). Target: a month of "
        "raw readings in at most 2 requests and 1.5 s to a drawn chart.\n\n"
        "| store | view | requests for readings | s | s (CPU ×4) | ratio | ratio (×4) |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
