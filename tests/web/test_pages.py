"""The public pages in headless chromium: map, kit page, data page, language, downloads."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from lokaalmeten.server.web.bands import SCALES, band_of
from tests.web.conftest import PLACES, UNPLACED, new_page, screenshot

LOCATED = {p.node for p in PLACES}


def open_map(browser: Any, site: str, locale: str = "en-GB", **options: Any) -> Any:
    page = new_page(browser, locale, **options)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{site}/")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-ready") == "true", page.inner_text("#status")
    assert errors == []
    return page


def background(dot: Any) -> str:
    """The marker dot's colour. A live update may draw the markers again between finding a
    dot and reading it; a dot no longer on the page has no computed style (''), so it is
    found again, for at most 5 s."""
    deadline = time.monotonic() + 5
    while True:
        colour: str = dot.evaluate("e => getComputedStyle(e).backgroundColor")
        if colour or time.monotonic() > deadline:
            return colour
        time.sleep(0.05)


def rgb(colour: str) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_map_shows_the_kits_as_markers_coloured_by_their_latest_pm25(
    browser: Any, site: str
) -> None:
    page = open_map(browser, site)
    markers = page.locator(".kit-marker")
    assert markers.count() == 3
    assert {markers.nth(i).get_attribute("data-node") for i in range(3)} == LOCATED
    latest = httpx.get(f"{site}/v1/latest", timeout=10).json()["value"]
    pm25 = {entry["node"]: entry["values"]["pm25"]["value"] for entry in latest}
    for node in LOCATED:
        dot = page.locator(f'.kit-marker[data-node="{node}"] .dot')
        band = band_of(SCALES["pm25"], pm25[node])
        assert background(dot) == rgb(band.colour)
        assert dot.inner_text() == str(round(pm25[node]))
    # Tiles cannot load here: the page says so and everything else still works.
    assert page.locator("#no-tiles").is_visible()
    # The list shows every kit, the one without a location too.
    rows = page.locator("#kit-list tbody tr")
    assert rows.count() == 4
    assert "no location" in page.locator(f'tr[data-node="{UNPLACED}"]').inner_text()
    legend = page.locator("#legend-bands li")
    assert legend.nth(0).inner_text().startswith("good")
    assert "0–5 µg/m³" in legend.nth(0).inner_text()
    assert "WHO 2021" in page.inner_text("#legend-guideline")
    assert "2024 revision" in page.inner_text("#legend-source")
    screenshot(page, "map")


def test_choosing_noise_recolours_the_markers_and_the_legend(browser: Any, site: str) -> None:
    page = open_map(browser, site)
    page.select_option("#quantity", "noise_laeq")
    assert "Directive 2002/49/EC" in page.inner_text("#legend-source")
    assert "0–55 dB(A)" in page.locator("#legend-bands li").nth(0).inner_text()
    laeq = httpx.get(f"{site}/v1/latest?node=sim-3", timeout=10).json()["value"][0]["values"]
    dot = page.locator('.kit-marker[data-node="sim-3"] .dot')
    band = band_of(SCALES["noise_laeq"], laeq["noise_laeq"]["value"])
    assert background(dot) == rgb(band.colour)
    # The choice is remembered.
    page.reload()
    page.wait_for_selector("body[data-ready]")
    assert page.input_value("#quantity") == "noise_laeq"


def test_a_click_on_a_marker_opens_the_kit_page_with_charts(browser: Any, site: str) -> None:
    page = open_map(browser, site)
    page.locator('.kit-marker[data-node="sim-1"]').click()
    page.wait_for_url(f"{site}/kits/sim-1")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-charts") == "ready"
    assert page.inner_text("h1") == "Balkon Lombok (sim-1)"
    assert page.inner_text("#kit-online") == "online"
    assert "SDS011" in page.inner_text("#kit-sensors")
    assert "rounded to 3 decimals" in page.inner_text("#kit-location")
    assert page.locator("#latest tbody tr").count() == 4
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    for i in range(4):
        chart = charts.nth(i)
        points = int(chart.get_attribute("data-points") or 0)
        # a day of readings every 145 s (595 or 596), less the 40-minute outage (16 or 17) and
        # what arrived in the minute the page leaves out
        assert 575 <= points <= 581
        assert chart.locator("circle.point").count() == points
        assert "readings from" in (chart.get_attribute("aria-label") or "")
    screenshot(page, "kit")


def test_a_marker_opens_with_the_keyboard(browser: Any, site: str) -> None:
    page = open_map(browser, site)
    page.locator('.kit-marker[data-node="sim-2"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site}/kits/sim-2")


def shown_points(page: Any) -> Counter[str]:
    charts = page.locator("svg.chart")
    return Counter(
        {
            charts.nth(i).get_attribute("data-quantity"): int(
                charts.nth(i).get_attribute("data-points")
            )
            for i in range(charts.count())
        }
    )


def download(page: Any, selector: str) -> str:
    with page.expect_download() as info:
        page.click(selector)
    path = info.value.path()
    with open(path, encoding="utf-8") as file:
        return file.read()


def test_the_csv_link_downloads_exactly_the_readings_shown(browser: Any, site: str) -> None:
    page = new_page(browser)
    page.goto(f"{site}/kits/sim-2?range=hour")
    page.wait_for_selector("body[data-ready]")
    shown = shown_points(page)
    rows = list(csv.DictReader(io.StringIO(download(page, "#download-csv"))))
    assert Counter(row["quantity"] for row in rows) == shown
    assert {row["node"] for row in rows} == {"sim-2"}
    assert sum(shown.values()) == 4 * 24 or sum(shown.values()) == 4 * 25
    # The chart's points are these readings: the highest PM2.5 value appears in the label.
    highest = max(float(r["value"]) for r in rows if r["quantity"] == "pm25")
    label = page.locator('svg.chart[data-quantity="pm25"]').get_attribute("aria-label") or ""
    # The page rounds as Intl.NumberFormat does, half away from zero on the decimal written
    # (34.65 -> 34.7), where Python's format rounds the binary double (34.65 -> 34.6).
    shown_highest = Decimal(repr(highest)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    assert f"highest {shown_highest}".rstrip("0").rstrip(".") in label
    # The link for Dutch Excel: the same rows, `;`, and the byte-order mark Excel needs.
    excel_href = page.get_attribute("#download-csv-semicolon", "href") or ""
    excel = httpx.get(site + excel_href, timeout=10).content
    assert excel.startswith(b"\xef\xbb\xbf")
    excel_rows = list(csv.DictReader(io.StringIO(excel.decode("utf-8-sig")), delimiter=";"))
    assert len(excel_rows) == len(rows)
    geojson_href = page.get_attribute("#download-geojson", "href") or ""
    geojson = httpx.get(site + geojson_href, timeout=10).json()
    assert [f["id"] for f in geojson["features"]] == ["sim-2"]


def test_hourly_means_show_coverage_and_link_the_readings_behind_them(
    browser: Any, site: str
) -> None:
    page = new_page(browser)
    page.goto(f"{site}/kits/sim-1?range=week")
    page.wait_for_selector("body[data-ready]")
    page.check('input[name="mode"][value="hourly"]')
    page.wait_for_selector('body[data-charts="ready"] svg.chart')
    assert "mode=hourly" in page.url
    assert page.locator("#hourly-note").is_visible()
    json_href = page.get_attribute("#download-json", "href") or ""
    assert json_href.startswith("/v1/aggregates?")
    means = httpx.get(site + json_href, timeout=10).json()["value"]
    assert shown_points(page) == Counter(m["quantity"] for m in means)
    invalid = sum(1 for m in means if not m["valid"])
    assert invalid >= 4  # the outage, in each quantity
    assert page.locator("circle.point.invalid").count() == invalid
    rows = list(csv.DictReader(io.StringIO(download(page, "#download-csv"))))
    assert len(rows) == sum(m["count"] for m in means)
    screenshot(page, "kit-hourly")


def test_the_language_follows_the_browser_and_the_switch_persists(browser: Any, site: str) -> None:
    page = open_map(browser, site, locale="nl-NL")
    assert page.get_attribute("html", "lang") == "nl"
    assert page.inner_text("h1") == "Kaart van de meetkastjes"
    assert page.inner_text("#legend-bands li:first-child").startswith("goed")
    page.click("a.lang-switch")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("h1") == "Map of the sensor kits"
    # Remembered on the next page, whatever the browser prefers.
    page.goto(f"{site}/kits/sim-1")
    page.wait_for_selector("body[data-ready]")
    assert page.inner_text("#latest-heading") == "Latest values"
    page.click("a.lang-switch")
    page.wait_for_selector("body[data-ready]")
    assert page.inner_text("#latest-heading") == "Laatste waarden"
    assert "sim-1" in page.url
    screenshot(page, "kit-nl")


def test_the_data_page_names_the_licence_and_gives_copyable_examples(
    browser: Any, site: str
) -> None:
    page = new_page(browser)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    page.goto(f"{site}/data")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-ready") == "true"
    assert page.inner_text("#licence-link") == "CC0 1.0 (CC0-1.0)"
    # CSV, GeoJSON, the REST API, SensorThings and OGC API Features
    assert page.locator("#distributions li").count() == 5
    assert "OGC API" in page.inner_text("#distributions")
    example = page.inner_text("#example-readings")
    assert example.startswith(f'curl "{site}/v1/readings?node=')
    url = example.split('"')[1]
    assert httpx.get(url, timeout=10).status_code == 200
    page.locator(".example").nth(1).locator("button.copy").click()
    page.wait_for_selector("#copy-status:not(:empty)")
    assert page.evaluate("navigator.clipboard.readText()") == example
    screenshot(page, "data")


def test_on_a_phone_nothing_needs_sideways_scrolling(browser: Any, site: str) -> None:
    page = open_map(browser, site, viewport={"width": 390, "height": 844}, is_mobile=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    assert page.locator("#map").bounding_box()["width"] <= 390
    screenshot(page, "map-phone")
