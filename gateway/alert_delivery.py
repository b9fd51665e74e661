"""Delivering alert events from the book's outbox (gateway/alert_book.py), each sink in its
own thread and in the order the events were made:

- webhook: ``POST`` of the event's JSON to LM_ALERT_WEBHOOK with ``Idempotency-Key: <event
  id>``; an event leaves the outbox only after a 2xx answer. Anything else (no answer, 5xx,
  4xx) is retried, waiting 1, 2, 4 … s up to LM_ALERT_RETRY_MAX, so an event may arrive more
  than once (a 2xx lost on the way) but is never lost: the receiver drops repeats by the key.
- mqtt: the same JSON published with QoS 1, not retained, to ``<prefix>/<node>/alerts``; it
  leaves the outbox after the broker's PUBACK.

::

    sender = WebhookSender(book, "https://example.org/hook", shutdown, retry_max=300)
    threading.Thread(target=sender.run).start()      # until shutdown
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt

from lokaalmeten.gateway.alert_book import AlertBook, AlertBookError
from lokaalmeten.mqtt_client import end_network, new_client
from lokaalmeten.outage import Outage
from lokaalmeten.settings import GatewaySettings
from lokaalmeten.shutdown import Shutdown

log = logging.getLogger("lokaalmeten.gateway")

ALERTS = "alerts"  # the topic level: <prefix>/<node>/alerts
_IDLE_S = 0.5  # how often an empty outbox is looked at again
_FIRST_RETRY_S = 1.0
_TIMEOUT_S = 10.0  # one webhook request, connecting included
_PUBACK_WAIT_S = 5.0


def alerts_topic(node: str, prefix: str) -> str:
    return f"{prefix}/{node}/{ALERTS}"


def webhook_origin(url: str) -> str:
    """How logs name a webhook: by its origin only, as its path or query often holds its
    secret (a chat service's hook URL is its credential)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


class _Sender:
    """The loop both sinks share: the oldest event, tried until accepted, then the next."""

    sink = ""

    def __init__(self, book: AlertBook, shutdown: Shutdown, retry_max: float, what: str) -> None:
        self.book = book
        self.shutdown = shutdown
        self.retry_max = retry_max
        self.outage = Outage(what, "the alert events wait in the alert book", log=log)
        self.delivered = 0

    def run(self) -> None:
        wait = _FIRST_RETRY_S
        try:
            while not self.shutdown.is_set():
                try:
                    due = self.book.next_event(self.sink)
                except AlertBookError as exc:
                    log.error("alert delivery (%s): %s", self.sink, exc)
                    self.shutdown.wait(self.retry_max)
                    continue
                if due is None:
                    self.shutdown.wait(_IDLE_S)
                    continue
                if not self.ready():
                    # Not the receiver's answer: looked at again soon, without the back-off,
                    # so that events go out as soon as the connection is back.
                    self.outage.failed("not connected")
                    self.shutdown.wait(_IDLE_S)
                    continue
                event_id, body = due
                problem = self.send(event_id, body)
                if problem is None:
                    self.outage.ended()
                    try:
                        self.book.delivered(self.sink, event_id)
                    except AlertBookError as exc:
                        log.error("alert delivery (%s): %s", self.sink, exc)
                    self.delivered += 1
                    wait = _FIRST_RETRY_S
                    continue
                if self.shutdown.is_set():
                    break  # cut short by the stop: the event stays in the outbox
                self.outage.failed(problem)
                self.shutdown.wait(wait)
                wait = min(wait * 2, self.retry_max)
        finally:
            self.close()

    def ready(self) -> bool:
        """Whether a delivery can be tried now (the MQTT client is connected)."""
        return True

    def send(self, event_id: str, body: str) -> str | None:
        """Deliver one event; None when it was accepted, else what went wrong."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class WebhookSender(_Sender):
    sink = "webhook"

    def __init__(
        self, book: AlertBook, url: str, shutdown: Shutdown, retry_max: float = 300
    ) -> None:
        super().__init__(book, shutdown, retry_max, f"alert webhook {webhook_origin(url)}")
        self.url = url
        self._client = httpx.Client(timeout=_TIMEOUT_S, follow_redirects=False)

    def send(self, event_id: str, body: str) -> str | None:
        try:
            answer = self._client.post(
                self.url,
                content=body.encode(),
                headers={"Content-Type": "application/json", "Idempotency-Key": event_id},
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if 200 <= answer.status_code < 300:
            return None
        return f"answered {answer.status_code} {answer.reason_phrase}"

    def close(self) -> None:
        self._client.close()


class MqttAlertSender(_Sender):
    """Its own client (clean session, id ``<client_id>-alerts``): the ingest client
    acknowledges by hand and keeps a persistent session, which publishing must not disturb."""

    sink = "mqtt"

    def __init__(self, book: AlertBook, settings: GatewaySettings, shutdown: Shutdown) -> None:
        address = settings.broker_address
        # Named by host and port: the broker URL may carry the gateway's password.
        where = f"alert topic on broker {address.host}:{address.port}"
        super().__init__(book, shutdown, settings.alert_retry_max, where)
        self.prefix = settings.topic_prefix
        client = new_client(f"{settings.client_id}-alerts", address)
        client.connect_async(address.host, address.port, keepalive=30)
        client.loop_start()
        self._client = client

    def ready(self) -> bool:
        return bool(self._client.is_connected())

    def send(self, event_id: str, body: str) -> str | None:
        node = json.loads(body)["alert"]["node"]
        info = self._client.publish(alerts_topic(node, self.prefix), body, qos=1, retain=False)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return mqtt.error_string(info.rc)
        deadline = time.monotonic() + _PUBACK_WAIT_S
        while not info.is_published() and time.monotonic() < deadline:
            if self.shutdown.wait(0.05):
                return "stopping"
        return None if info.is_published() else "no PUBACK from the broker"

    def close(self) -> None:
        end_network(self._client, 1.0, "alerts mqtt stop")
