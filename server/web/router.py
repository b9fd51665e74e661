"""``/``, ``/kits/{node}``, ``/data``: the public pages, and the files they load.

Each page is a shell in the reader's language (see :mod:`.i18n`); its script fetches the data
from the public API. ``/`` answers a browser (``Accept: text/html``) with the map and every
other client with the JSON landing document of the API::

    GET /                      map of the kits and a list of them
    GET /kits/sim-1?range=day  one kit: latest values, charts, downloads
    GET /data                  licence, metadata, API entry points with examples
    GET /compare?node=sim-1&node=sim-2  two to five kits (and a reference station) on one chart
    GET /embed/kits/sim-1      one kit's chart alone, for another site's iframe
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Cookie, Header, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from lokaalmeten.server.deps import SettingsDep, StoreDep
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.routes import metadata
from lokaalmeten.server.web.bands import SCALES, scale_keys, scales_json
from lokaalmeten.server.web.i18n import COOKIE, LANGUAGES, TEXTS, choose_language
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import Store, StoreError

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_.]+)\s*\}\}")
_YEAR = 365 * 24 * 3600


def leaflet_folder() -> Path:
    """Leaflet's files, from the PyPI package xstatic-leaflet."""
    import xstatic.pkg.leaflet

    return Path(xstatic.pkg.leaflet.BASE_DIR).resolve()


@cache
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def render(name: str, values: dict[str, str]) -> str:
    """Fill ``{{ key }}`` in a template; every value must already be safe HTML."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _template(name))


def _script_json(value: Any) -> str:
    # Inside <script type="application/json">: "</" must not end the element.
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def _tile_origin(tile_url: str) -> str:
    parts = urlsplit(tile_url.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _security_headers(settings: ServerSettings, ancestors: str = "'none'") -> dict[str, str]:
    images = " ".join(filter(None, ("'self' data:", _tile_origin(settings.tile_url))))
    return {
        # Scripts and data from this server only: no CDN, no third-party code. No other site
        # may frame a page (clickjacking), but for the embed widget's the sites allowed.
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self'; connect-src 'self'; img-src {images}; "
            f"style-src 'self' 'unsafe-inline'; base-uri 'none'; frame-ancestors {ancestors}"
        ),
        "Vary": "Accept, Accept-Language, Cookie",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def _switch_href(request: Request, lang: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    params.append(("lang", lang))
    return f"{request.url.path}?{urlencode(params)}"


# A text key as a script names it: a quoted literal ("map_title"), the start of a built one
# (`q_${quantity}`), or a property read (config.texts.switch_code).
_KEY_IN_SCRIPT = re.compile(r"[\"'`]([a-z][a-z0-9_]*)(?=[\"'`]|(\$\{))|texts\.([a-z][a-z0-9_]*)")


@cache
def script_keys(scripts: tuple[str, ...]) -> frozenset[str]:
    """The text keys the page's scripts can ask for: those they name, those they build from a
    named start, and the bands' (which they read from the scales)."""
    named: set[str] = set()
    starts: set[str] = set()
    for name in scripts:
        for match in _KEY_IN_SCRIPT.finditer((STATIC / name).read_text(encoding="utf-8")):
            literal, built, read = match.group(1), match.group(2), match.group(3)
            if read:
                named.add(read)
            elif built:
                starts.add(literal)
            else:
                named.add(literal)
    named |= {key for scale in SCALES.values() for key in scale_keys(scale)}
    known = TEXTS[LANGUAGES[0]]
    return frozenset(k for k in known if k in named or any(k.startswith(s) for s in starts))


def page(
    request: Request,
    settings: ServerSettings,
    lang: str,
    *,
    body: str,
    title_key: str,
    script: str | None,
    extra: dict[str, Any] | None = None,
    fill: dict[str, str] | None = None,
    layout: str = "layout.html",
    status: int = 200,
    ancestors: str = "'none'",
) -> HTMLResponse:
    """A whole page: the layout around ``body``, with the texts and settings the script needs
    (``fill``: more values for the body's placeholders, already safe HTML)."""
    texts = TEXTS[lang]
    safe = {f"t.{key}": html.escape(text) for key, text in texts.items()}
    # Leaflet only where there is a map: the other pages stay light.
    scripts = ["/static/leaflet/leaflet.js"] if body == "map.html" else []
    scripts += ["/static/web/common.js"]
    scripts += (
        ["/static/web/chart.js"] if body in ("kit.html", "embed.html", "compare.html") else []
    )
    scripts += ["/static/web/chart-series.js"] if body == "compare.html" else []
    scripts += [f"/static/web/{script}"] if script else []
    wanted = script_keys(tuple(s.rsplit("/", 1)[1] for s in scripts if "/web/" in s))
    config = {
        "lang": lang,
        # Only the texts this page's scripts use: every page carrying every page's texts
        # weighed some 15 KiB each.
        "texts": {key: text for key, text in texts.items() if key in wanted},
        "scales": scales_json(),
        "tile_url": settings.tile_url,
        "tile_attribution": settings.tile_attribution,
        "location_decimals": settings.location_decimals,
        "live_poll_s": settings.live_poll_s,
        **(extra or {}),
    }
    other = texts["switch_code"]
    content = render(
        layout,
        {
            **safe,
            "lang": lang,
            "title": html.escape(f"{texts[title_key]} · {texts['site_name']}"),
            "body": render(body, {**safe, **(fill or {})}),
            "config": _script_json(config),
            "scripts": "\n".join(f'<script src="{html.escape(src)}"></script>' for src in scripts),
            "styles": (
                '<link rel="stylesheet" href="/static/leaflet/leaflet.css">\n'
                if body == "map.html"
                else ""
            ),
            "switch_href": html.escape(_switch_href(request, other)),
            "nav_map_current": 'aria-current="page"' if body == "map.html" else "",
            "nav_data_current": 'aria-current="page"' if body == "data.html" else "",
            "nav_compare_current": 'aria-current="page"' if body == "compare.html" else "",
        },
    )
    response = HTMLResponse(
        content, status_code=status, headers=_security_headers(settings, ancestors)
    )
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(COOKIE, lang, max_age=_YEAR, samesite="lax")
    return response


