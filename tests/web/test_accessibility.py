"""axe-core on every public page, in both languages, at a desktop's and a phone's size.

axe-core's own script comes from the PyPI package axe-playwright-python (it bundles
axe.min.js), so the suite needs no npm and no network. A page passes with no violation axe
rates serious or critical, and four rules these pages once broke are held to zero at any
impact; the pages of our own markup (all but Swagger UI's /docs) have no violation at all.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import pytest

from tests.web.conftest import new_page, screenshot

SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
# path, and what tells that the page has drawn what its scripts fetch
PAGES = {
    "map": ("/", "body[data-ready]"),
    "kit": ("/kits/sim-1", "body[data-ready]"),
    "kit-hourly": ("/kits/sim-1?range=week&mode=hourly", "body[data-ready]"),
    "kit-missing": ("/kits/nobody", "main"),
    "data": ("/data", "body[data-ready]"),
    "docs": ("/docs", ".opblock"),
    "embed": ("/embed/kits/sim-1", "body[data-ready]"),
    "compare": ("/compare?node=sim-1&node=sim-2&node=sim-3", "body[data-ready]"),
    "compare-too-few": ("/compare?node=sim-1", "body[data-ready]"),
}
# Found on these pages once (markers, copy buttons, scrolled tables and code, the map's
# panel): none of them at any impact.
NAMED = {
    "label-content-name-mismatch",
    "scrollable-region-focusable",
    "link-in-text-block",
    "landmark-unique",
}


# axe-core leaves its experimental rules out unless asked, and label-content-name-mismatch
# (the markers and copy buttons once broke it) is one of them.
_RUN = """() => axe.run(document, {
  resultTypes: ["violations"],
  rules: Object.fromEntries(axe.getRules(["experimental"]).map((r) => [r.ruleId, {enabled: true}])),
}).then((results) => results.violations)"""


@cache
def _axe_script() -> str:
    # The package's one file of use here; its Python wrapper runs axe-core without the
    # experimental rules.
    try:
        return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
    except ModuleNotFoundError:
        pytest.fail("axe-playwright-python is missing: pip install 'lokaalmeten[dev]'")


def axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, its experimental rules included."""
    page.evaluate(_axe_script())
    violations: list[dict[str, Any]] = page.evaluate(_RUN)
    return violations


def summary(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = "; ".join(" ".join(node["target"]) for node in v["nodes"][:4])
        lines.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])}): {v['help']} — {targets}")
    return "\n".join(lines)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    ("name", "lang"),
    # /docs is Swagger UI's, in English whatever the browser asks: once is enough.
    [(name, lang) for name in PAGES for lang in ("nl", "en") if (name, lang) != ("docs", "nl")],
)
def test_no_serious_or_critical_axe_violation(
    browser: Any, site: str, name: str, lang: str, size: str
) -> None:
    path, ready = PAGES[name]
    page = new_page(
        browser,
        "nl-NL" if lang == "nl" else "en-GB",
        viewport=SIZES[size],
        is_mobile=size == "phone",
    )
    page.goto(f"{site}{path}")
    page.wait_for_selector(ready)
    violations = axe(page)
    screenshot(page, f"axe-{name}-{lang}-{size}")
    page.context.close()
    bad = [v for v in violations if v["impact"] in ("serious", "critical") or v["id"] in NAMED]
    assert bad == [], summary(violations)
    # Our own pages have none at all; /docs is Swagger UI's markup, whose heading order
    # (moderate) is its own.
    if name != "docs":
        assert violations == [], summary(violations)


@pytest.mark.parametrize(
    ("locale", "opens"),
    [("en-GB", "Open this kit's page."), ("nl-NL", "Open de pagina van dit kastje.")],
)
def test_a_marker_is_named_by_what_it_shows_then_its_band(
    browser: Any, site: str, locale: str, opens: str
) -> None:
    page = new_page(browser, locale)
    page.goto(f"{site}/")
    page.wait_for_selector("body[data-ready]")
    markers = page.locator(".kit-marker")
    assert markers.count() == 3
    for i in range(3):
        marker = markers.nth(i)
        name = marker.get_attribute("aria-label") or ""
        shown = marker.locator(".dot").inner_text()
        kit = page.locator(f'tr[data-node="{marker.get_attribute("data-node")}"] a').inner_text()
        band = page.locator(f'tr[data-node="{marker.get_attribute("data-node")}"] .band')
        assert name.startswith(f"{kit}: {shown} µg/m³ ({band.inner_text()}).")
        assert name.endswith(opens)
    page.context.close()
