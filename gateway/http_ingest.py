"""HTTP side of the gateway: ingest for kits that do not speak MQTT, health and metrics.

- ``POST /v1/records``: one record of our protocol, or a JSON list of them;
  ``Authorization: Bearer <the kit's token>`` (gateway/http_records.py).
- ``POST /airrohr`` and ``POST /data.php``: an airRohr kit's "send to own API" JSON;
  HTTP basic auth with the node id and its token (gateway/http_airrohr.py).
- ``POST /write``: an airRohr kit's InfluxDB line protocol; basic auth as above.
- ``POST /lorawan/ttn``: The Things Stack's webhook uplinks of LoRaWAN kits; the header
  ``X-Lokaalmeten-Secret`` with the application's secret (gateway/http_lorawan.py).
- ``GET /fleet/{version}/{march}/{path}``: a firmware release's files for the kits a rollout
  offers it to; basic auth as above (gateway/http_fleet.py, docs/fleet.md).
- ``GET /health``: 200 when MQTT is connected and every store writes, else 503.
- ``GET /metrics``: the gateway's counters in Prometheus text format.

A request is answered 2xx only after its readings are committed to the spool; 503 with
``Retry-After`` when the spool is full (policy ``block``), so the kit sends again later.
Each format is a route module over the shared sign-in and commit path of
:mod:`lokaalmeten.gateway.http_intake`, listed in :data:`FORMATS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from lokaalmeten.gateway import http_airrohr, http_fleet, http_lorawan, http_records
from lokaalmeten.gateway.decode import WrongSender
from lokaalmeten.gateway.http_intake import MAX_BODY, Intake, Refused, error
from lokaalmeten.gateway.metrics import PrometheusCollector

if TYPE_CHECKING:
    from lokaalmeten.gateway.pipeline import Gateway

__all__ = ["FORMATS", "MAX_BODY", "create_ingest_app"]

# The ingest formats, each a module whose routes() gives its endpoints.
FORMATS: tuple[Callable[[Intake], APIRouter], ...] = (
    http_records.routes,
    http_airrohr.routes,
    http_lorawan.routes,
)


def create_ingest_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(title="lokaalmeten gateway", docs_url=None, redoc_url=None)
    intake = Intake(gateway)
    for routes in FORMATS:
        app.include_router(routes(intake))
    app.include_router(http_fleet.routes(intake, gateway.rollout, Path(gateway.settings.releases)))
    prometheus = CollectorRegistry()
    prometheus.register(PrometheusCollector(gateway.metrics, gateway.gauges))

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return exc.response

    @app.exception_handler(WrongSender)
    async def wrong_sender(request: Request, exc: WrongSender) -> JSONResponse:
        # Signed in as one kit, data from another: a credentials problem, not quarantined.
        return error(403, str(exc), reason="node_mismatch")

    @app.get("/health")
    def health() -> JSONResponse:
        state = gateway.health()
        return JSONResponse(state, status_code=200 if state["status"] == "ok" else 503)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(prometheus), media_type=CONTENT_TYPE_LATEST)

    return app
