"""The gateway's MQTT clients (ingest, alerts, firmware offers, the upstream relay), made and
ended in one way::

    client = new_client("lokaalmeten-gateway-alerts", settings.broker_address)
    client.connect_async(address.host, address.port, keepalive=30)
    client.loop_start()
    ...
    end_network(client, timeout=1.0, name="alerts mqtt stop")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from lokaalmeten.settings import BrokerAddress
from lokaalmeten.store import StoreError


def new_client(
    client_id: str,
    address: BrokerAddress,
    *,
    clean_session: bool = True,
    manual_ack: bool = False,
    tls: bool = False,
) -> mqtt.Client:
    """A paho client signed in with the address's account, reconnecting from 1 s to 30 s;
    ``tls``: the broker's certificate checked against the system's authorities."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        manual_ack=manual_ack,
    )
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if tls:
        client.tls_set()
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def end_network(client: mqtt.Client, timeout: float, name: str) -> bool:
    """Disconnect and end paho's network thread, waiting ``timeout`` seconds at most: paho's
    own ``loop_stop`` can wait for ever, and its thread is a daemon. False: it did not end."""
    client.disconnect()
    ender = threading.Thread(target=client.loop_stop, name=name, daemon=True)
    ender.start()
    ender.join(timeout)
    return not ender.is_alive()


Message = tuple[str, bytes | str, bool]  # topic, payload, retained


class Publisher:
    """A client that publishes with QoS 1 and waits for the broker's PUBACKs, for the
    gateway's MQTT outputs (the upstream relay, Home Assistant). Connects at its first use,
    in the background, and again after a loss: the gateway opens every output in its own
    process too (for its name), and a connection made there as well took the client id
    from the writer process's, each closing the other's every second.
    ``after_connect(client)`` runs at each connection (to subscribe). ``where`` names the
    broker in errors, never its account."""

    def __init__(
        self,
        client_id: str,
        address: BrokerAddress,
        where: str,
        *,
        tls: bool = False,
        after_connect: Callable[[mqtt.Client], None] | None = None,
    ) -> None:
        self.where = where
        self.refused: str | None = None  # why the broker refused the account, if it did
        self._after_connect = after_connect
        self._connected = threading.Event()
        self.client = new_client(client_id, address, tls=tls)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self._connected.clear()
        self._address = address
        self._started = False
        self._starting = threading.Lock()

    def _start(self) -> None:
        with self._starting:
            if not self._started:
                self.client.connect_async(self._address.host, self._address.port, keepalive=30)
                self.client.loop_start()
                self._started = True

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, code: ReasonCode, props: object
    ) -> None:
        if code.is_failure:
            self.refused = str(code)
            return
        self.refused = None
        if self._after_connect is not None:
            self._after_connect(client)
        self._connected.set()

    def ping(self, wait: float = 1.0) -> None:
        """Raises StoreError unless connected (within ``wait`` seconds)."""
        self._start()
        if not self._connected.wait(wait):
            refused = f" (it refused the account: {self.refused})" if self.refused else ""
            raise StoreError(f"cannot reach {self.where}{refused}")

    def publish_all(self, messages: Sequence[Message], timeout: float) -> None:
        """Publish (topic, payload, retain) messages and return once the broker acknowledged
        every one; raises StoreError when it did not within ``timeout`` seconds. Nothing is
        handed to paho while the link is down: it would keep every retried batch in memory
        and send them all once the link is back."""
        self.ping()
        infos = []
        for topic, payload, retain in messages:
            info = self.client.publish(topic, payload, qos=1, retain=retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise StoreError(f"{self.where}: {mqtt.error_string(info.rc)}")
            infos.append(info)
        deadline = time.monotonic() + timeout
        for info in infos:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as exc:
                raise StoreError(f"{self.where}: {exc}") from None
            if not info.is_published():
                done = sum(1 for i in infos if i.is_published())
                raise StoreError(
                    f"{self.where} acknowledged {done} of {len(infos)} messages within "
                    f"{timeout:.0f} s; they are sent again"
                )

    def close(self, name: str) -> bool:
        """End the connection, if one was started; False: paho's thread did not end."""
        with self._starting:
            started, self._started = self._started, True  # never started after this
        return end_network(self.client, 2.0, name) if started else True
