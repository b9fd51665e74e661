"""The pages stay light: the bytes each page loads (its HTML, scripts and stylesheets, as
the browser has them after decompression) within a budget; Leaflet on the map page only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import new_page

KIB = 1024
# Leaflet alone is 161 KiB of script and stylesheet; every other page does without it.
BUDGETS = {
    "/": 200 * KIB,
    "/kits/sim-1": 56 * KIB,
    "/data": 40 * KIB,
    "/embed/kits/sim-1": 40 * KIB,
    "/kits/nobody": 32 * KIB,
    "/compare?node=sim-1&node=sim-2&node=sim-3": 56 * KIB,
}


@pytest.mark.parametrize("path", BUDGETS)
def test_each_page_loads_within_its_budget(browser: Any, site: str, path: str) -> None:
    page = new_page(browser)
    loaded: dict[str, int] = {}

    def count(response: Any) -> None:
        kind = response.request.resource_type
        if kind in ("document", "script", "stylesheet"):
            loaded[response.url] = len(response.body())

    page.on("response", count)
    page.goto(f"{site}{path}")
    page.wait_for_load_state("networkidle")
    page.context.close()
    assert sum(loaded.values()) <= BUDGETS[path], loaded
    with_leaflet = any("/static/leaflet/" in url for url in loaded)
    assert with_leaflet == (path == "/"), loaded
