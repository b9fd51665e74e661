"""The Things Stack (v3) uplink messages: the webhook's JSON, and the kit's frame in it.

A webhook of The Things Stack POSTs each uplink as one JSON document::

    {"end_device_ids": {"device_id": "buurt-7", "application_ids": {"application_id": "buurt"},
                        "dev_eui": "70B3D57ED0000001"},
     "received_at": "2026-12-07T12:00:01.123456789Z",
     "uplink_message": {"f_port": 1, "f_cnt": 42, "frm_payload": "AQASAFEE0g==",
                        "received_at": "2026-12-07T12:00:01.1Z", "rx_metadata": [...], ...}}

The Things Stack leaves out a field whose value is empty or zero (``f_cnt`` 0, an empty
``frm_payload``), so neither is required. ``parse_uplink`` gives the application, the
device, the frame counter, the time the network received the uplink and the kit's frame
(firmware/kit/lora_frame.py) on f_port 1; :class:`TtnError` says what is wrong otherwise.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from datetime import datetime

from lokaalmeten.protocol.lora_frame import FrameError, decode
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import Reading

F_PORT = 1  # the kits' frames; other ports are not ours


class TtnError(ValueError):
    """Not an uplink this gateway can use; ``reason`` is the quarantine's, ``detail`` says
    what is wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Uplink:
    application: str
    device: str
    f_cnt: int
    received_at: int  # epoch seconds, UTC: when the network received it
    readings: list[Reading] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def rfc3339(text: object) -> float:
    """Epoch seconds of The Things Stack's RFC 3339 times (nanoseconds, ``Z``; Python 3.11
    reads them, keeping microseconds); TtnError for anything else."""
    if not isinstance(text, str) or not text:
        raise TtnError("schema", f"received_at {text!r} is not a time")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TtnError("schema", f"received_at {text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise TtnError("schema", f"received_at {text!r} has no time zone")
    return moment.timestamp()


def parse_uplink(body: bytes) -> Uplink | None:
    """The uplink in a webhook body; None for a message that carries no frame of ours to
    store (another event, an empty uplink)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise TtnError("not_json", "the body is not JSON") from None
    if not isinstance(doc, dict):
        raise TtnError("schema", "the body is not a JSON object")
    ids = doc.get("end_device_ids")
    message = doc.get("uplink_message")
    if not isinstance(ids, dict) or not isinstance(ids.get("device_id"), str):
        raise TtnError("schema", "end_device_ids.device_id is missing")
    app_ids = ids.get("application_ids")
    application = app_ids.get("application_id") if isinstance(app_ids, dict) else None
    if not isinstance(application, str):
        raise TtnError("schema", "end_device_ids.application_ids.application_id is missing")
    if message is None:
        return None  # a join, a downlink event …: nothing to store
    if not isinstance(message, dict):
        raise TtnError("schema", "uplink_message is not an object")
    payload = message.get("frm_payload")
    if not payload:
        return None  # an uplink without application data (MAC commands only)
    port = message.get("f_port", 0)
    if port != F_PORT:
        raise TtnError("f_port", f"f_port {port} is not the kits' ({F_PORT})")
    try:
        frame = base64.b64decode(payload, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise TtnError("schema", "frm_payload is not base64") from None
    try:
        decoded = decode(frame)
    except FrameError as exc:
        raise TtnError("bad_frame", str(exc)) from None
    # A reading's time is whole seconds.
    received = int(rfc3339(message.get("received_at") or doc.get("received_at")))
    f_cnt = message.get("f_cnt", 0)
    uplink = Uplink(application, ids["device_id"], f_cnt if isinstance(f_cnt, int) else 0, received)
    when = received - (decoded.age or 0)
    for quantity, value in decoded.values.items():
        if math.isnan(value) or not QUANTITIES[quantity].plausible(value):
            uplink.problems.append(("out_of_range", f"{quantity}={value!r}"))
            continue
        uplink.readings.append(Reading(uplink.device, quantity, when, value))
    return uplink
