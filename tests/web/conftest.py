"""A real server over a store with the demo's kits, and Debian's chromium driven by Playwright.

The store holds the demo's three simulated kits (``sim-1`` … ``sim-3``, placed with the
metadata ``lokaalmeten places set`` writes) with 36 hours of readings up to now, and one kit
without a location. The server is the real ``lokaalmeten server`` process. When chromium or
Playwright is missing the browser tests are skipped with the suite's loud summary line (or
fail, with LM_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lokaalmeten.gateway.alert_book import AlertBook, AlertKey
from lokaalmeten.gateway.directory import Directory
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.readings import Reading
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.store import open_store
from tests.conftest import _unavailable
from tests.helpers import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = REPO / "test-artifacts" / "web"
INTERVAL = 145  # seconds between a simulated kit's readings (the firmware's default)
HOURS = 36

PLACES = [
    NodeMeta("sim-1", 52.090712, 5.121421, name="Balkon Lombok"),
    NodeMeta("sim-2", 52.097489, 5.110024, name="Tuin Zuilen"),
    NodeMeta("sim-3", 52.084963, 5.135012, exact=True, name="Basisschool De Linde"),
]
UNPLACED = "kit-zonder-plek"
DEAD_PM10 = "Kit sim-2 has sent no pm10 for 10 min while it still sends other quantities."
# quantity -> (sensor, base value, daily swing); sim-2 is the dusty one, sim-3 the noisy one
SIGNALS = {
    "pm25": ("SDS011", 9.0, 6.0),
    "pm10": ("SDS011", 16.0, 8.0),
    "temperature": ("BME280", 8.0, 3.0),
    "noise_laeq": ("ICS43434", 48.0, 8.0),
}
# sim-1 was away from 10 h to 9 h 20 min ago: at least one hour below 75 % coverage.
OUTAGE = (9 * 3600 + 20 * 60, 10 * 3600)
OFFSET = {"sim-1": 0.0, "sim-2": 30.0, "sim-3": 14.0, UNPLACED: 0.0}


def demo_readings(now: int) -> list[Reading]:
    readings = []
    start = now - HOURS * 3600
    for node in (*(p.node for p in PLACES), UNPLACED):
        for k, moment in enumerate(range(start - start % INTERVAL, now, INTERVAL)):
            if node == "sim-1" and OUTAGE[0] <= now - moment < OUTAGE[1]:
                continue
            for quantity, (sensor, base, swing) in SIGNALS.items():
                extra = OFFSET[node] if quantity != "temperature" else 0.0
                if quantity == "noise_laeq" and node != "sim-3":
                    extra = 0.0
                daily = math.sin(moment / 86400 * 2 * math.pi)
                value = base + extra + swing * daily + math.sin(k * 1.7) / 2
                readings.append(Reading(node, quantity, moment, round(value, 2), sensor))
    return readings


def build_site(folder: Path) -> tuple[str, Path]:
    """A store with the demo's kits and a registry with their places in ``folder``: the store's
    URL and the registry's path."""
    url = f"sqlite:///{folder / 'readings.db'}"
    store = open_store(url)
    try:
        store.write(demo_readings(int(time.time())))
    finally:
        store.close()
    registry = folder / "registry.db"
    directory = Directory(registry)
    directory.adopt(PLACES)  # as `lokaalmeten places set` would
    directory.close()
    book = AlertBook(registry, [])  # as the gateway keeps them: sim-2's PM10 sensor is dead
    book.raise_alert(AlertKey("dead_sensor", "sim-2", "pm10"), DEAD_PM10, int(time.time()) - 600)
    book.close()
    return url, registry


@contextmanager
def serve(
    folder: Path, url: str, registry: Path, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Base URL of a real `lokaalmeten server` process over the store and registry (its
    calibration book, if any: calibration.db beside the registry); ``env``: more settings."""
    port = free_port()
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lokaalmeten",
            "server",
            "--store",
            url,
            "--registry",
            str(registry),
            "--port",
            str(port),
        ],
        env={
            **os.environ,
            "LM_RATE_LIMIT": "0",
            "LM_TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png",
            **(env or {}),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        if not wait_listening("127.0.0.1", port, 30, alive=lambda: server.poll() is None):
            raise RuntimeError(f"the server did not start: {(folder / 'server.log').read_text()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real `lokaalmeten server` over a store with the demo's kits, placed."""
    folder = tmp_path_factory.mktemp("web")
    url, registry = build_site(folder)
    with serve(folder, url, registry) as base:
        yield base


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser).

    For this package's tests only: Playwright's sync API keeps an asyncio loop running in
    the main thread while it is open, and a test elsewhere that runs a loop of its own
    (tests/server/test_workers.py) would find it there, as it did on a parallel worker that
    had run a web test first."""
    if shutil.which(CHROMIUM) is None:
        _unavailable("chromium", "apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright", "pip install 'lokaalmeten[dev]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def new_page(browser: Any, locale: str = "en-GB", **options: Any) -> Any:
    """A fresh browser context (no cookies, no storage) with the given browser language."""
    context = browser.new_context(locale=locale, accept_downloads=True, **options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
