"""The page shells without a browser: content negotiation at /, language, files, bands."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.server.web.bands import SCALES, band_of, scales_json
from lokaalmeten.server.web.i18n import TEXTS, choose_language
from lokaalmeten.server.web.router import STATIC, TEMPLATES
from tests.helpers import REPO
from tests.server.conftest import READINGS, fill, serve

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    url = f"sqlite:///{tmp_path / 'lm.db'}"
    fill(url, READINGS, [])
    return serve(url)


def test_a_browser_gets_the_map_and_any_other_client_the_json_landing(
    client: TestClient,
) -> None:
    page = client.get("/", headers={**HTML, "Accept-Language": "nl-NL,nl;q=0.9"})
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="nl">' in page.text
    assert "<h1>Kaart van de meetkastjes</h1>" in page.text
    landing = client.get("/")
    assert landing.json()["links"]["sensorthings"].endswith("/v1.1")
    assert "Accept" in landing.headers["vary"] and "Accept" in page.headers["vary"]
    assert client.get("/", headers={"Accept": "application/json"}).json()["licence"]


def test_the_pages_load_scripts_from_this_server_only(client: TestClient) -> None:
    for path in ("/", "/kits/kit-1", "/data"):
        page = client.get(path, headers=HTML)
        assert page.status_code == 200
        sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
        assert sources, path
        assert all(s.startswith("/") or s.startswith("data:") for s in sources), sources
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "img-src 'self' data: https://tile.openstreetmap.org" in policy
        for source in sources:
            if source.startswith("/static/"):
                assert client.get(source).status_code == 200, source


def test_the_tile_server_is_a_setting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lm.db'}"
    fill(url, READINGS, [])
    with serve(url, tile_url="https://{s}.tiles.example.nl/{z}/{x}/{y}.png") as client:
        page = client.get("/", headers=HTML)
    assert '"tile_url": "https://{s}.tiles.example.nl/{z}/{x}/{y}.png"' in page.text
    assert (
        "img-src 'self' data: https://*.tiles.example.nl;"
        in page.headers["content-security-policy"]
    )


@pytest.mark.parametrize(
    ("asked", "cookie", "header", "chosen"),
    [
        (None, None, "nl-NL,nl;q=0.9,en;q=0.8", "nl"),
        (None, None, "de-DE,de;q=0.9,nl;q=0.5,en;q=0.7", "en"),
        (None, None, "de-DE,nl;q=0.4", "nl"),
        (None, None, "fr", "en"),
        (None, None, None, "en"),
        (None, None, "en;q=0, nl;q=0.1", "nl"),
        (None, "nl", "en-GB", "nl"),
        ("en", "nl", "nl", "en"),
        ("xx", None, "nl", "nl"),
    ],
)
def test_the_language_is_the_switch_then_the_cookie_then_the_browser(
    asked: str | None, cookie: str | None, header: str | None, chosen: str
) -> None:
    assert choose_language(asked, cookie, header) == chosen


def test_the_switch_sets_a_cookie_and_keeps_the_view(client: TestClient) -> None:
    page = client.get("/kits/kit-1?range=week&lang=nl", headers=HTML)
    assert page.cookies["lm_lang"] == "nl"
    assert 'href="/kits/kit-1?range=week&amp;lang=en"' in page.text
    again = client.get("/data", headers={**HTML, "Accept-Language": "en"})
    assert '<html lang="nl">' in again.text


def test_both_languages_have_every_text_the_pages_use() -> None:
    assert TEXTS["nl"].keys() == TEXTS["en"].keys()
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\{\{\s*t\.([a-z0-9_]+)\s*\}\}", template.read_text()))
    for script in STATIC.glob("*.js"):
        used |= set(re.findall(r'\bt\("([a-z0-9_]+)"', script.read_text()))
    for scale in SCALES.values():
        used |= {scale.source, *(b.key for b in scale.bands)}
        used |= {scale.guideline} if scale.guideline else set()
    assert used, "no texts found: the patterns are wrong"
    assert used - TEXTS["en"].keys() == set()
    for lang in ("nl", "en"):
        assert all(TEXTS[lang].values())


def test_static_files_stay_inside_their_folders(client: TestClient) -> None:
    assert client.get("/static/leaflet/leaflet.js").status_code == 200
    assert client.get("/static/leaflet/images/marker-icon.png").status_code == 200
    for path in (
        "/static/web/..%2Frouter.py",
        "/static/leaflet/../../../../etc/passwd",
        "/static/leaflet/..%2F__init__.py",
        "/static/web/nothing.js",
    ):
        assert client.get(path).status_code == 404, path


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_every_band_label_has_contrast_on_its_colour() -> None:
    for scale in SCALES.values():
        for band in scale.bands:
            light, dark = sorted((_luminance(band.colour), _luminance(band.ink)), reverse=True)
            assert (light + 0.05) / (dark + 0.05) >= 4.5, band


def test_bands_are_contiguous_and_half_open() -> None:
    for scale in SCALES.values():
        bands = scale.bands
        assert bands[0].lower == 0 and bands[-1].upper is None
        assert all(a.upper == b.lower for a, b in itertools.pairwise(bands))
    pm25 = SCALES["pm25"]
    assert [band_of(pm25, v).key for v in (0, 4.99, 5, 15, 49.9, 50, 90, 140, 900)] == [
        "band_good",
        "band_good",
        "band_fair",
        "band_moderate",
        "band_moderate",
        "band_poor",
        "band_very_poor",
        "band_extremely_poor",
        "band_extremely_poor",
    ]
    assert len(scales_json()) == len(SCALES)


def test_docs_state_the_bands_the_page_uses() -> None:
    doc = (REPO / "docs" / "web.md").read_text()
    for scale in SCALES.values():
        edges = [b.lower for b in scale.bands[1:]]
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{scale.quantity}`"))
        assert [float(x) for x in re.findall(r"\d+(?:\.\d+)?", row.split("|")[2])] == edges, row
