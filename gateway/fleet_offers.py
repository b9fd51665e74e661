"""Offers of a firmware release, published to the kits as retained MQTT messages.

The operator's ``lokaalmeten fleet`` commands publish them with the gateway's broker account
(``broker``, ``mqtt_password``); each kit may read only its own ``<prefix>/<node>/update``
(gateway/registry.py writes the ACL). An empty retained message withdraws an offer::

    publish_retained(settings, {"kit-1": offer_message("0.3.0", 8081, 7), "kit-2": b""})

Returns once the broker acknowledged every message (QoS 1), or raises :class:`OfferError`
naming the broker's address (never its password); also, before connecting, when the ACL in
``mosquitto_dir`` would let the broker drop the offers without a word.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from lokaalmeten.mqtt_client import end_network, new_client
from lokaalmeten.protocol.topics import update_topic
from lokaalmeten.settings import GatewaySettings

_TIMEOUT_S = 10.0


class OfferError(RuntimeError):
    """The offers could not be published; the message says where and why."""


def publish_retained(
    settings: GatewaySettings, messages: Mapping[str, bytes], timeout: float = _TIMEOUT_S
) -> None:
    """Publish each node's message retained, QoS 1, on its update topic; b"" withdraws."""
    if not messages:
        return
    problem = acl_problem(settings)
    if problem is not None:
        raise OfferError(problem)
    address = settings.broker_address
    where = f"the broker at {address.host}:{address.port}"
    connected = threading.Event()
    answer: list[ReasonCode] = []

    def on_connect(
        client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object
    ) -> None:
        answer.append(reason)
        connected.set()

    client = new_client(f"{settings.client_id}-fleet", address)
    client.on_connect = on_connect
    try:
        client.connect(address.host, address.port, keepalive=30)
    except (OSError, ValueError) as exc:
        raise OfferError(f"cannot reach {where} (broker, LM_BROKER): {exc}") from None
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise OfferError(f"{where} did not answer the connection within {timeout:.0f} s")
        if answer[0].is_failure:
            account = address.username or "anonymous"
            raise OfferError(
                f"{where} refused the gateway's account ({account}): {answer[0]}; check "
                "LM_BROKER / LM_MQTT_PASSWORD"
            )
        infos = [
            client.publish(update_topic(node, settings.topic_prefix), payload, qos=1, retain=True)
            for node, payload in sorted(messages.items())
        ]
        deadline = time.monotonic() + timeout
        while not all(info.is_published() for info in infos):
            if time.monotonic() > deadline or not client.is_connected():
                done = sum(1 for info in infos if info.is_published())
                raise OfferError(
                    f"{where} acknowledged {done} of {len(infos)} offer messages; run the "
                    "command again (an offer made twice does no harm)"
                )
            time.sleep(0.02)
    finally:
        end_network(client, 3.0, "fleet mqtt stop")


def acl_problem(settings: GatewaySettings) -> str | None:
    """Mosquitto drops a publish its ACL forbids without a word: an ACL written by an older
    lokaalmeten (from LM_MOSQUITTO_DIR) would swallow every offer it acknowledges."""
    if not settings.mosquitto_dir:
        return None
    acl = Path(settings.mosquitto_dir) / "acl"
    try:
        text = acl.read_text()
    except OSError:
        return None  # not written by us, or not readable here: nothing to say
    line = f"topic write {update_topic('+', settings.topic_prefix)}"
    if "user " in text and line not in text:
        return (
            f"the broker's ACL {acl} does not let the gateway offer releases ({line}): "
            "Mosquitto drops the offers. Write it again: lokaalmeten nodes acl, then "
            "systemctl reload mosquitto"
        )
    return None
