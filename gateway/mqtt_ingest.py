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
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.protocol.topics import readings_subscription, status_subscription
from lokaalmeten.settings import GatewaySettings

log = logging.getLogger("lokaalmeten.gateway")
UNREACHABLE_WARNING_S = 30.0  # how often an outage of the broker is told again


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: int  # epoch seconds, the gateway's clock
    retained: bool = False  # a copy the broker kept, sent at subscription (a status)


class MqttIngest:
    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        address = settings.broker_address
        self._address = address
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=False,
            manual_ack=True,
        )
        if address.username is not None:
            client.username_pw_set(address.username, address.password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        self._client = client
        self.connected = False
        self._stopping = False
        self._unreachable_since = 0.0  # the first failed attempt of this outage, or 0
        self._warned = 0.0

    def start(self) -> None:
        """Connect (retrying in the background if the broker is not up yet) and subscribe."""
        self._client.connect_async(self._address.host, self._address.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()

    def take(self, max_messages: int, wait: float) -> list[Message]:
        """Up to ``max_messages``, waiting at most ``wait`` seconds for the first and the rest."""
        batch: list[Message] = []
        deadline = time.monotonic() + wait
        while len(batch) < max_messages:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    batch.append(self._inbox.get_nowait())
                else:
                    batch.append(self._inbox.get(timeout=remaining))
            except queue.Empty:
                break
        if batch:
            # Counted here, once per batch, to keep paho's network thread lean.
            self.metrics.add("messages_received", len(batch))
        return batch

    def ack(self, batch: list[Message]) -> None:
        # In arrival order: MQTT 3.1.1 (4.6) wants PUBACKs in the order of the PUBLISHes.
        for message in batch:
            if message.qos > 0:
                self._client.ack(message.mid, message.qos)

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
        self.connected = True
        self._unreachable_since = 0.0
        readings = readings_subscription(self.settings.topic_prefix)
        statuses = status_subscription(self.settings.topic_prefix)
        client.subscribe([(readings, 1), (statuses, 1)])
        resumed = "resumed session" if flags.session_present else "new session"
        log.info(
            "connected to %s (%s), subscribed to %s and %s",
            self.settings.broker,
            resumed,
            readings,
            statuses,
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        if self.connected and not self._stopping:
            log.warning("lost the broker (%s); reconnecting", reason)
        self.connected = False

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        """No broker: said at once, then every 30 s while it lasts (the kits keep their
        readings in their outboxes meanwhile)."""
        now = time.monotonic()
        if not self._unreachable_since:
            self._unreachable_since = now
        if now - self._warned >= UNREACHABLE_WARNING_S:
            self._warned = now
            log.warning(
                "broker %s unreachable for %.0f s; retrying (the kits keep their readings "
                "meanwhile)",
                self.settings.broker,
                now - self._unreachable_since,
            )

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        self._inbox.put(
            Message(msg.topic, payload, msg.mid, msg.qos, int(time.time()), bool(msg.retain))
        )