LangQuery = Annotated[str | None, Query(description="nl or en: the language switch.")]
LangCookie = Annotated[str | None, Cookie(alias=COOKIE)]
AcceptLanguage = Annotated[str | None, Header()]


def _language(lang: str | None, cookie: str | None, accept_language: str | None) -> str:
    return choose_language(lang, cookie, accept_language)


@router.get("/")
def map_page(
    request: Request,
    settings: SettingsDep,
    lang: LangQuery = None,
    lm_lang: LangCookie = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    """The map for a browser; the API's JSON landing document for any other client."""
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(metadata.landing(request, settings), headers={"Vary": "Accept"})
    return page(
        request,
        settings,
        _language(lang, lm_lang, accept_language),
        body="map.html",
        title_key="map_title",
        script="map.js",
    )


def _known(store: Store, node: str) -> bool:
    """Whether the store has readings of ``node``; when the store cannot say, the page is
    served and its script tells what the API answers."""
    try:
        return any(summary.node == node for summary in store.nodes())
    except StoreError:
        return True


def _missing_kit(request: Request, settings: ServerSettings, lang: str, node: str) -> HTMLResponse:
    """404: the kit has no readings here; said in the page's language, with a way back."""
    return page(
        request,
        settings,
        lang,
        body="kit_missing.html",
        title_key="kit_missing_title",
        script=None,
        fill={"node": html.escape(node)},
        status=404,
    )


@router.get("/kits/{node}")
def kit_page(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    node: str,
    lang: LangQuery = None,
    lm_lang: LangCookie = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    language = _language(lang, lm_lang, accept_language)
    if not _known(store, node):
        return _missing_kit(request, settings, language, node)
    return page(
        request,
        settings,
        language,
        body="kit.html",
        title_key="kit_title",
        script="kit.js",
        extra={"node": node},
        fill={"node_query": html.escape(quote(node, safe=""))},
    )


@router.get("/embed/kits/{node}")
def embed_page(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    node: str,
    lang: LangQuery = None,
    lm_lang: LangCookie = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    """A kit's chart alone, for another site's iframe: the one page other sites may frame
    (``embed_ancestors``)."""
    language = _language(lang, lm_lang, accept_language)
    if not _known(store, node):
        return _missing_kit(request, settings, language, node)
    return page(
        request,
        settings,
        language,
        body="embed.html",
        title_key="kit_title",
        script="embed.js",
        extra={"node": node},
        fill={"kit_href": html.escape(f"/kits/{quote(node, safe='')}")},
        layout="embed_layout.html",
        ancestors=settings.embed_ancestors,
    )


@router.get("/data")
def data_page(
    request: Request,
    settings: SettingsDep,
    lang: LangQuery = None,
    lm_lang: LangCookie = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    return page(
        request,
        settings,
        _language(lang, lm_lang, accept_language),
        body="data.html",
        title_key="data_title",
        script="data.js",
    )


@router.get("/compare")
def compare_page(
    request: Request,
    settings: SettingsDep,
    lang: LangQuery = None,
    lm_lang: LangCookie = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    """Kits side by side; the choice lives in the query (node, quantity, from, to, station),
    which only the page's script reads, so a shared address shows the same comparison."""
    return page(
        request,
        settings,
        _language(lang, lm_lang, accept_language),
        body="compare.html",
        title_key="compare_title",
        script="compare.js",
        extra={"max_range_days": settings.max_range_days},
    )


_MEDIA = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def static_file(folder: Path, name: str) -> FileResponse:
    """A file of ``folder`` (none outside it, only the kinds in _MEDIA), cached an hour."""
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file() or path.suffix not in _MEDIA:
        raise ApiError(404, f"no file {name!r} here", "path")
    return FileResponse(
        path,
        media_type=_MEDIA[path.suffix],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/static/web/{name}")
def web_file(name: str) -> FileResponse:
    return static_file(STATIC, name)


@router.get("/static/leaflet/{name:path}")
def leaflet_file(name: str) -> FileResponse:
    return static_file(leaflet_folder(), name)
