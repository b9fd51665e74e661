"""The pages on a phone (390 x 844 CSS px) as chromium lays them out, measured: the charts'
axis text as drawn, tables that reflow instead of scrolling, the legend before the map."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import new_page, screenshot

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}

# The height of each chart text as drawn: its font size times the SVG's scale on screen.
_DRAWN_TEXT = """() => [...document.querySelectorAll("svg.chart text")].map((text) =>
  parseFloat(getComputedStyle(text).fontSize) * text.getScreenCTM().a)"""
# Every element that scrolls sideways inside the page, and every table cell outside the view.
_SIDEWAYS = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.scrollWidth > e.clientWidth + 1
    && ["auto", "scroll"].includes(getComputedStyle(e).overflowX))
  .map((e) => e.tagName + "." + e.className)"""
_CELLS_OUTSIDE = """(table) => [...table.querySelectorAll("tbody th, tbody td")]
  .filter((c) => { const b = c.getBoundingClientRect();
    return b.width > 0 && (b.left < 0 || b.right > window.innerWidth); })
  .map((c) => c.textContent)"""


def _open(browser: Any, site: str, path: str, **options: Any) -> Any:
    page = new_page(browser, **options)
    page.goto(f"{site}{path}")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-ready") == "true"
    return page


@pytest.mark.parametrize(("size", "options"), [("phone", PHONE), ("desktop", DESKTOP)])
@pytest.mark.parametrize("mode", ["raw", "hourly"])
def test_chart_axis_text_is_at_least_11_px_as_drawn(
    browser: Any, site: str, size: str, options: dict[str, Any], mode: str
) -> None:
    page = _open(browser, site, f"/kits/sim-3?range=week&mode={mode}", **options)
    heights = page.evaluate(_DRAWN_TEXT)
    assert len(heights) >= 4 * 5, heights  # four charts, value and time labels in each
    assert min(heights) >= 11, sorted(heights)[:5]
    times = page.locator("svg.chart").first.locator("text[text-anchor=middle]")
    assert times.count() >= 3
    # The time labels fit beside each other: none overlaps the next.
    overlaps = page.evaluate(
        """() => [...document.querySelectorAll("svg.chart")].map((svg) => {
          const boxes = [...svg.querySelectorAll("text[text-anchor=middle]")]
            .map((t) => t.getBoundingClientRect());
          return boxes.slice(1).filter((b, i) => b.left < boxes[i].right).length; })"""
    )
    assert set(overlaps) == {0}, overlaps
    screenshot(page, f"kit-{mode}-{size}")
    page.context.close()


def test_a_turned_phone_redraws_the_charts_at_the_new_width(browser: Any, site: str) -> None:
    page = _open(browser, site, "/kits/sim-1", **PHONE)
    narrow = page.locator("svg.chart").first.get_attribute("viewBox") or ""
    page.set_viewport_size({"width": 844, "height": 390})
    page.wait_for_function(
        "(old) => document.querySelector('svg.chart').getAttribute('viewBox') !== old", arg=narrow
    )
    assert min(page.evaluate(_DRAWN_TEXT)) >= 11
    page.context.close()


@pytest.mark.parametrize(("path", "table"), [("/", "#kit-list"), ("/kits/sim-2", "#latest")])
def test_tables_reflow_on_a_phone_with_time_and_status_in_view(
    browser: Any, site: str, path: str, table: str
) -> None:
    page = _open(browser, site, path, **PHONE)
    assert page.evaluate(_SIDEWAYS) == []
    assert page.locator(table).evaluate(_CELLS_OUTSIDE) == []
    first = page.locator(f"{table} tbody tr").first
    # Each cell says which column it is, as the hidden header row no longer shows it.
    time_cell = first.locator("td:has(time)")
    assert time_cell.is_visible()
    label = time_cell.evaluate("c => getComputedStyle(c, '::before').content")
    assert label.strip('"') in ("Last reading", "Time")
    if table == "#kit-list":
        assert first.locator("td:has(.online), td:has(.offline)").is_visible()
    screenshot(page, f"table-phone-{table[1:]}")
    page.context.close()


@pytest.mark.parametrize(("size", "options"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_legend_is_on_the_map_or_before_it_on_the_first_screen(
    browser: Any, site: str, size: str, options: dict[str, Any]
) -> None:
    page = _open(browser, site, "/", **options)
    legend = page.locator("#legend-bands").bounding_box()
    map_box = page.locator("#map").bounding_box()
    assert legend is not None and map_box is not None
    bottom = legend["y"] + legend["height"]
    if size == "desktop":
        # On the map itself, inside its box, where the eye already is.
        assert map_box["y"] <= legend["y"] and bottom <= map_box["y"] + map_box["height"]
        assert map_box["x"] <= legend["x"]
        assert legend["x"] + legend["width"] <= map_box["x"] + map_box["width"]
        # and no kit hides under it
        box = page.locator(".map-box .legend").bounding_box()
        assert box is not None
        for marker in page.locator(".kit-marker").all():
            at = marker.bounding_box()
            assert at is not None
            assert at["x"] + at["width"] <= box["x"] or at["y"] >= box["y"] + box["height"]
    else:
        # A phone's map is too small to cover: the legend comes first, seen before the map.
        assert bottom <= map_box["y"]
    assert bottom <= options["viewport"]["height"]
    page.context.close()
