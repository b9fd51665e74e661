"""HTTP side of the gateway: ingest for kits that do not speak MQTT, health and metrics.

- ``POST /v1/records``: one record of our protocol, or a JSON list of them;
  ``Authorization: Bearer <the kit's token>``.
- ``POST /airrohr`` and ``POST /data.php``: an airRohr kit's "send to own API" JSON;
  HTTP basic auth with the node id and its token.
- ``POST /write``: an airRohr kit's InfluxDB line protocol; basic auth as above.
- ``GET /health``: 200 when MQTT is connected and every store writes, else 503.
- ``GET /metrics``: the gateway's counters in Prometheus text format.

A request is answered 2xx only after its readings are committed to the spool; 503 with
``Retry-After`` when the spool is full (policy ``block``), so the kit sends again later.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from lokaalmeten.gateway import decode
from lokaalmeten.gateway.decode import WrongSender
from lokaalmeten.gateway.metrics import PrometheusCollector
from lokaalmeten.gateway.spool import SpoolFull
from lokaalmeten.gateway.validate import Checked

if TYPE_CHECKING:
    from lokaalmeten.gateway.pipeline import Gateway

# A kit's body is one interval's record; anything this large is not one.
MAX_BODY = 256 * 1024
_RETRY_AFTER = "30"


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": _RETRY_AFTER} if status == 503 else None
    return JSONResponse(
        {"error": {"status": status, "message": message, **extra}}, status, headers=headers
    )


def _basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def create_ingest_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(title="lokaalmeten gateway", docs_url=None, redoc_url=None)
    validator = gateway.validator
    registry = gateway.registry
    metrics = gateway.metrics
    prometheus = CollectorRegistry()
    prometheus.register(PrometheusCollector(metrics, gateway.gauges))

    async def body_of(request: Request) -> bytes | JSONResponse:
        metrics.add("http_requests_received")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return _error(413, f"body larger than {MAX_BODY} bytes")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, f"body larger than {MAX_BODY} bytes")
        return body

    def unauthorised(message: str) -> JSONResponse:
        return _error(401, message, reason="unauthorised")

    def basic_node(request: Request) -> str | JSONResponse | None:
        """The node named by valid Basic credentials; None when no registry is in use."""
        credentials = _basic_auth(request)
        if registry is None:
            return None
        if credentials is None or not registry.check_token(*credentials):
            return unauthorised(
                "HTTP basic auth is required: user = the kit's node id, "
                "password = its token ('lokaalmeten nodes add')"
            )
        return credentials[0]

    def commit(checked: Checked) -> JSONResponse | None:
        try:
            gateway.spool.put(checked.readings, checked.refusals)
        except SpoolFull as exc:
            metrics.add("spool_full_waits")
            return _error(503, str(exc))
        metrics.add("readings_spooled", len(checked.readings))
        gateway.spooled(checked.readings)
        return None

    def answer(checked: Checked) -> JSONResponse:
        refused = [{"reason": r.reason, "detail": r.detail} for r in checked.refusals]
        if not checked.readings and refused:
            return _error(422, refused[0]["detail"], reason=refused[0]["reason"], refused=refused)
        return JSONResponse({"stored": len(checked.readings), "refused": refused})

    def wrong_sender(exc: WrongSender) -> JSONResponse:
        return _error(403, str(exc), reason="node_mismatch")

    @app.post("/v1/records")
    async def records(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        sender: str | None = None
        if registry is not None:
            sender = registry.node_for_token(token.strip()) if scheme.lower() == "bearer" else None
            if sender is None:
                return unauthorised("'Authorization: Bearer <the kit's token>' is required")
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            checked = decode.records(validator, body, sender, int(time.time()))
        except WrongSender as exc:
            return wrong_sender(exc)
        return commit(checked) or answer(checked)

    async def basic_body(request: Request) -> tuple[str | None, bytes] | JSONResponse:
        """(the signed-in node, the body) for the airRohr endpoints, or the refusal."""
        sender = basic_node(request)
        if isinstance(sender, JSONResponse):
            return sender
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        return sender, body

    async def airrohr_json(request: Request) -> Response:
        signed_in = await basic_body(request)
        if isinstance(signed_in, JSONResponse):
            return signed_in
        sender, body = signed_in
        node_hint = request.headers.get("x-sensor") or sender
        source = f"http:{request.url.path}"
        try:
            checked = decode.airrohr_json(
                validator, source, body, node_hint, sender, int(time.time())
            )
        except WrongSender as exc:
            return wrong_sender(exc)
        return commit(checked) or answer(checked)

    app.post("/airrohr")(airrohr_json)
    app.post("/data.php")(airrohr_json)

    @app.post("/write")
    async def line_protocol(request: Request) -> Response:
        signed_in = await basic_body(request)
        if isinstance(signed_in, JSONResponse):
            return signed_in
        sender, body = signed_in
        precision = request.query_params.get("precision", "ns")
        try:
            checked, unusable = decode.line_protocol(
                validator, body, precision, sender, int(time.time())
            )
        except WrongSender as exc:
            return wrong_sender(exc)
        failure = commit(checked)
        if failure is not None:
            return failure
        if unusable is not None:
            return _error(400, unusable.detail, reason=unusable.reason)
        # InfluxDB answers a good write with 204; airRohr counts any 2xx as sent.
        return Response(status_code=204)

    @app.get("/health")
    def health() -> JSONResponse:
        state = gateway.health()
        return JSONResponse(state, status_code=200 if state["status"] == "ok" else 503)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(prometheus), media_type=CONTENT_TYPE_LATEST)

    return app
