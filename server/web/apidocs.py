"""``/docs``: the interactive API docs (Swagger UI), served from this server alone.

FastAPI's own ``/docs`` loads Swagger UI from a CDN and is blank without internet; here its
files come from the installed PyPI package ``swagger-ui-bundle-v2`` and the page is allowed
to run nothing else (a strict Content-Security-Policy, its one inline script by nonce)::

    GET /docs                                  the page
    GET /static/swagger/swagger-ui-bundle.js   Swagger UI's files
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from lokaalmeten.server.web.router import static_file

router = APIRouter(include_in_schema=False)

STATIC_PREFIX = "/static/swagger"


def swagger_folder() -> Path:
    """Swagger UI's distribution files, from the PyPI package swagger-ui-bundle-v2."""
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path)).resolve()


def _policy(nonce: str) -> str:
    # As the public pages' policy, plus the page's one inline script (Swagger UI's start,
    # which FastAPI writes with the settings). Swagger UI sets style attributes and draws
    # its icons from data: URLs; it never needs eval.
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; connect-src 'self'; "
        "img-src 'self' data:; style-src 'self' 'unsafe-inline'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


# FastAPI's markup, made to pass axe-core: the page's language, a main landmark around
# Swagger UI, and our stylesheet after Swagger UI's that darkens its low-contrast colours.
_A11Y_EDITS = (
    ("<html>", '<html lang="en">'),
    ('<div id="swagger-ui">\n    </div>', '<main><div id="swagger-ui"></div></main>'),
    ("</head>", '<link rel="stylesheet" href="/static/web/swagger-a11y.css">\n</head>'),
)


def _accessible(body: str) -> str:
    for old, new in _A11Y_EDITS:
        if old not in body:
            raise RuntimeError(f"FastAPI's Swagger UI page changed: no {old!r} to edit")
        body = body.replace(old, new, 1)
    return body


@router.get("/docs")
def swagger_page(request: Request) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} · API",
        swagger_js_url=f"{STATIC_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_PREFIX}/favicon-32x32.png",
        # The default asks validator.swagger.io about the document: a third-party request.
        # Deep links put a link inside each operation's button, which a keyboard or screen
        # reader cannot reach apart from the button (axe-core: nested-interactive).
        swagger_ui_parameters={"validatorUrl": None, "deepLinking": False},
    )
    body = _accessible(bytes(page.body).decode())
    # FastAPI's markup has no nonce option: every <script> it writes gets this page's.
    with_nonce = body.replace("<script>", f'<script nonce="{nonce}">')
    if with_nonce == body:
        raise RuntimeError("FastAPI's Swagger UI page changed: its start script has no nonce")
    return HTMLResponse(
        with_nonce,
        headers={
            "Content-Security-Policy": _policy(nonce),
            "Cache-Control": "no-store",  # the nonce is new each time
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


@router.get(STATIC_PREFIX + "/{name:path}")
def swagger_file(name: str) -> FileResponse:
    return static_file(swagger_folder(), name)
