"""The map keeps itself up to date and looks back: a reading that arrives recolours its kit
without a reload (from the live stream, or a poll where the stream is refused), the page says
as of when, and a slider walks through the last days' hourly means."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lokaalmeten.readings import Reading
from lokaalmeten.server.web.bands import SCALES, band_of
from lokaalmeten.server.web.i18n import TEXTS
from lokaalmeten.store import open_store
from tests.web.conftest import build_site, new_page, screenshot, serve
from tests.web.test_pages import rgb


@pytest.fixture(scope="module")
def own_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A site of its own, as these tests write readings into its store."""
    folder: Path = tmp_path_factory.mktemp("live")
    url, registry = build_site(folder)
    with serve(folder, url, registry, {"LM_LIVE_POLL_S": "2"}) as base:
        yield base, url


def _write(store_url: str, node: str, value: float) -> None:
    store = open_store(store_url)
    try:
        store.write([Reading(node, "pm25", int(time.time()), value, "SDS011")])
    finally:
        store.close()


def _dot(page: Any, node: str) -> Any:
    return page.locator(f'.kit-marker[data-node="{node}"] .dot')


def _open(browser: Any, base: str, path: str = "/?q=pm25", **options: Any) -> Any:
    page = new_page(browser, **options)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}{path}")
    page.wait_for_selector("body[data-ready='true']")
    page.wait_for_selector("body[data-history]")
    page.errors = errors
    return page


def test_a_new_reading_recolours_its_marker_without_a_reload(
    browser: Any, own_site: tuple[str, str]
) -> None:
    base, store_url = own_site
    page = _open(browser, base)
    page.wait_for_selector("body[data-live='stream']")
    assert "as of" in page.inner_text("#status")
    dot = _dot(page, "sim-1")
    before = dot.evaluate("d => d.style.background")
    worst = SCALES["pm25"].bands[-1]
    assert before != rgb(worst.colour)
    page.evaluate("window.__same = document")  # a reload would lose it
    _write(store_url, "sim-1", 321.0)
    page.wait_for_function(
        "([c]) => document.querySelector('.kit-marker[data-node=\"sim-1\"] .dot')"
        ".style.background === c",
        arg=[rgb(worst.colour)],
    )
    assert _dot(page, "sim-1").inner_text() == "321"
    row = page.locator('#kit-list tr[data-node="sim-1"]')
    assert "321" in row.inner_text()
    assert page.evaluate("window.__same === document")
    assert page.errors == []
    page.context.close()


def test_where_the_stream_is_refused_the_map_polls(browser: Any, own_site: tuple[str, str]) -> None:
    base, store_url = own_site
    page = new_page(browser)
    # As an InfluxDB store without its change log answers.
    page.route(
        "**/v1/stream*",
        lambda route: route.fulfill(
            status=501, content_type="application/problem+json", body='{"title": "no"}'
        ),
    )
    page.goto(f"{base}/?q=pm25")
    page.wait_for_selector("body[data-live='poll']")
    assert "updated every 2 s" in page.inner_text("#status")
    _write(store_url, "sim-2", 3.0)
    good = SCALES["pm25"].bands[0]
    page.wait_for_function(
        "([c]) => document.querySelector('.kit-marker[data-node=\"sim-2\"] .dot')"
        ".style.background === c",
        arg=[rgb(good.colour)],
        timeout=15_000,
    )
    page.context.close()


def test_the_slider_walks_back_through_hourly_means_and_plays(
    browser: Any, own_site: tuple[str, str]
) -> None:
    base, _ = own_site
    page = _open(browser, base)
    hours = int(page.get_attribute("body", "data-history") or 0)
    assert hours >= 30  # the site holds 36 hours of readings
    slider = page.locator("#history-hour")
    assert slider.get_attribute("max") == str(hours)
    assert slider.input_value() == str(hours)  # at "now"
    # The keyboard: Home goes to the oldest hour, the arrows move one hour.
    slider.focus()
    page.keyboard.press("Home")
    assert slider.input_value() == "0"
    first = page.locator("#history-time").inner_text()
    page.keyboard.press("ArrowRight")
    assert slider.input_value() == "1"
    second = page.locator("#history-time").inner_text()
    assert first != second and "to" in second
    assert slider.get_attribute("aria-valuetext") == second
    assert page.inner_text("#status").startswith("Hourly means from")
    # The markers show that hour's means: sim-2 (the dusty one) is in the band of its mean.
    label = page.locator('.kit-marker[data-node="sim-2"]').get_attribute("aria-label") or ""
    assert "hourly mean" in label
    shown = float(_dot(page, "sim-2").inner_text())
    band = band_of(SCALES["pm25"], shown)
    assert t_band(band.key) in label
    # Play runs to the end and stops at "now", on the latest readings again: from three
    # hours before it (an hour every 0.7 s).
    page.keyboard.press("End")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    assert slider.input_value() == str(hours - 3)
    page.locator("#history-play").click()
    assert page.locator("#history-play").get_attribute("aria-pressed") == "true"
    page.wait_for_function(
        "() => document.querySelector('#history-play').getAttribute('aria-pressed') === 'false'",
        timeout=15_000,
    )
    assert slider.input_value() == str(hours)
    assert page.locator("#history-time").inner_text() == TEXTS["en"]["history_now"]
    assert "as of" in page.inner_text("#status")
    screenshot(page, "map-history")
    assert page.errors == []
    page.context.close()


def t_band(key: str) -> str:
    return TEXTS["en"][key]


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_each_band_is_explained_in_one_sentence_with_its_source(
    browser: Any, own_site: tuple[str, str], lang: str
) -> None:
    base, _ = own_site
    page = _open(browser, base, f"/?q=pm25&lang={lang}")
    sentences = page.locator("#band-says dd")
    assert sentences.count() == len(SCALES["pm25"].bands)
    for i, band in enumerate(SCALES["pm25"].bands):
        text = sentences.nth(i).inner_text()
        assert text == TEXTS[lang][band.says]
        assert re.search(r"\((WHO|EEA)[^)]*\)\.?$", text), text
    page.select_option("#quantity", "noise_laeq")
    # Noise: the WHO's night guideline stated beside its bands.
    assert "40 dB" in page.inner_text("#legend-guideline")
    page.context.close()


@pytest.mark.parametrize(
    "path", ["/", "/kits/sim-1", "/data", "/compare?node=sim-1&node=sim-2", "/embed/kits/sim-1"]
)
def test_no_page_shows_a_text_key_instead_of_its_text(
    browser: Any, own_site: tuple[str, str], path: str
) -> None:
    # Each page carries only the texts its scripts use: one it misses would show its key.
    base, _ = own_site
    page = new_page(browser)
    page.goto(f"{base}{path}")
    page.wait_for_selector("body[data-ready]")
    page.wait_for_load_state("networkidle")
    words = set(re.findall(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+", page.inner_text("body")))
    aria = page.evaluate(
        "() => [...document.querySelectorAll('[aria-label],[title]')]"
        ".map(e => (e.getAttribute('aria-label') || '') + ' ' + (e.getAttribute('title') || ''))"
        ".join(' ')"
    )
    words |= set(re.findall(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+", aria))
    assert not words & set(TEXTS["en"]), words & set(TEXTS["en"])
    page.context.close()
