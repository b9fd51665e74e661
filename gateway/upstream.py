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
readings go as they were stored here, quality flags included (lokaalmeten/protocol/relay.py),
and with them what this gateway's public page says of their kits (name, description,
interval, siting, the place rounded to ``decimals`` unless the owner chose exact), when that
changed and once an hour: the city's directory keeps it as the kits' entry.

Options: ``relay`` (the relay's name; default the user name), ``prefix`` (the upstream's topic
prefix, default ``lokaalmeten``), ``timeout`` (seconds, default 30), ``decimals`` (default 3,
as the server's ``location_decimals``); ``upstream+mqtts://`` checks the broker's TLS
certificate (port 8883 by default).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.gateway.writer import Output
from lokaalmeten.mqtt_client import Publisher
from lokaalmeten.node_meta import NodeMeta, public_place
from lokaalmeten.protocol.relay import BATCH_READINGS, RelayedKit, encode_batch
from lokaalmeten.protocol.schema import NODE_ID_PATTERN
from lokaalmeten.protocol.topics import DEFAULT_PREFIX, relay_topic
from lokaalmeten.readings import Reading
from lokaalmeten.settings import BrokerAddress, parse_broker_url
from lokaalmeten.store import StoreError, WriteResult

log = logging.getLogger("lokaalmeten.gateway")
_METAS_REFRESH_S = 10.0  # how often the directory is read for the kits' public entries
_RETELL_S = 3600.0  # an entry told is told again after this, changed or not
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
        directory: DirectoryReader | None = None,
        decimals: int = 3,
    ) -> None:
        """``directory``: this gateway's node directory, whose public entries of the kits
        relayed go along (places rounded to ``decimals`` unless the owner chose exact)."""
        self.relay = relay
        self.topic = relay_topic(relay, prefix)
        self.timeout = timeout
        # Named without the account: the URL carries the relay's token.
        scheme = "upstream+mqtts" if tls else "upstream+mqtt"
        self.url = f"{scheme}://{address.host}:{address.port}/{self.topic}"
        where = f"the upstream broker {address.host}:{address.port}"
        self._broker = Publisher(f"lokaalmeten-relay-{relay}", address, where, tls=tls)
        self.directory = directory
        self.decimals = decimals
        self._metas: dict[str, NodeMeta] = {}
        self._metas_read = -_METAS_REFRESH_S
        self._told: dict[str, tuple[RelayedKit, float]] = {}  # what the city was told, when

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
        kits = self._news({reading.node for reading in readings})
        batches = [
            (
                self.topic,
                encode_batch(
                    self.relay,
                    readings[start : start + BATCH_READINGS],
                    kits if start == 0 else None,
                ),
                False,
            )
            for start in range(0, len(readings), BATCH_READINGS)
        ]
        self._broker.publish_all(batches, self.timeout)
        now = time.monotonic()
        self._told.update({node: (kit, now) for node, kit in kits.items()})
        return WriteResult(received=len(readings), stored=len(readings))

    def _news(self, nodes: set[str]) -> dict[str, RelayedKit]:
        """The public entries of these kits the city has not been told (or not for an
        hour: it may have lost them)."""
        if self.directory is None:
            return {}
        now = time.monotonic()
        if now - self._metas_read >= _METAS_REFRESH_S:
            self._metas, self._metas_read = self.directory.metas(), now
        news = {}
        for node in sorted(nodes):
            meta = self._metas.get(node)
            if meta is None:
                continue
            kit = relayed_kit(meta, self.decimals)
            told = self._told.get(node)
            if told is None or told[0] != kit or now - told[1] >= _RETELL_S:
                news[node] = kit
        return news

    def close(self) -> None:
        if not self._broker.close("upstream mqtt stop"):
            log.warning("the upstream MQTT network thread did not end within 2 s")
        if self.directory is not None:
            self.directory.close()


def relayed_kit(meta: NodeMeta, decimals: int) -> RelayedKit:
    """What the neighbourhood's public page says of a kit, for the city's."""
    place = public_place(meta, decimals)
    return RelayedKit(
        name=meta.name,
        description=meta.description,
        interval=meta.interval,
        latitude=None if place is None else place.latitude,
        longitude=None if place is None else place.longitude,
        exact=place is not None and meta.exact,
        indoor=meta.indoor,
        height_m=meta.height_m,
    )


def open_forwarder(url: str, registry: Path | None = None) -> UpstreamForwarder:
    """``upstream+mqtt[s]://relay:token@host[:port]/[?relay=…&prefix=…&timeout=…]``."""
    parts = urlsplit(url)
    transport = parts.scheme.removeprefix("upstream+")
    if transport not in ("mqtt", "mqtts") or not parts.hostname:
        raise StoreError(f"{url!r}: {_USAGE}")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        address = parse_broker_url(f"mqtt://{parts.netloc}")
        timeout = float(options.get("timeout", "30"))
        decimals = int(options.get("decimals", "3"))
    except ValueError:
        raise StoreError(f"{url!r}: the port, timeout and decimals must be numbers") from None
    if transport == "mqtts" and parts.port is None:
        address = replace(address, port=8883)
    relay = options.get("relay", address.username or "")
    if not relay:
        raise StoreError(f"{url!r}: name the relay (the user name, or ?relay=…); {_USAGE}")
    if not re.match(NODE_ID_PATTERN, relay):
        raise StoreError(f"{url!r}: {relay!r} is not a relay name (a-z, 0-9, '-', '_')")
    return UpstreamForwarder(
        address,
        relay,
        prefix=options.get("prefix", DEFAULT_PREFIX),
        tls=transport == "mqtts",
        timeout=timeout,
        directory=DirectoryReader(registry) if registry is not None else None,
        decimals=decimals,
    )


def open_output(url: str, registry: Path | None = None) -> Output:
    """The relay as one of the gateway's outputs (registered in gateway/outputs.py): every
    kit, with its public entry from ``registry``'s node directory."""
    return open_forwarder(url, registry)
