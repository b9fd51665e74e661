"""Optional output: relay every stored reading to an upstream gateway (a city's), over MQTT.

A neighbourhood gateway names the upstream broker as one more store::

    lokaalmeten gateway --extra-store "upstream+mqtt://lombok:<token>@stad.example.nl:1883/"

and the city gateway registers it with ``lokaalmeten nodes add lombok --relay``, which lets
that account write only ``<prefix>/lombok/relay``. Any MQTT broker will do upstream (Mosquitto,
an EMQX cluster): the city gateway subscribes there as it does for kits.

The guarantee is the one of every store: this output has its own spool cursor, and a write
returns (so the cursor moves) only once the upstream broker has acknowledged every message
of the batch (QoS 1 PUBACK); the broker keeps them in the city gateway's persistent session
until that gateway has them in its own spool. A batch not acknowledged within ``timeout``
seconds, or a broker out of reach, is an outage: the readings wait in this spool and are
sent again, and the city gateway stores a reading sent twice once (its identity). The
readings go as they were stored here, quality flags included (lokaalmeten/protocol/relay.py).

Options: ``relay`` (the relay's name; default the user name), ``prefix`` (the upstream's topic
prefix, default ``lokaalmeten``), ``timeout`` (seconds, default 30); ``upstream+mqtts://``
checks the broker's TLS certificate (port 8883 by default).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from lokaalmeten.gateway.writer import Output
from lokaalmeten.mqtt_client import Publisher
from lokaalmeten.protocol.relay import BATCH_READINGS, encode_batch
from lokaalmeten.protocol.schema import NODE_ID_PATTERN
from lokaalmeten.protocol.topics import DEFAULT_PREFIX, relay_topic
from lokaalmeten.readings import Reading
from lokaalmeten.settings import BrokerAddress
from lokaalmeten.store import StoreError, WriteResult

log = logging.getLogger("lokaalmeten.gateway")
_USAGE = "write upstream+mqtt://<relay>:<token>@<city broker>[:1883]/[?relay=…&prefix=…]"


class UpstreamForwarder:
    """A write-only output of the gateway: its readings, batch by batch, to the upstream."""

    def __init__(
        self,
        address: BrokerAddress,
        relay: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        tls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.relay = relay
        self.topic = relay_topic(relay, prefix)
        self.timeout = timeout
        # Named without the account: the URL carries the relay's token.
        scheme = "upstream+mqtts" if tls else "upstream+mqtt"
        self.url = f"{scheme}://{address.host}:{address.port}/{self.topic}"
        where = f"the upstream broker {address.host}:{address.port}"
        self._broker = Publisher(f"lokaalmeten-relay-{relay}", address, where, tls=tls)

    def ping(self) -> None:
        """Raises StoreError while the upstream is out of reach (the writer asks during an
        outage, so that its end is noticed without a batch to send)."""
        try:
            self._broker.ping()
        except StoreError as exc:
            if self._broker.refused is None:
                raise
            raise StoreError(
                f"{exc}; is the relay {self.relay} registered there with this token "
                f"(lokaalmeten nodes add {self.relay} --relay)?"
            ) from None

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        self.ping()
        batches = [
            (self.topic, encode_batch(self.relay, readings[start : start + BATCH_READINGS]), False)
            for start in range(0, len(readings), BATCH_READINGS)
        ]
        self._broker.publish_all(batches, self.timeout)
        return WriteResult(received=len(readings), stored=len(readings))

    def close(self) -> None:
        if not self._broker.close("upstream mqtt stop"):
            log.warning("the upstream MQTT network thread did not end within 2 s")


def open_forwarder(url: str) -> UpstreamForwarder:
    """``upstream+mqtt[s]://relay:token@host[:port]/[?relay=…&prefix=…&timeout=…]``."""
    parts = urlsplit(url)
    transport = parts.scheme.removeprefix("upstream+")
    if transport not in ("mqtt", "mqtts") or not parts.hostname:
        raise StoreError(f"{url!r}: {_USAGE}")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    user = unquote(parts.username) if parts.username else None
    relay = options.get("relay", user or "")
    if not relay:
        raise StoreError(f"{url!r}: name the relay (the user name, or ?relay=…); {_USAGE}")
    if not re.match(NODE_ID_PATTERN, relay):
        raise StoreError(f"{url!r}: {relay!r} is not a relay name (a-z, 0-9, '-', '_')")
    try:
        port = parts.port or (8883 if transport == "mqtts" else 1883)
        timeout = float(options.get("timeout", "30"))
    except ValueError:
        raise StoreError(f"{url!r}: the port and timeout must be numbers") from None
    password = unquote(parts.password) if parts.password else None
    address = BrokerAddress(parts.hostname, port, user, password)
    return UpstreamForwarder(
        address,
        relay,
        prefix=options.get("prefix", DEFAULT_PREFIX),
        tls=transport == "mqtts",
        timeout=timeout,
    )


def open_output(url: str, registry: Path | None = None) -> Output:
    """The relay as one of the gateway's outputs (registered in gateway/outputs.py); it
    relays every kit, so the owners' choices in ``registry`` are not read."""
    return open_forwarder(url)
