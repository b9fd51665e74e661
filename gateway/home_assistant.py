"""Optional output: a kit's latest readings in its owner's Home Assistant, without a cloud.

For each kit whose owner chose it (``lokaalmeten forward add NODE homeassistant``) the
gateway publishes Home Assistant's MQTT discovery messages, one sensor per quantity the kit
measures, and the latest value of each, to the broker Home Assistant's MQTT integration
reads (the gateway's own Mosquitto, or Home Assistant's)::

    lokaalmeten gateway --extra-store "homeassistant+mqtt://gateway:<token>@127.0.0.1:1883/"

- discovery (retained): ``homeassistant/sensor/<node>/<quantity>/config``, the documented
  sensor fields (https://www.home-assistant.io/integrations/sensor.mqtt/): ``name``,
  ``unique_id``, ``state_topic``, ``unit_of_measurement``, ``device_class`` where Home
  Assistant has one for the quantity, ``state_class: measurement``, ``availability`` from
  the kit's own status topic, ``device`` (one per kit) and ``origin``;
- state (retained): ``lokaalmeten/<node>/latest/<quantity>``, the value as text.

Discovery is sent again with a kit's next readings when Home Assistant says it started
(``online`` on ``homeassistant/status``). An empty retained config removes a kit's sensors
when its owner's choice is withdrawn (found from the retained configs the broker holds, so
also after a restart of the gateway). Readings with a quality flag that leaves them out of
aggregates are not shown. A write returns once the broker acknowledged every state message
(QoS 1); the broker out of reach is an outage the writer waits out.

Options: ``discovery`` (the discovery prefix, default ``homeassistant``), ``prefix`` (the
kits' topic prefix, default ``lokaalmeten``), ``refresh`` (seconds between readings of the
owners' choices, default 10).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import paho.mqtt.client as mqtt

from lokaalmeten import __version__
from lokaalmeten.gateway.opt_ins import REFRESH_S, OptIns
from lokaalmeten.gateway.writer import Output
from lokaalmeten.mqtt_client import Message, Publisher
from lokaalmeten.protocol.topics import DEFAULT_PREFIX, status_topic
from lokaalmeten.readings import EXCLUDED_FROM_AGGREGATES, Reading
from lokaalmeten.settings import BrokerAddress, parse_broker_url
from lokaalmeten.store import StoreError, WriteResult

log = logging.getLogger("lokaalmeten.gateway")

TARGET = "homeassistant"
# Our quantity -> (Home Assistant's sensor device class or None, its unit string). Home
# Assistant checks a device class's unit against its own list: "dBA", not our "dB(A)".
HA_SENSORS: dict[str, tuple[str | None, str]] = {
    "pm1": ("pm1", "µg/m³"),
    "pm25": ("pm25", "µg/m³"),
    "pm4": (None, "µg/m³"),  # Home Assistant has no class for PM4
    "pm10": ("pm10", "µg/m³"),
    "temperature": ("temperature", "°C"),
    "humidity": ("humidity", "%"),
    "pressure": ("atmospheric_pressure", "hPa"),
    "co2": ("carbon_dioxide", "ppm"),
    "noise_laeq": ("sound_pressure", "dBA"),
    "noise_lamin": ("sound_pressure", "dBA"),
    "noise_lamax": ("sound_pressure", "dBA"),
    "noise_la10": ("sound_pressure", "dBA"),
    "noise_la90": ("sound_pressure", "dBA"),
}
NAMES = {
    "pm1": "PM1",
    "pm25": "PM2.5",
    "pm4": "PM4",
    "pm10": "PM10",
    "temperature": "Temperature",
    "humidity": "Humidity",
    "pressure": "Pressure",
    "co2": "CO2",
    "noise_laeq": "Noise LAeq",
    "noise_lamin": "Noise LAFmin",
    "noise_lamax": "Noise LAFmax",
    "noise_la10": "Noise LAF10",
    "noise_la90": "Noise LAF90",
}
_UNIQUE = "lokaalmeten_"  # every unique_id of ours starts so
_PUBACK_WAIT_S = 30.0


def discovery(
    node: str, quantity: str, name: str, firmware: str, prefix: str = DEFAULT_PREFIX
) -> dict[str, Any]:
    """The discovery config of one kit's sensor of one quantity."""
    device_class, unit = HA_SENSORS[quantity]
    config: dict[str, Any] = {
        "name": NAMES[quantity],
        "unique_id": f"{_UNIQUE}{node}_{quantity}",
        "state_topic": latest_topic(node, quantity, prefix),
        "unit_of_measurement": unit,
        "state_class": "measurement",
        "availability": [
            {
                "topic": status_topic(node, prefix),
                "value_template": "{{ value_json.state }}",
                "payload_available": "online",
                "payload_not_available": "offline",
            }
        ],
        "device": {
            "identifiers": [f"{_UNIQUE}{node}"],
            "name": name or node,
            "manufacturer": "lokaalmeten",
            "model": "lokaalmeten kit",
            **({"sw_version": firmware} if firmware else {}),
        },
        "origin": {"name": "lokaalmeten gateway", "sw_version": __version__},
    }
    if device_class is not None:
        config["device_class"] = device_class
    return config


def config_topic(node: str, quantity: str, discovery_prefix: str = "homeassistant") -> str:
    return f"{discovery_prefix}/sensor/{node}/{quantity}/config"


