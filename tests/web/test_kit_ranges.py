"""The kit page over long ranges, live, and in plain words: a month of raw readings in one
request (the resolution chosen from the range when asked to), latest values that follow the
readings without a reload, and a sentence beside each value relating it to its guideline."""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lokaalmeten.gateway.directory import Directory
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.readings import Reading
from lokaalmeten.server.web.bands import SCALES, band_of
from lokaalmeten.server.web.i18n import TEXTS
from lokaalmeten.store import open_store
from tests.web.conftest import INTERVAL, new_page, screenshot, serve
from tests.web.test_pages import download

KIT = "maand-kit"
DAYS = 31
# quantity -> (sensor, base value); noise at 45 dB: above the WHO night guideline of 40
SIGNALS = {
    "pm25": ("SDS011", 9.0),
    "pm10": ("SDS011", 17.0),
    "temperature": ("BME280", 7.0),
    "noise_laeq": ("ICS43434", 45.0),
}
DATA_PATHS = ("/v1/series", "/v1/readings", "/v1/aggregates")


@pytest.fixture(scope="module")
def month_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A site whose one kit has read every 145 s for a month, up to now."""
    folder: Path = tmp_path_factory.mktemp("month")
    url = f"sqlite:///{folder / 'readings.db'}"
    now = int(time.time())
    start = now - DAYS * 86400
    store = open_store(url)
    try:
        batch = [
            Reading(
                KIT, quantity, moment, round(base + 4 * math.sin(moment / 86400 * 6.283), 2), sensor
            )
            for moment in range(start - start % INTERVAL, now, INTERVAL)
            for quantity, (sensor, base) in SIGNALS.items()
        ]
        store.write(batch)
    finally:
        store.close()
    registry = folder / "registry.db"
    directory = Directory(registry)
    directory.adopt([NodeMeta(KIT, 52.09, 5.12, name="Maandkastje")])
    directory.close()
    with serve(folder, url, registry) as base:
        yield base, url


def _open(browser: Any, url: str, **options: Any) -> tuple[Any, list[str]]:
    page = new_page(browser, **options)
    asked: list[str] = []
    page.on(
        "request", lambda r: asked.append(r.url) if any(p in r.url for p in DATA_PATHS) else None
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-charts") == "ready", page.inner_text("#charts")
    assert errors == []
    return page, asked


def _points(page: Any) -> dict[str, int]:
    charts = page.locator("svg.chart")
    return {
        charts.nth(i).get_attribute("data-quantity"): int(
            charts.nth(i).get_attribute("data-points")
        )
        for i in range(charts.count())
    }


def test_a_month_of_raw_readings_is_one_request_and_every_reading_drawn(
    browser: Any, month_site: tuple[str, str]
) -> None:
    base, _ = month_site
    page, asked = _open(browser, f"{base}/kits/{KIT}?range=month&mode=raw")
    # The budget is two requests for the readings; the page makes one. Its time is measured
    # in bench/kit_ranges.py, not here.
    assert len(asked) == 1 and "/v1/series?" in asked[0], asked
    expected = 30 * 86400 / INTERVAL
    shown = _points(page)
    assert set(shown) == set(SIGNALS)
    assert all(abs(n - expected) <= 2 for n in shown.values()), shown
    label = page.locator('svg.chart[data-quantity="pm25"]').get_attribute("aria-label") or ""
    assert f"{shown['pm25']} readings from" in label
    # The JSON link is the very answer drawn.
    href = page.get_attribute("#download-json", "href") or ""
    assert href.startswith("/v1/series?")
    answer = page.request.get(base + href).json()
    assert {s["quantity"]: len(s["time"]) for s in answer["series"]} == shown
    page.context.close()


@pytest.mark.parametrize(
    ("range_", "window", "means", "label"),
    [("month", "1h", 30 * 24, "hourly means"), ("year", "1d", DAYS, "daily means")],
)
def test_to_suit_the_period_a_month_shows_hourly_and_a_year_daily_means(
    browser: Any, month_site: tuple[str, str], range_: str, window: str, means: int, label: str
) -> None:
    base, _ = month_site
    page, asked = _open(browser, f"{base}/kits/{KIT}?range={range_}")
    assert page.is_checked('input[name="mode"][value="auto"]')
    assert len(asked) == 1 and "/v1/aggregates?" in asked[0] and f"window={window}" in asked[0]
    assert label in page.inner_text("#resolution-note")
    shown = _points(page)
    assert all(abs(n - means) <= 2 for n in shown.values()), shown
    # The CSV of exactly these means, as well as the readings behind them.
    rows = list(csv.DictReader(io.StringIO(download(page, "#download-means-csv"))))
    counted: dict[str, int] = {}
    for row in rows:
        if row["value"]:
            counted[row["quantity"]] = counted.get(row["quantity"], 0) + 1
    assert counted == shown
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_each_latest_value_has_a_plain_sentence_on_its_guideline(
    browser: Any, month_site: tuple[str, str], lang: str
) -> None:
    base, _ = month_site
    page, _ = _open(browser, f"{base}/kits/{KIT}?range=hour&lang={lang}")
    texts = TEXTS[lang]
    for quantity in ("pm25", "pm10", "noise_laeq"):
        row = page.locator(f'#latest tr[data-quantity="{quantity}"]')
        value = float(row.locator("td.num").inner_text().split()[0].replace(",", "."))
        says = row.locator("td.says").inner_text()
        band = band_of(SCALES[quantity], value)
        assert texts[band.says] in says
        if quantity == "noise_laeq":
            # 45 dB: the WHO night guideline (40 dB outside) is named first.
            assert says.startswith(texts["says_night_above"]) and "40 dB" in says
    # Temperature has no guideline: no sentence, a dash.
    assert page.locator('#latest tr[data-quantity="temperature"] td.says').inner_text() == "–"
    screenshot(page, f"kit-plain-words-{lang}")
    page.context.close()


def test_the_latest_values_follow_new_readings_without_a_reload(
    browser: Any, month_site: tuple[str, str]
) -> None:
    base, store_url = month_site
    page, _ = _open(browser, f"{base}/kits/{KIT}?range=hour&mode=raw")
    page.wait_for_selector("body[data-live='stream']")
    assert page.inner_text("#kit-as-of").startswith("As of")
    before = _points(page)["pm25"]
    page.evaluate("window.__same = document")
    store = open_store(store_url)
    try:
        store.write([Reading(KIT, "pm25", int(time.time()), 77.7, "SDS011")])
    finally:
        store.close()
    row = page.locator('#latest tr[data-quantity="pm25"]')
    page.wait_for_function(
        "() => document.querySelector('#latest tr[data-quantity=\"pm25\"] td.num')"
        ".textContent.startsWith('77.7')"
    )
    assert TEXTS["en"][band_of(SCALES["pm25"], 77.7).says] in row.inner_text()
    page.wait_for_function(
        f"() => Number(document.querySelector('svg.chart[data-quantity=\"pm25\"]')"
        f".dataset.points) === {before + 1}"
    )
    assert page.evaluate("window.__same === document")
    page.context.close()


def test_compare_this_kit_opens_the_compare_page_with_it_chosen(
    browser: Any, month_site: tuple[str, str]
) -> None:
    base, _ = month_site
    page, _ = _open(browser, f"{base}/kits/{KIT}?range=hour")
    page.click("#kit-compare")
    page.wait_for_url(f"{base}/compare?node={KIT}")
    page.wait_for_selector("body[data-ready]")
    assert page.is_checked(f'input[name="node"][value="{KIT}"]')
    page.context.close()
