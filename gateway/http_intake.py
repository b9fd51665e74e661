"""The path every HTTP ingest format shares: body limit, sign-in, spool commit, answer.

A format is a route module (gateway/http_records.py, gateway/http_airrohr.py) that reads the
request with these steps and turns the body into checked readings with its decoder
(:mod:`lokaalmeten.gateway.decode`); a future format (a LoRaWAN network server's webhook, say)
is one more such module and one line in :data:`lokaalmeten.gateway.http_ingest.FORMATS`::

    sender = intake.basic_node(request)          # or bearer_node; None without a registry
    body = await intake.body(request)
    checked = decode.airrohr_json(intake.validator, source, body, hint, sender, now)
    intake.commit(checked)                        # durable in the spool, or 503
    return intake.answer(checked)

A step that refuses the request raises :class:`Refused` with the answer, which the app sends
(as it answers :class:`~lokaalmeten.gateway.decode.WrongSender` with 403).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse

from lokaalmeten.gateway.spool import SpoolFull
from lokaalmeten.gateway.validate import Checked

if TYPE_CHECKING:
    from lokaalmeten.gateway.pipeline import Gateway

# A kit's body is one interval's record; anything this large is not one.
MAX_BODY = 256 * 1024
_RETRY_AFTER = "30"


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    """The gateway's JSON error; a 503 says when to send again."""
    headers = {"Retry-After": _RETRY_AFTER} if status == 503 else None
    return JSONResponse(
        {"error": {"status": status, "message": message, **extra}}, status, headers=headers
    )


class Refused(Exception):
    """The request is answered with ``response`` and goes no further."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def _unauthorised(message: str) -> Refused:
    return Refused(error(401, message, reason="unauthorised"))


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


class Intake:
    """One gateway's sign-in and commit path, shared by its HTTP formats."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.validator = gateway.validator
        self.registry = gateway.registry
        self.metrics = gateway.metrics

    async def body(self, request: Request) -> bytes:
        """The request's body, counted; 413 when it is larger than a kit ever sends."""
        self.metrics.add("http_requests_received")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            raise Refused(error(413, f"body larger than {MAX_BODY} bytes"))
        body = await request.body()
        if len(body) > MAX_BODY:
            raise Refused(error(413, f"body larger than {MAX_BODY} bytes"))
        return body

    def bearer_node(self, request: Request) -> str | None:
        """The node whose token is the Bearer credential; None when no registry is in use."""
        if self.registry is None:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        sender = self.registry.node_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if sender is None:
            raise _unauthorised("'Authorization: Bearer <the kit's token>' is required")
        return sender

    def basic_node(self, request: Request) -> str | None:
        """The node named by valid Basic credentials; None when no registry is in use."""
        credentials = _basic_auth(request)
        if self.registry is None:
            return None
        if credentials is None or not self.registry.check_token(*credentials):
            raise _unauthorised(
                "HTTP basic auth is required: user = the kit's node id, "
                "password = its token ('lokaalmeten nodes add')"
            )
        return credentials[0]

    def commit(self, checked: Checked) -> None:
        """Readings and refusals durable in the spool; 503 (send again later) when it is full."""
        try:
            self.gateway.commit_checked(checked)
        except SpoolFull as exc:
            self.metrics.add("spool_full_waits")
            raise Refused(error(503, str(exc))) from None

    @staticmethod
    def answer(checked: Checked) -> JSONResponse:
        """What was stored and what refused; 422 when nothing was usable."""
        refused = [{"reason": r.reason, "detail": r.detail} for r in checked.refusals]
        if not checked.readings and refused:
            return error(422, refused[0]["detail"], reason=refused[0]["reason"], refused=refused)
        return JSONResponse({"stored": len(checked.readings), "refused": refused})
