"""HTTP ingest of an unchanged airRohr (Sensor.Community) kit, signed in with basic auth
(user = its node id, password = its token):

- ``POST /airrohr`` and ``POST /data.php``: its "send to own API" JSON;
- ``POST /write``: its InfluxDB line protocol (answered 204, as InfluxDB answers).

The formats themselves are in :mod:`lokaalmeten.gateway.airrohr`.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from lokaalmeten.gateway import decode
from lokaalmeten.gateway.http_intake import Intake, Refused, error


def routes(intake: Intake) -> APIRouter:
    router = APIRouter()

    async def airrohr_json(request: Request) -> Response:
        sender = intake.basic_node(request)
        body = await intake.body(request)
        node_hint = request.headers.get("x-sensor") or sender
        source = f"http:{request.url.path}"
        checked = decode.airrohr_json(
            intake.validator, source, body, node_hint, sender, int(time.time())
        )
        intake.commit(checked)
        return intake.answer(checked)

    router.post("/airrohr")(airrohr_json)
    router.post("/data.php")(airrohr_json)

    @router.post("/write")
    async def line_protocol(request: Request) -> Response:
        sender = intake.basic_node(request)
        body = await intake.body(request)
        precision = request.query_params.get("precision", "ns")
        checked, unusable = decode.line_protocol(
            intake.validator, body, precision, sender, int(time.time())
        )
        intake.commit(checked)  # the refusal of an unusable body is quarantined too
        if unusable is not None:
            raise Refused(error(400, unusable.detail, reason=unusable.reason))
        # InfluxDB answers a good write with 204; airRohr counts any 2xx as sent.
        return Response(status_code=204)

    return router
