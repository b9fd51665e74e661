"""The FastAPI application, built from settings so that tests can make their own.

app = create_app(ServerSettings(store="sqlite:var/lokaalmeten.db"))
uvicorn.run(app, port=8000)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from lokaalmeten import __version__
from lokaalmeten.archive.index import PARQUET
from lokaalmeten.gateway.alert_book import AlertReader
from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.server import health
from lokaalmeten.server.apiversion import ApiVersion
from lokaalmeten.server.buckets import Buckets
from lokaalmeten.server.disconnect import ClientGone, Working
from lokaalmeten.server.errors import ERROR_RESPONSES, error_media_type, install_error_handlers
from lokaalmeten.server.guard import Admission, RateLimit
from lokaalmeten.server.health import StoreWatch, serves
from lokaalmeten.server.routes import (
    aggregates,
    archive,
    corrected,
    export,
    features,
    metadata,
    nodes,
    noise,
    readings,
    reference,
    series,
    stream,
)
from lokaalmeten.server.sensorthings import routes as sensorthings
from lokaalmeten.server.web import apidocs
from lokaalmeten.server.web import router as web_pages
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import open_store

log = logging.getLogger("lokaalmeten.server")


def install_openapi(app: FastAPI) -> None:
    """The generated document, less FastAPI's 422 (a validation error is answered 400 here),
    with every refusal in the media type it is answered in."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path, methods in schema.get("paths", {}).items():
                for operation in methods.values():
                    responses = operation.get("responses", {})
                    responses.pop("422", None)
                    # Refusals are problem details whatever the route's own media type (CSV,
                    # GeoJSON); SensorThings keeps plain JSON (server/errors.py).
                    for status, answer in responses.items():
                        content = answer.get("content", {})
                        if status >= "400" and content:
                            answer["content"] = {
                                error_media_type(path): next(iter(content.values()))
                            }
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: ServerSettings, buckets: Buckets | None = None) -> FastAPI:
    """``buckets``: the rate limit's, when several worker processes share them."""
    store = open_store(settings.store, read_only=True)
    directory = DirectoryReader(Path(settings.registry))
    alerts = AlertReader(Path(settings.registry))  # the gateway keeps them beside the directory
    watch = StoreWatch(store, settings.store_check_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # serve() names the address it binds next; a test's in-process client has none.
        address = getattr(app.state, "address", None)
        if address is not None:
            log.info("server serves: %s", serves(store, directory.path, *address))
            directory.entries()  # read once now, so that a missing directory is told at once
            if directory.problem:
                log.warning(
                    "%s; the kits are shown without names and places until the gateway "
                    "makes it (--registry / LM_REGISTRY)",
                    directory.problem,
                )
        watch.start()  # after the start line: a warning then reads as about this server
        try:
            yield
        finally:
            watch.stop()
            store.close()
            directory.close()

    app = FastAPI(
        title="lokaalmeten open data",
        version=__version__,
        description=(
            "Readings of a citizen measurement network: particulate matter, temperature, "
            "humidity, pressure, CO2 and noise. Times are UTC; units are stated per reading."
        ),
        lifespan=lifespan,
        # FastAPI's own pages load their scripts from CDNs: /docs is served from here
        # (server/web/apidocs.py), and ReDoc, which has no offline copy, is not offered.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.directory = directory
    app.state.alerts = alerts
    app.state.watch = watch
    app.state.latest_answers = nodes.LatestAnswers()
    app.state.stream_slots = stream.StreamSlots(settings.max_stream_clients)
    install_error_handlers(app)
    # First: `/` is the public map for browsers and the JSON landing document otherwise.
    app.include_router(web_pages.router)
    app.include_router(apidocs.router)
    app.include_router(health.router)
    for router in (
        metadata.router,
        nodes.router,
        readings.router,
        series.router,
        aggregates.router,
        noise.router,
        corrected.router,
        reference.router,
        export.router,
        stream.router,
        sensorthings.router,
        features.router,
        archive.router,
    ):
        app.include_router(router, responses=ERROR_RESPONSES)
    install_openapi(app)
    # Added last is outermost: the rate limit refuses first, then admission (query length,
    # heavy requests at once), both before any work; CORS is open for reading.
    # Level 1: a 20 MB JSON answer shrinks 15-fold either way; level 1 takes half level 5's
    # time and a fifth of level 9's, and keeps up with a streamed CSV export.
    # Parquet is compressed inside already (the archive's, zstd): gzip would only cost time.
    app.add_middleware(nodes.KeptLatest)  # innermost: see its docstring
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1000,
        compresslevel=1,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, PARQUET),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["Retry-After", "Content-Disposition", "API-Version", "Link"],
    )
    # Inside admission: only admitted requests are watched. A stopping server abandons
    # those still working after a grace (server/serve.py).
    app.state.working = Working()
    app.add_middleware(ClientGone, working=app.state.working)
    app.add_middleware(Admission, settings=settings)
    app.add_middleware(RateLimit, per_minute=settings.rate_limit, buckets=buckets)
    app.add_middleware(ApiVersion)  # outermost: refusals carry the version too
    return app
