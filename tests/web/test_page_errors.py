"""When a page has nothing to show it says so: an unknown kit answers 404 with a message in
the page's language and a way back; an API call that fails leaves a message where the chart
or the list would be, never an empty box (the API made to fail by Playwright's routing)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from lokaalmeten.services.ports import free_port
from tests.server.conftest import serve
from tests.web.conftest import new_page, screenshot

HTML = {"Accept": "text/html"}
FAILURE = {"status": 503, "error": {"code": 503, "message": "the store is unreachable"}}


@pytest.mark.parametrize(
    ("locale", "title", "back"),
    [
        ("en-GB", "Kit not found", "Back to the map"),
        ("nl-NL", "Kastje niet gevonden", "Terug naar de kaart"),
    ],
)
def test_an_unknown_kit_answers_404_in_the_page_language_with_a_link_back(
    browser: Any, site: str, locale: str, title: str, back: str
) -> None:
    page = new_page(browser, locale)
    response = page.goto(f"{site}/kits/nobody")
    assert response is not None and response.status == 404
    assert page.inner_text("h1") == title
    assert page.inner_text("#missing-text code") == "nobody"
    link = page.locator("#missing-back")
    assert back in link.inner_text()
    # Every link on the page leads somewhere: none is empty, each answers.
    hrefs = page.eval_on_selector_all("a", "links => links.map(a => a.getAttribute('href'))")
    assert hrefs and all(hrefs), hrefs
    for href in hrefs:
        target = httpx.get(site + href, headers=HTML, timeout=10)
        # the language switch leads to this same answer in the other language
        assert target.status_code == (404 if "lang=" in href else 200), href
    link.click()
    page.wait_for_url(f"{site}/")
    screenshot(page, f"kit-missing-{locale[:2]}")
    page.context.close()


def test_an_unknown_kit_escapes_its_name(site: str) -> None:
    answer = httpx.get(f"{site}/kits/%3Cb%3Eno", headers=HTML, timeout=10)
    assert answer.status_code == 404
    assert "<b>no" not in answer.text and "<code>&lt;b&gt;no</code>" in answer.text
    assert answer.headers["content-type"].startswith("text/html")


def failing(page: Any, pattern: str) -> None:
    """Make the API calls matching ``pattern`` answer 503, as an unreachable store does."""
    page.route(
        pattern,
        lambda route: route.fulfill(
            status=503, content_type="application/problem+json", body=json.dumps(FAILURE)
        ),
    )


@pytest.mark.parametrize(
    ("locale", "words"),
    [("en-GB", "The chart could not be drawn"), ("nl-NL", "De grafiek kon niet worden getekend")],
)
def test_a_failed_readings_call_leaves_a_message_in_the_chart_area(
    browser: Any, site: str, locale: str, words: str
) -> None:
    page = new_page(browser, locale)
    failing(page, "**/v1/series?**")
    page.goto(f"{site}/kits/sim-1")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-charts") == "error"
    message = page.inner_text("#charts")
    assert words in message and "the store is unreachable" in message
    assert page.locator("svg.chart").count() == 0
    screenshot(page, f"kit-chart-error-{locale[:2]}")
    page.context.close()


def test_a_failed_kit_call_says_so_in_the_charts_and_the_table_and_hides_the_downloads(
    browser: Any, site: str
) -> None:
    page = new_page(browser)
    failing(page, "**/v1/latest?**")
    page.goto(f"{site}/kits/sim-1")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-ready") == "error"
    assert "the store is unreachable" in page.inner_text("#status")
    assert "the store is unreachable" in page.inner_text("#charts")
    assert "the store is unreachable" in page.inner_text("#latest tbody")
    # No download link without an address (the page had four dead ones).
    assert page.locator("#download-csv").is_hidden()
    page.context.close()


def test_a_failed_list_on_the_map_says_so_in_the_list(browser: Any, site: str) -> None:
    page = new_page(browser)
    failing(page, "**/v1/nodes")
    page.goto(f"{site}/")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-ready") == "error"
    assert "the store is unreachable" in page.inner_text("#status")
    assert "the store is unreachable" in page.inner_text("#kit-list tbody")
    page.context.close()


def test_the_chart_area_says_it_is_loading_while_the_readings_are_on_their_way(
    browser: Any, site: str
) -> None:
    page = new_page(browser)
    held: list[Any] = []
    holding = [True]

    def hold(route: Any) -> None:
        # answered only once the page was looked at
        if holding[0]:
            held.append(route)
        else:
            route.continue_()

    page.route("**/v1/series?**", hold)
    page.goto(f"{site}/kits/sim-1?range=hour")
    page.wait_for_selector("#charts .loading")
    assert page.get_attribute("body", "data-charts") == "loading"
    assert page.inner_text("#charts") == "Loading…"
    assert page.get_attribute("#charts", "aria-busy") == "true"
    holding[0] = False
    for route in held:
        route.continue_()
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-charts") == "ready"
    assert page.locator("svg.chart").count() == 4
    page.context.close()


def test_with_the_store_unreachable_the_kit_page_is_served_for_its_script_to_explain() -> None:
    # The page cannot tell an unknown kit from a store it cannot read: it is served, and
    # its script shows what the API answers (a 503), rather than a wrong 404.
    nobody = f"influxdb://127.0.0.1:{free_port()}/lokaalmeten"
    with serve(nobody) as client:
        page = client.get("/kits/kit-1", headers=HTML)
        assert page.status_code == 200 and 'id="charts"' in page.text
        assert client.get("/v1/nodes/kit-1").status_code == 503
