"""From what an HTTP kit sent to checked readings: the decoding the HTTP ingest and the
quarantine's replay share, so that a replayed payload takes the live path exactly.

Each function takes the body and what the request said beside it (the signed-in node, the
airRohr ``X-Sensor`` header, the line protocol's precision) and returns readings and
refusals; the refusals carry that context, so that the quarantine can replay them later::

    checked = airrohr_json(validator, "http:/airrohr", body, "esp8266-12345678", None, now)
    spool.put(checked.readings, checked.refusals)

MQTT needs no function here: :meth:`RecordValidator.mqtt` is its whole decoding, and the
topic (the refusal's source) all it needs beside the payload.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from typing import Any

from lokaalmeten.gateway.airrohr import AirRohrError, parse_airrohr_json, parse_line_protocol
from lokaalmeten.gateway.ttn import TtnError, parse_uplink
from lokaalmeten.gateway.validate import Checked, RecordValidator
from lokaalmeten.protocol.record import RecordError

RECORDS = "http:/v1/records"
AIRROHR_JSON = ("http:/airrohr", "http:/data.php")
LINE_PROTOCOL = "http:/write"
TTN_UPLINK = "http:/lorawan/ttn"
HTTP_SOURCES = (RECORDS, *AIRROHR_JSON, LINE_PROTOCOL, TTN_UPLINK)


class WrongSender(Exception):
    """Data signed in with one node's credentials but naming another node: answered 403 and
    not quarantined (it is a credentials problem, not a payload to fix)."""


def _with_context(checked: Checked, context: dict[str, Any]) -> Checked:
    if context and checked.refusals:
        text = json.dumps(context, sort_keys=True)
        checked.refusals = [replace(r, context=text) for r in checked.refusals]
    return checked


def _encoded(record: object) -> bytes:
    return json.dumps(record).encode()


def records(validator: RecordValidator, body: bytes, sender: str | None, now: int) -> Checked:
    """``POST /v1/records``: one record of our protocol or a JSON list of them.

    Each record is checked (and, if refused, quarantined) on its own. ``sender``: the node
    whose token signed the request; None when the gateway has no registry (or in a replay).
    """
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return validator.refuse(RECORDS, "not_json", str(exc), body, now)
    total = Checked()
    for record in doc if isinstance(doc, list) else [doc]:
        node = record.get("node") if isinstance(record, dict) else None
        # Each record is quarantined on its own, as the JSON it was; encoded only if refused.
        raw = partial(_encoded, record)
        if not isinstance(node, str):
            checked = validator.refuse(RECORDS, "schema", "record without node", raw(), now)
        elif sender is not None and node != sender:
            raise WrongSender(f"this token belongs to {sender}, not {node}")
        else:
            checked = validator.document(RECORDS, node, record, raw, now)
        total.readings.extend(checked.readings)
        total.refusals.extend(checked.refusals)
    return total


def airrohr_json(
    validator: RecordValidator,
    source: str,
    body: bytes,
    node_hint: str | None,
    sender: str | None,
    now: int,
) -> Checked:
    """``POST /airrohr`` or ``/data.php``: an airRohr kit's "send to own API" JSON.

    ``node_hint``: the X-Sensor header, else the signed-in node; it names the kit.
    """
    context = {"node_hint": node_hint} if node_hint else {}
    try:
        parsed = parse_airrohr_json(body, node_hint, now)
    except AirRohrError as exc:
        return _with_context(validator.refuse(source, exc.reason, exc.detail, body, now), context)
    if sender is not None and parsed.node != sender:
        raise WrongSender(f"signed in as {sender}, but the data is from {parsed.node}")
    checked = validator.readings(source, parsed.node, parsed.readings, parsed.problems, body, now)
    return _with_context(checked, context)


def line_protocol(
    validator: RecordValidator, body: bytes, precision: str, sender: str | None, now: int
) -> tuple[Checked, RecordError | None]:
    """``POST /write``: an airRohr kit's InfluxDB line protocol.

    Returns the checked readings, and the error when the body as a whole is unusable (then
    the only refusal is the whole body; the live endpoint answers it with 400).
    """
    context = {"precision": precision} if precision != "ns" else {}
    try:
        groups = parse_line_protocol(body, now, precision)
    except AirRohrError as exc:
        refused = validator.refuse(LINE_PROTOCOL, exc.reason, exc.detail, body, now)
        return _with_context(refused, context), exc
    total = Checked()
    for group in groups:
        if sender is not None and group.node != sender:
            raise WrongSender(f"signed in as {sender}, but a line is from {group.node}")
        checked = validator.readings(
            LINE_PROTOCOL, group.node, group.readings, group.problems, body, now
        )
        total.readings.extend(checked.readings)
        total.refusals.extend(checked.refusals)
    return _with_context(total, context), None


def ttn_uplink(
    validator: RecordValidator, body: bytes, application: str | None, now: int
) -> Checked:
    """``POST /lorawan/ttn``: an uplink of The Things Stack's webhook (gateway/ttn.py).

    ``application``: the application the request's secret belongs to; an uplink of another
    application is refused (WrongSender). The readings are those of the device's node (the
    one the node directory maps it to, else its device id) at the time the network received
    the uplink, less the frame's ``age``; the same uplink twice gives the same readings,
    which the stores keep once.
    """
    try:
        uplink = parse_uplink(body)
    except TtnError as exc:
        return validator.refuse(TTN_UPLINK, exc.reason, exc.detail, body, now)
    if uplink is None:
        return Checked()
    if application is not None and uplink.application != application:
        raise WrongSender(f"this secret is {application}'s, the uplink {uplink.application}'s")
    node, readings = uplink.device, uplink.readings
    if validator.device_node is not None:
        node = validator.device_node(uplink.application, uplink.device)
        readings = [reading._replace(node=node) for reading in readings]
    return validator.readings(TTN_UPLINK, node, readings, uplink.problems, body, now)
