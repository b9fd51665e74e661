"""MQTT ingest stage: a QoS 1 subscriber that acknowledges only what the pipeline says.

The client id is fixed and the session persistent (clean session off), so the broker keeps
every message not yet acknowledged while the gateway is down, and sends it again later.
paho's automatic acknowledgement is off: :meth:`MqttIngest.ack` is called only after the
store committed the message's readings. The kits' retained status messages (and their Last
Wills) come in through the same subscription order, for the node directory::

    ingest = MqttIngest(settings, metrics)
    ingest.start()
    batch = ingest.take(max_messages=1000, wait=0.2)
    ...  # store the batch
    ingest.ack(batch)

Received messages wait in an :class:`Inbox` (a deque behind a Condition), not in a
``queue.SimpleQueue``: on CPython 3.11 ``SimpleQueue.get(timeout=…)`` interrupted by a signal
whose handler runs past the timeout recomputes a negative timeout and then blocks without
one, until the next message arrives (a gateway sent SIGTERM once stayed up three minutes;
tests/gateway/test_stop.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.mqtt_client import end_network, new_client
from lokaalmeten.outage import Outage
from lokaalmeten.protocol.topics import (
    readings_subscription,
    relay_subscription,
    status_subscription,
)
from lokaalmeten.settings import GatewaySettings
from lokaalmeten.shutdown import Shutdown

log = logging.getLogger("lokaalmeten.gateway")
_WAIT_SLICE = 0.1  # take() looks at its stop request at least this often


class Message(NamedTuple):
    """One MQTT message, as the pipeline takes it. A tuple: the MQTT process pickles
    thousands a second to the gateway, and a tuple pickles in a third of a dataclass's time."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: int  # epoch seconds, the gateway's clock
    retained: bool = False  # a copy the broker kept, sent at subscription (a status)


class Inbox:
    """Messages waiting for the pipeline: put by one thread, taken in batches by another;
    each batch taken is counted (``messages_received``), once per batch, to keep the
    receiving thread lean."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._messages: deque[Message] = deque()
        self._arrived = threading.Condition()
        # How many waiting messages wake a taker: 1 while it has none, and once it has some,
        # what fills its batch; it takes the rest when its wait ends. Waking it at every
        # message instead handed the interpreter lock back and forth once per message.
        self._wanted = 1
        self.metrics = metrics

    def put(self, messages: list[Message]) -> None:
        with self._arrived:
            self._messages.extend(messages)
            if len(self._messages) >= self._wanted:
                self._arrived.notify()

    def take(
        self,
        max_messages: int,
        wait: float,
        stop: Shutdown | None = None,
        first_wait: float | None = None,
    ) -> list[Message]:
        """Up to ``max_messages`` within ``wait`` seconds; with ``first_wait``, the wait for
        the first message may be longer (an idle loop wakes less often). Messages already
        waiting are taken at once, without waiting for more: a backlog is then batched by
        how fast the taker gets through it, and never waits beside a batch that is ready
        (which left the gateway's validating process idle 40 % of a backlog drain)."""
        batch: list[Message] = []
        started = time.monotonic()
        deadline = started + (wait if first_wait is None else max(wait, first_wait))
        messages = self._messages
        with self._arrived:
            ready = bool(messages)
            while True:
                while messages and len(batch) < max_messages:
                    if not batch and first_wait is not None:
                        deadline = min(deadline, time.monotonic() + wait)
                    batch.append(messages.popleft())
                remaining = deadline - time.monotonic()
                if ready or len(batch) >= max_messages or remaining <= 0:
                    break
                if stop is not None and stop.is_set():
                    break
                self._wanted = max_messages - len(batch) if batch else 1
                self._arrived.wait(min(remaining, _WAIT_SLICE))
            self._wanted = 1
        if batch:
            self.metrics.add("messages_received", len(batch))
        return batch

    def wake(self) -> None:
        with self._arrived:
            self._arrived.notify_all()


class MqttIngest:
    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._inbox = Inbox(metrics)
        address = settings.broker_address
        self._address = address
        client = new_client(settings.client_id, address, clean_session=False, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        # What the gateway subscribes to (QoS 1), in the order the SUBACK answers.
        self._topics = (
            readings_subscription(settings.topic_prefix),
            status_subscription(settings.topic_prefix),
            relay_subscription(settings.topic_prefix),
        )
        self.connected = False
        self._stopping = False
        # No broker: said at once, then every 30 s while it lasts.
        self.outage = Outage(
            f"broker {settings.broker}", "the kits keep their readings meanwhile", log=log
        )

    def start(self) -> None:
        """Connect (retrying in the background if the broker is not up yet) and subscribe."""
        self._client.connect_async(self._address.host, self._address.port, keepalive=30)
        self._client.loop_start()

    def stop(self, timeout: float = 3.0) -> None:
        """Disconnect (acknowledgements already handed to paho go out first) and end paho's
        network thread, waiting ``timeout`` seconds at most: paho's own ``loop_stop`` waits
        for ever, and its thread is a daemon."""
        self._stopping = True
        if not end_network(self._client, timeout, "mqtt stop"):
            log.warning("the MQTT network thread did not end within %.1f s", timeout)

    def take(
        self,
        max_messages: int,
        wait: float,
        stop: Shutdown | None = None,
        first_wait: float | None = None,
    ) -> list[Message]:
        """Up to ``max_messages``, waiting at most ``wait`` seconds for the first and the rest
        (``first_wait``: longer for the first); at once (perhaps with none) when ``stop`` is
        requested."""
        return self._inbox.take(max_messages, wait, stop, first_wait)

    def wake(self) -> None:
        """End a take() that is waiting (not from a signal handler: this takes a lock)."""
        self._inbox.wake()

    def ack(self, batch: list[Message]) -> None:
        self.ack_ids([(message.mid, message.qos) for message in batch])

    def ack_ids(self, ids: list[tuple[int, int]]) -> None:
        """Acknowledge messages by (id, QoS), as another process names them."""
        # In arrival order: MQTT 3.1.1 (4.6) wants PUBACKs in the order of the PUBLISHes.
        for mid, qos in ids:
            if qos > 0:
                self._client.ack(mid, qos)

    # paho callbacks run on paho's network thread -----------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self.settings.broker, reason)
            return
        self.outage.ended()
        client.subscribe([(topic, 1) for topic in self._topics])
        resumed = "resumed session" if flags.session_present else "new session"
        log.info("connected to %s (%s)", self.settings.broker, resumed)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        properties: object,
    ) -> None:
        # Connected means receiving: only once the broker has the subscription (SUBACK) does
        # a message published now reach the gateway. Until then a first session has none.
        refused = [t for t, code in zip(self._topics, reasons, strict=False) if code.is_failure]
        if refused:
            log.error(
                "broker %s refused the subscription to %s (its ACL?); nothing arrives from "
                "there until the gateway may read it",
                self.settings.broker,
                " and ".join(refused),
            )
        self.connected = True
        log.info("subscribed to %s", ", ".join(self._topics))

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        was_connected, self.connected = self.connected, False
        if was_connected and not self._stopping:
            self.outage.failed(f"connection lost ({reason})")

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        if not self._stopping:
            self.outage.failed()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        message = Message(
            msg.topic, bytes(msg.payload), msg.mid, msg.qos, int(time.time()), bool(msg.retain)
        )
        self._inbox.put([message])
