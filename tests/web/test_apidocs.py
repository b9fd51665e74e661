"""``/docs`` works with no network (once, Swagger UI came from a CDN and the page was blank
offline): headless chromium with every request to another host refused, under the page's
strict Content-Security-Policy."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.web.conftest import new_page, screenshot


def offline_page(browser: Any) -> tuple[Any, list[str], list[str]]:
    """A page whose requests reach 127.0.0.1 only; returns it, the refused requests and the
    errors (console, page, CSP violations) it reports."""
    page = new_page(browser)
    refused: list[str] = []
    errors: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    page.context.route("**/*", only_loopback)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A violation is reported to the page as an event too, also those the console omits.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e =>"
        " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    return page, refused, errors


def test_docs_render_the_operations_offline_without_csp_errors(browser: Any, site: str) -> None:
    page, refused, errors = offline_page(browser)
    response = page.goto(f"{site}/docs")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in csp and "unsafe-eval" not in csp
    nodes = page.locator(".opblock-summary-path[data-path='/v1/nodes']")
    nodes.wait_for(state="visible")
    assert page.locator(".opblock").count() >= 20
    assert "lokaalmeten open data" in page.inner_text(".info .title")
    # The page's own calls work under its policy: try /v1/nodes from it.
    nodes.click()
    block = page.locator("#operations-nodes-list_nodes_v1_nodes_get")
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for(state="visible")
    assert status.inner_text().strip() == "200"
    screenshot(page, "docs")
    assert refused == []
    assert errors == []


def test_docs_html_names_no_other_host(site: str) -> None:
    page = httpx.get(f"{site}/docs", timeout=10)
    assert page.status_code == 200
    hosts = set(re.findall(r"(?:https?:)?//([^/\"'\s>]+)", page.text))
    assert hosts <= {urlsplit(site).netloc}, hosts
    for path in re.findall(r"(?:src|href)=\"([^\"]+)\"", page.text):
        assert httpx.get(site + path, timeout=10).status_code == 200, path
    assert httpx.get(f"{site}/redoc", timeout=10).status_code == 404
