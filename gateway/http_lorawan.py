"""HTTP ingest of LoRaWAN kits: ``POST /lorawan/ttn``, The Things Stack's webhook uplinks.

The application's webhook (Integrations → Webhooks, format JSON, "Uplink message" enabled,
base URL ``http://<gateway>:8081/lorawan/ttn``) sends the additional header
``X-Lokaalmeten-Secret: <the secret>`` that the setting ``lorawan_applications`` gives its
application (docs/gateway.md, "LoRaWAN"). Each uplink's frame (firmware/kit/lora_frame.py)
becomes readings of the device, whose id is its node id; an uplink sent twice gives the
same readings, which the stores keep once.

- 200 with what was stored and refused (an event without a frame, a join say, stores
  nothing); 422 when nothing was usable;
- 401 without the secret of the uplink's application, 403 for an uplink of another
  application than the secret's, 404 while no application is configured.

The Things Network's community tier tries a webhook once: an uplink the gateway could not
take (503, a gateway down) is lost to the webhook and must come from the Storage
Integration.
"""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Request, Response

from lokaalmeten.gateway import decode
from lokaalmeten.gateway.http_intake import Intake, Refused, error

SECRET_HEADER = "x-lokaalmeten-secret"


def _application_of(intake: Intake, request: Request) -> str:
    """The application whose secret the request carries (401 without one)."""
    applications = intake.gateway.settings.lorawan_applications
    secret = request.headers.get(SECRET_HEADER, "")
    for application, expected in applications.items():
        if secret and hmac.compare_digest(secret.encode(), expected.encode()):
            return application
    raise Refused(
        error(
            401,
            "the header X-Lokaalmeten-Secret with the application's secret is required "
            "(the webhook's additional headers; setting lorawan_applications)",
            reason="unauthorised",
        )
    )


def routes(intake: Intake) -> APIRouter:
    router = APIRouter()

    @router.post("/lorawan/ttn")
    async def ttn_uplink(request: Request) -> Response:
        if not intake.gateway.settings.lorawan_applications:
            raise Refused(
                error(
                    404, "LoRaWAN ingest is off: set lorawan_applications (LM_LORAWAN_APPLICATIONS)"
                )
            )
        body = await intake.body(request)
        application = _application_of(intake, request)
        checked = decode.ttn_uplink(intake.validator, body, application, int(time.time()))
        intake.commit(checked)
        return intake.answer(checked)

    return router
