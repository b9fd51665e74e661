"""HTTP ingest of our own records: ``POST /v1/records`` with one record or a JSON list.

``Authorization: Bearer <the kit's token>``; each record is checked (and quarantined) on its
own, as over MQTT (docs/protocol.md).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from lokaalmeten.gateway import decode
from lokaalmeten.gateway.http_intake import Intake


def routes(intake: Intake) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/records")
    async def records(request: Request) -> Response:
        sender = intake.bearer_node(request)
        body = await intake.body(request)
        checked = decode.records(intake.validator, body, sender, int(time.time()))
        intake.commit(checked)
        return intake.answer(checked)

    return router
