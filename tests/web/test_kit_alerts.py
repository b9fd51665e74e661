"""The kit page tells of a kit's open alerts (from the gateway's alert book, through
/v1/nodes/{node}) in the page's language, and shows no notice for a kit without any."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import DEAD_PM10, new_page, screenshot


def _kit(browser: Any, site: str, node: str, locale: str = "en-GB") -> Any:
    page = new_page(browser, locale=locale)
    page.goto(f"{site}/kits/{node}")
    page.wait_for_selector("body[data-ready]")
    return page


def test_the_kit_page_shows_its_open_alerts(browser: Any, site: str) -> None:
    page = _kit(browser, site, "sim-2")
    notice = page.locator("#kit-alerts")
    assert notice.is_visible()
    assert page.inner_text("#alerts-heading") == "Alerts about this kit"
    item = notice.locator("li")
    assert item.count() == 1
    assert item.get_attribute("data-kind") == "dead_sensor"
    assert item.get_attribute("title") == DEAD_PM10
    assert item.inner_text().startswith(
        "Particulate matter PM10: the sensor has gone silent (since "
    )
    assert (item.locator("time").get_attribute("datetime") or "").endswith("Z")
    screenshot(page, "kit-alerts")
    page.context.close()


def test_the_notice_is_in_dutch_on_the_dutch_page(browser: Any, site: str) -> None:
    page = _kit(browser, site, "sim-2", locale="nl-NL")
    assert page.inner_text("#alerts-heading") == "Meldingen over dit kastje"
    assert page.inner_text("#kit-alerts li").startswith(
        "Fijnstof PM10: de sensor stuurt niets meer (sinds "
    )
    page.context.close()


def test_a_kit_without_alerts_shows_no_notice(browser: Any, site: str) -> None:
    page = _kit(browser, site, "sim-1")
    assert page.locator("#kit-alerts").is_hidden()
    page.context.close()