def latest_topic(node: str, quantity: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/{node}/latest/{quantity}"


class HomeAssistantPublisher:
    """A write-only output of the gateway: discovery and latest values for Home Assistant."""

    def __init__(
        self,
        address: BrokerAddress,
        chosen: OptIns,
        *,
        discovery_prefix: str = "homeassistant",
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.chosen = chosen  # ... and, from the same directory, the kits' names
        self.discovery_prefix = discovery_prefix
        self.prefix = prefix
        self.url = f"homeassistant+mqtt://{address.host}:{address.port}/{discovery_prefix}"
        self._lock = threading.Lock()
        self._announced: set[tuple[str, str]] = set()  # (node, quantity) configs sent
        self._seen: set[tuple[str, str]] = set()  # ... and all sensors of ours the broker has
        self._latest: dict[tuple[str, str], int] = {}  # time of the value shown
        where = f"Home Assistant's broker {address.host}:{address.port}"
        self._broker = Publisher(
            f"lokaalmeten-homeassistant-{prefix}", address, where, after_connect=self._subscribe
        )
        self._broker.client.on_message = self._on_message

    # -- broker events (paho's thread) ---------------------------------------------------

    def _subscribe(self, client: mqtt.Client) -> None:
        with self._lock:
            self._announced.clear()  # a broker without persistence may have lost them
        client.subscribe(
            [
                (f"{self.discovery_prefix}/status", 1),
                (f"{self.discovery_prefix}/sensor/+/+/config", 1),
            ]
        )

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic == f"{self.discovery_prefix}/status":
            if message.payload == b"online":  # Home Assistant (re)started: announce again
                with self._lock:
                    self._announced.clear()
            return
        parts = message.topic.split("/")
        if len(parts) != 5 or not message.payload:
            return
        try:
            unique = json.loads(message.payload).get("unique_id", "")
        except (ValueError, AttributeError):
            return
        if isinstance(unique, str) and unique == f"{_UNIQUE}{parts[2]}_{parts[3]}":
            with self._lock:
                self._seen.add((parts[2], parts[3]))

    # -- the output ----------------------------------------------------------------------

    def ping(self) -> None:
        self._broker.ping()

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        self.ping()
        chosen = self.chosen.current()
        newest: dict[tuple[str, str], Reading] = {}
        for reading in readings:
            key = (reading.node, reading.quantity)
            if (
                reading.node in chosen
                and reading.quantity in HA_SENSORS
                and not reading.flags & EXCLUDED_FROM_AGGREGATES
                and reading.time >= self._latest.get(key, 0)
                and (key not in newest or reading.time >= newest[key].time)
            ):
                newest[key] = reading
        with self._lock:
            gone = sorted(key for key in self._seen if key[0] not in chosen)
            due = sorted(set(newest) - self._announced)
        messages: list[Message] = [
            (config_topic(n, q, self.discovery_prefix), b"", True) for n, q in gone
        ]
        messages += self._announcements(due)
        messages += [
            (latest_topic(node, quantity, self.prefix), f"{reading.value:g}", True)
            for (node, quantity), reading in sorted(newest.items())
        ]
        self._broker.publish_all(messages, _PUBACK_WAIT_S)
        # Only what the broker acknowledged counts as done; a batch that failed is sent again.
        with self._lock:
            self._seen.difference_update(gone)
            self._announced.difference_update(gone)
            self._announced.update(due)
            self._seen.update(due)
        for node, quantity in gone:
            self._latest.pop((node, quantity), None)
            log.info("Home Assistant: %s's %s sensor removed (its owner's choice)", node, quantity)
        for key, reading in newest.items():
            self._latest[key] = reading.time
        return WriteResult(received=len(readings), stored=len(newest))

    def _announcements(self, due: list[tuple[str, str]]) -> list[Message]:
        """The discovery configs of these (node, quantity) sensors, named from the directory."""
        reader = self.chosen.reader
        entries = reader.entries() if reader is not None and due else {}
        messages: list[Message] = []
        for node, quantity in due:
            entry = entries.get(node)
            config = discovery(
                node,
                quantity,
                entry.name if entry else "",
                entry.firmware if entry else "",
                self.prefix,
            )
            messages.append(
                (config_topic(node, quantity, self.discovery_prefix), json.dumps(config), True)
            )
        return messages

    def close(self) -> None:
        if not self._broker.close("homeassistant mqtt stop"):
            log.warning("the Home Assistant MQTT network thread did not end within 2 s")
        self.chosen.close()


def open_output(url: str, registry: Path | None = None) -> Output:
    """``homeassistant+mqtt://[user:password@]host[:port]/[?discovery=…&prefix=…]``."""
    parts = urlsplit(url)
    if parts.scheme != "homeassistant+mqtt" or not parts.hostname:
        raise StoreError(f"{url!r}: write homeassistant+mqtt://[user:password@]host[:1883]/")
    if registry is None:
        raise StoreError(f"{url!r}: the kits to show are chosen in the registry's directory")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        address = parse_broker_url(f"mqtt://{parts.netloc}")
        refresh = float(options.get("refresh", REFRESH_S))
    except ValueError:
        raise StoreError(f"{url!r}: the port and refresh must be numbers") from None
    return HomeAssistantPublisher(
        address,
        OptIns(registry, TARGET, refresh),
        discovery_prefix=options.get("discovery", "homeassistant"),
        prefix=options.get("prefix", DEFAULT_PREFIX),
    )
