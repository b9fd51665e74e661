"""``/embed/kits/{node}``: a kit's chart that another site may show in an iframe, and only
that page: a page served from another loopback origin embeds the widget in chromium and the
chart draws, while the map in an iframe is refused by the browser."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from lokaalmeten.settings import ServerSettings
from tests.server.conftest import READINGS, fill, serve
from tests.web.conftest import new_page, screenshot

HTML = {"Accept": "text/html"}
OTHER_HOST = "127.0.0.2"  # another origin than the site's 127.0.0.1, still loopback


@pytest.fixture
def other_site(site: str) -> Iterator[str]:
    """A municipality's page on another origin, framing the widget and the map."""
    page = (
        "<!doctype html><html lang='en'><head><title>Gemeente</title></head><body>"
        f"<iframe id='widget' title='widget' src='{site}/embed/kits/sim-1?lang=nl'"
        " width='600' height='320'></iframe>"
        f"<iframe id='map' title='map' src='{site}/' width='600' height='320'></iframe>"
        "</body></html>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer((OTHER_HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{OTHER_HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_another_site_shows_the_widget_and_cannot_frame_the_map(
    browser: Any, site: str, other_site: str
) -> None:
    page = new_page(browser)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "frame-ancestors" in m.text else None)
    page.goto(other_site)
    widget = page.frame_locator("#widget")
    widget.locator("body[data-ready]").wait_for(state="attached")
    assert widget.locator("body").get_attribute("data-ready") == "true"
    chart = widget.locator("svg.chart")
    assert chart.count() == 1
    assert chart.get_attribute("data-quantity") == "pm25"
    assert int(chart.get_attribute("data-points") or 0) > 500  # a day every 145 s
    assert widget.locator("html").get_attribute("lang") == "nl"
    assert widget.locator("#embed-kit").inner_text() == "Balkon Lombok (sim-1)"
    # The map's frame stays empty: chromium refused it for its frame-ancestors 'none'.
    page.wait_for_timeout(500)
    frames = {frame.name or frame.url: frame for frame in page.frames}
    map_frames = [f for f in page.frames if f != page.main_frame and "/embed/" not in f.url]
    assert len(map_frames) == 1, frames
    assert map_frames[0].locator("#map").count() == 0
    assert any(site in text for text in refused), refused
    screenshot(page, "embed-on-another-site")
    page.context.close()


def test_only_the_widget_may_be_framed(site: str) -> None:
    for path in ("/", "/kits/sim-1", "/data", "/docs", "/kits/nobody"):
        policy = httpx.get(site + path, headers=HTML, timeout=10).headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, path
    widget = httpx.get(f"{site}/embed/kits/sim-1", headers=HTML, timeout=10)
    assert widget.status_code == 200
    assert "frame-ancestors *" in widget.headers["content-security-policy"]
    # Scripts still come from the server alone.
    assert "script-src 'self';" in widget.headers["content-security-policy"]
    missing = httpx.get(f"{site}/embed/kits/nobody", headers=HTML, timeout=10)
    assert missing.status_code == 404


def test_the_sites_allowed_to_frame_the_widget_are_a_setting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lm.db'}"
    fill(url, READINGS, [])
    allowed = "https://www.utrecht.nl  https://*.utrecht.nl"
    with serve(url, embed_ancestors=allowed) as client:
        node = client.get("/v1/nodes").json()["value"][0]["node"]
        policy = client.get(f"/embed/kits/{node}", headers=HTML).headers["content-security-policy"]
        assert "frame-ancestors https://www.utrecht.nl https://*.utrecht.nl" in policy
        assert (
            "frame-ancestors 'none'"
            in client.get("/", headers=HTML).headers["content-security-policy"]
        )


@pytest.mark.parametrize(
    "bad", ["https://a.nl; script-src *", "", "javascript:x", "'unsafe-inline'"]
)
def test_an_unusable_frame_source_is_refused_with_what_to_give(bad: str) -> None:
    with pytest.raises(ValueError, match="frame-ancestors source") as refused:
        ServerSettings(embed_ancestors=bad)
    assert "https://www.example.nl" in str(refused.value)


def test_the_kit_page_offers_the_iframe_to_copy_and_it_loads(browser: Any, site: str) -> None:
    page = new_page(browser)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    page.goto(f"{site}/kits/sim-2")
    page.wait_for_selector("body[data-ready]")
    snippet = page.inner_text("#embed-snippet")
    assert snippet.startswith(f'<iframe src="{site}/embed/kits/sim-2?lang=en"')
    assert 'title="Sensor kit sim-2"' in snippet
    page.click("#embed-copy")
    page.wait_for_selector("#copy-status:not(:empty)")
    assert page.evaluate("navigator.clipboard.readText()") == snippet
    src = snippet.split('"')[1]
    assert httpx.get(src, headers=HTML, timeout=10).status_code == 200
    page.context.close()


@pytest.mark.parametrize(
    ("query", "quantity"),
    [("?quantity=noise_laeq&range=hour", "noise_laeq"), ("?quantity=nothing", "pm25")],
)
def test_the_widget_draws_the_quantity_asked_for_else_pm25(
    browser: Any, site: str, query: str, quantity: str
) -> None:
    page = new_page(browser)
    page.goto(f"{site}/embed/kits/sim-3{query}")
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-ready") == "true"
    chart = page.locator("svg.chart")
    assert chart.get_attribute("data-quantity") == quantity
    points = int(chart.get_attribute("data-points") or 0)
    assert (20 <= points <= 26) if "range=hour" in query else points > 500
    page.context.close()
