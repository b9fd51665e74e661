"""The compare page in chromium against real servers: kits side by side on one chart, the
CSV of exactly what is drawn, a reference station from an imported calibration book, the
keyboard, the page's states and a phone's width.

``site`` (conftest) has no calibration book. ``reference_site`` is a second server over the
same demo kits plus two more (so that a sixth kit can be ticked), whose book holds a
reference station's hourly PM2.5 of the last day and a half, imported with the command line.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lokaalmeten.readings import Reading
from lokaalmeten.store import open_store
from tests.web.conftest import HOURS, build_site, new_page, screenshot, serve
from tests.web.test_accessibility import SIZES, axe, summary

STATION = "NL10636"
STATION_NAME = "Utrecht-Kardinaal de Jongweg"
EXTRA = ("extra-1", "extra-2")
THREE = "/compare?node=sim-1&node=sim-2&node=sim-3&quantity=pm25"


def _reference_csv(now: int) -> str:
    """Luchtmeetnet's CSV as a municipality downloads it: a value stamped by its hour's end."""
    lines = ["station;time;component;value;latitude;longitude;name"]
    last = now - now % 3600
    for k in range(HOURS):
        end = datetime.fromtimestamp(last - k * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{STATION};{end};PM25;{10 + k % 7}.5;52.105;5.128;{STATION_NAME}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def reference_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("web-reference")
    url, registry = build_site(folder)
    now = int(time.time())
    store = open_store(url)
    try:
        store.write(
            [
                Reading(node, "pm25", moment, 12.0 + i, "SDS011")
                for i, node in enumerate(EXTRA)
                for moment in range(now - 6 * 3600, now, 600)
            ]
        )
    finally:
        store.close()
    source = folder / "luchtmeetnet.csv"
    source.write_text(_reference_csv(now), encoding="utf-8")
    book = registry.with_name("calibration.db")  # where the server looks without a setting
    done = subprocess.run(
        [sys.executable, "-m", "lokaalmeten", "calibrate", "import", str(source),
         "--calibration", str(book)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with serve(folder, url, registry) as base:
        yield base


def _open(browser: Any, base: str, path: str, **options: Any) -> Any:
    page = new_page(browser, **options)
    page.goto(f"{base}{path}")
    page.wait_for_selector("body[data-ready]")
    return page


def _drawn(page: Any) -> dict[str, int]:
    """Each line of the chart by its key, with the points it draws."""
    series = page.locator("svg.chart-series g.series")
    return {
        series.nth(i).get_attribute("data-key"): int(series.nth(i).get_attribute("data-points"))
        for i in range(series.count())
    }


def _query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def _download(page: Any, selector: str) -> str:
    with page.expect_download() as info:
        page.click(selector)
    with open(info.value.path(), encoding="utf-8") as file:
        return file.read()


def test_three_kits_draw_three_lines_and_the_csv_holds_exactly_them(
    browser: Any, site: str
) -> None:
    page = new_page(browser)
    aggregate_requests: list[str] = []
    page.on(
        "request",
        lambda r: aggregate_requests.append(r.url) if "/v1/aggregates" in r.url else None,
    )
    page.goto(f"{site}{THREE}")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-chart") == "ready"
    drawn = _drawn(page)
    assert list(drawn) == ["sim-1", "sim-2", "sim-3"]
    # One request for all three kits.
    assert len(aggregate_requests) == 1
    legend = page.locator(".series-legend li")
    assert legend.count() == 3
    assert "Balkon Lombok (sim-1)" in legend.nth(0).inner_text()
    # Told apart without colour: each line its own dash pattern and marker shape.
    dashes = page.eval_on_selector_all(
        "svg.chart-series .series-line", "(ls) => ls.map((l) => l.getAttribute('stroke-dasharray'))"
    )
    shapes = page.eval_on_selector_all(
        "svg.chart-series g.series",
        "(gs) => gs.map((g) => g.querySelector('.series-marker').tagName)",
    )
    assert len(set(dashes)) == 3 and len(set(shapes)) == 3, (dashes, shapes)
    tip = page.locator('g.series[data-key="sim-2"] .series-marker title').first.text_content()
    assert re.search(r": \d+(\.\d)? µg/m³, coverage \d+ %$", tip or ""), tip
    # The default range: the last seven UTC days, hourly.
    state = _query(page)
    start = datetime.fromisoformat(state["from"][0]).replace(tzinfo=UTC)
    end = datetime.fromisoformat(state["to"][0]).replace(tzinfo=UTC) + timedelta(days=1)
    assert end - start == timedelta(days=7)
    assert end.date() == datetime.now(UTC).date() + timedelta(days=1)

    rows = list(csv.DictReader(io.StringIO(_download(page, "#compare-csv"))))
    counted = Counter(row["node"] for row in rows if row["value"])
    assert dict(counted) == drawn
    assert {row["quantity"] for row in rows} == {"pm25"}
    hours = {datetime.fromisoformat(row["start"]) for row in rows}
    assert min(hours) >= start and max(hours) < end
    assert all(
        datetime.fromisoformat(r["end"]) - datetime.fromisoformat(r["start"]) == timedelta(hours=1)
        for r in rows
    )
    # The Dutch-Excel link: the same windows with ';' and the byte-order mark.
    excel_href = page.get_attribute("#compare-csv-semicolon", "href") or ""
    excel = httpx.get(site + excel_href, timeout=10).content
    assert excel.startswith(b"\xef\xbb\xbf")
    excel_rows = list(csv.DictReader(io.StringIO(excel.decode("utf-8-sig")), delimiter=";"))
    assert len(excel_rows) == len(rows)
    # Without a calibration book no station is offered, and no reference link.
    assert page.locator("#compare-station-choice").is_hidden()
    assert page.locator("#compare-reference-item").is_hidden()
    screenshot(page, "compare")
    page.context.close()


def test_the_address_reloads_the_same_comparison_over_any_range(browser: Any, site: str) -> None:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=59)
    page = _open(browser, site, f"/compare?node=sim-3&node=sim-1&quantity=noise_laeq"
                                f"&from={start}&to={today}")  # fmt: skip
    # Longer than a month: daily means, and the links ask for the same.
    assert "Daily means" in page.inner_text("#compare-period")
    href = page.get_attribute("#compare-csv", "href") or ""
    asked = parse_qs(urlsplit(href).query)
    assert asked["window"] == ["1d"] and asked["quantity"] == ["noise_laeq"]
    assert asked["node"] == ["sim-1", "sim-3"]
    assert asked["from"] == [f"{start}T00:00:00Z"]
    assert asked["to"] == [f"{today + timedelta(days=1)}T00:00:00Z"]
    assert page.input_value("#compare-quantity") == "noise_laeq"
    assert page.input_value("#compare-from") == str(start)
    rows = list(csv.DictReader(io.StringIO(httpx.get(site + href, timeout=10).text)))
    assert dict(Counter(r["node"] for r in rows if r["value"])) == _drawn(page)
    # The language switch keeps the comparison.
    page.click("a.lang-switch")
    page.wait_for_selector("body[data-ready]")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert "Daggemiddelden" in page.inner_text("#compare-period")
    assert list(_drawn(page)) == ["sim-1", "sim-3"]
    page.context.close()


def test_a_reference_station_is_drawn_beside_the_kits_and_downloaded(
    browser: Any, reference_site: str
) -> None:
    page = _open(browser, reference_site, "/compare?node=sim-1&node=sim-2")
    assert list(_drawn(page)) == ["sim-1", "sim-2"]
    assert page.locator("#compare-station-choice").is_visible()
    page.select_option("#compare-station", STATION)
    page.wait_for_selector(f'g.series[data-key="reference:{STATION}"]')
    drawn = _drawn(page)
    assert list(drawn) == ["sim-1", "sim-2", f"reference:{STATION}"]
    assert drawn[f"reference:{STATION}"] >= HOURS - 2
    legend = page.locator(".series-legend li").nth(2).inner_text()
    assert f"Reference {STATION} ({STATION_NAME})" in legend
    assert _query(page)["station"] == [STATION]
    text = _download(page, "#compare-reference-csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["station"] for r in rows} == {STATION} and {r["quantity"] for r in rows} == {"pm25"}
    assert len(rows) == drawn[f"reference:{STATION}"]
    # A quantity the station has no values of: no station offered, none drawn, none linked.
    page.select_option("#compare-quantity", "temperature")
    page.wait_for_selector('body[data-chart="ready"]')
    assert page.locator("#compare-station-choice").is_hidden()
    assert list(_drawn(page)) == ["sim-1", "sim-2"]
    assert page.locator("#compare-reference-item").is_hidden()
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_the_reference_state_has_no_axe_violation(
    browser: Any, reference_site: str, lang: str
) -> None:
    for size in SIZES:
        page = _open(
            browser,
            reference_site,
            f"/compare?node=sim-1&node=sim-2&node=extra-1&station={STATION}&lang={lang}",
            viewport=SIZES[size],
            is_mobile=size == "phone",
        )
        assert len(_drawn(page)) == 4
        violations = axe(page)
        screenshot(page, f"axe-compare-reference-{lang}-{size}")
        page.context.close()
        assert violations == [], summary(violations)


def test_kits_and_the_range_are_chosen_with_the_keyboard_only(
    browser: Any, reference_site: str
) -> None:
    # A start date in the middle of a month: the arrow key steps its first field (the day or
    # the month, as chromium's own locale orders them) back without wrapping past the end date.
    today = datetime.now(UTC).date()
    start = (today.replace(day=1) - timedelta(days=1)).replace(day=15)
    page = _open(browser, reference_site, f"/compare?from={start}")
    # No kit in the address: the first two are compared.
    assert list(_drawn(page)) == ["extra-1", "extra-2"]
    boxes = page.locator("input[name=node]")
    assert boxes.count() == 6
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "node":
            break
    assert page.evaluate("document.activeElement.value") == "extra-1"
    # Tick the next four: the sixth kit is refused and the page says why.
    page.keyboard.press("Tab")
    for _ in range(4):
        page.keyboard.press("Tab")
        page.keyboard.press("Space")
    limit = page.inner_text("#compare-limit")
    assert "At most five kits" in limit and "sim-3" in limit
    assert page.evaluate("document.activeElement.checked") is False
    page.wait_for_function("() => document.querySelectorAll('g.series').length === 5")
    assert list(_drawn(page))[-1] == "sim-2"
    assert len(_query(page)["node"]) == 5
    # Untick the first again (Shift+Tab back to it), leaving four.
    for _ in range(5):
        page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.value") == "extra-1"
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelectorAll('g.series').length === 4")
    # On to the start date: the arrow keys move it a day back.
    before = page.input_value("#compare-from")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "compare-from":
            break
    assert page.evaluate("document.activeElement.id") == "compare-from"
    page.keyboard.press("ArrowDown")
    page.wait_for_function(f"() => document.getElementById('compare-from').value !== '{before}'")
    after = page.input_value("#compare-from")
    assert before == str(start)
    month_back = (start.replace(day=1) - timedelta(days=1)).replace(day=15)
    assert after in (str(start - timedelta(days=1)), str(month_back))
    page.wait_for_selector('body[data-chart="ready"]')
    assert _query(page)["from"] == [after]
    href = page.get_attribute("#compare-csv", "href") or ""
    assert parse_qs(urlsplit(href).query)["from"] == [f"{after}T00:00:00Z"]
    page.context.close()


def test_fewer_than_two_kits_no_data_and_an_api_error_are_said(browser: Any, site: str) -> None:
    page = _open(browser, site, "/compare?node=sim-1")
    assert page.get_attribute("body", "data-chart") == "few"
    assert "Choose at least two kits" in page.inner_text("#compare-chart")
    assert page.locator("#compare-downloads").is_hidden()
    page.context.close()

    page = _open(browser, site, "/compare?node=sim-1&node=sim-2&from=2020-01-01&to=2020-01-07")
    assert page.get_attribute("body", "data-chart") == "empty"
    assert "No readings of Particulate matter PM2.5" in page.inner_text("#compare-chart")
    page.context.close()

    page = _open(browser, site, "/compare?node=sim-1&node=sim-2&from=2026-02-10&to=2026-02-01")
    assert page.get_attribute("body", "data-chart") == "range"
    assert "start date must be on or before" in page.inner_text("#compare-chart")
    page.context.close()

    page = new_page(browser)
    page.route(
        "**/v1/aggregates?**",
        lambda route: route.fulfill(
            status=503,
            content_type="application/problem+json",
            body='{"status": 503, "error": {"status": 503, "message": "the store is down"}}',
        ),
    )
    page.goto(f"{site}{THREE}")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-chart") == "error"
    assert "the store is down" in page.inner_text("#compare-chart .error")
    page.context.close()

    # While the answer is on its way the chart area says it is loading.
    page = new_page(browser)
    held: list[Any] = []
    page.route("**/v1/aggregates?**", lambda route: held.append(route))
    page.goto(f"{site}{THREE}")
    page.wait_for_selector('body[data-chart="loading"]')
    assert page.inner_text("#compare-chart") == "Loading…"
    assert page.get_attribute("#compare-chart", "aria-busy") == "true"
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector('body[data-chart="ready"]')
    assert page.get_attribute("#compare-chart", "aria-busy") is None
    page.context.close()

    # A calibration book that cannot be read costs the reference line, not the comparison.
    page = new_page(browser)
    page.route(
        "**/v1/reference/stations",
        lambda route: route.fulfill(
            status=503,
            content_type="application/problem+json",
            body='{"status": 503, "error": {"status": 503, "message": "the book is locked"}}',
        ),
    )
    page.goto(f"{site}{THREE}")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-chart") == "ready"
    assert list(_drawn(page)) == ["sim-1", "sim-2", "sim-3"]
    assert "reference stations could not be loaded: the book is locked" in page.inner_text(
        "#status"
    )
    page.context.close()


def test_on_a_phone_nothing_scrolls_sideways_and_axis_text_stays_readable(
    browser: Any, reference_site: str
) -> None:
    path = f"/compare?node=sim-1&node=sim-2&node=sim-3&node=extra-1&node=extra-2&station={STATION}"
    page = _open(browser, reference_site, path, viewport=SIZES["phone"], is_mobile=True)
    assert len(_drawn(page)) == 6
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    heights = page.evaluate(
        """() => [...document.querySelectorAll("svg.chart text")].map((text) =>
          parseFloat(getComputedStyle(text).fontSize) * text.getScreenCTM().a)"""
    )
    assert len(heights) >= 6 and min(heights) >= 11, heights
    screenshot(page, "compare-phone")
    page.context.close()
