"""Home Assistant without a cloud: discovery messages and latest values on the local broker
for the kits whose owners chose it (gateway/home_assistant.py).

Home Assistant cannot run here; what it reads is checked against its documented MQTT
sensor discovery fields (https://www.home-assistant.io/integrations/sensor.mqtt/,
https://www.home-assistant.io/integrations/sensor/#device-class): the schema below is
written from those pages, not from our code.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastjsonschema
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.gateway.directory import Directory, Edit
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.store import StoreError
from tests.gateway.harness import RunningGateway, publish, settings_for
from tests.helpers import wait_until

pytestmark = pytest.mark.mosquitto

NODE, OTHER = "esp32-0a1b2c", "esp32-999999"
# Home Assistant's sensor device classes and the units each accepts, from its documentation
# (only the classes a measuring kit can need are listed; any other class fails the test).
UNITS_BY_CLASS = {
    "pm1": {"µg/m³"},
    "pm25": {"µg/m³"},
    "pm10": {"µg/m³"},
    "temperature": {"°C", "°F", "K"},
    "humidity": {"%"},
    "atmospheric_pressure": {"cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi"},
    "carbon_dioxide": {"ppm"},
    "sound_pressure": {"dB", "dBA"},
}
_TOPIC = {"type": "string", "minLength": 1, "pattern": "^[^#+]+$"}
HA_MQTT_SENSOR = fastjsonschema.compile(
    {
        "type": "object",
        "required": ["state_topic", "unique_id", "name", "device"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": ["string", "null"]},
            "unique_id": {"type": "string", "minLength": 1},
            "object_id": {"type": "string"},
            "state_topic": _TOPIC,
            "value_template": {"type": "string"},
            "unit_of_measurement": {"type": "string"},
            "device_class": {"enum": sorted(UNITS_BY_CLASS)},
            "state_class": {"enum": ["measurement", "total", "total_increasing"]},
            "expire_after": {"type": "integer", "minimum": 0},
            "suggested_display_precision": {"type": "integer", "minimum": 0},
            "availability": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["topic"],
                    "additionalProperties": False,
                    "properties": {
                        "topic": _TOPIC,
                        "value_template": {"type": "string"},
                        "payload_available": {"type": "string"},
                        "payload_not_available": {"type": "string"},
                    },
                },
            },
            "device": {
                "type": "object",
                "anyOf": [{"required": ["identifiers"]}, {"required": ["connections"]}],
                "additionalProperties": False,
                "properties": {
                    "identifiers": {"type": ["array", "string"]},
                    "connections": {"type": "array"},
                    "name": {"type": "string"},
                    "manufacturer": {"type": "string"},
                    "model": {"type": "string"},
                    "model_id": {"type": "string"},
                    "sw_version": {"type": "string"},
                    "hw_version": {"type": "string"},
                    "serial_number": {"type": "string"},
                    "suggested_area": {"type": "string"},
                    "configuration_url": {"type": "string"},
                    "via_device": {"type": "string"},
                },
            },
            "origin": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "sw_version": {"type": "string"},
                    "support_url": {"type": "string"},
                },
            },
        },
    }
)


class HomeAssistantStandIn:
    """What Home Assistant's MQTT integration sees: the retained discovery configs and
    state values, with a count of how often each config came."""

    def __init__(self, broker: Mosquitto, account: tuple[str, str]) -> None:
        self.retained: dict[str, bytes] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ha-{time.time()}")
        self.client.username_pw_set(*account)
        self.client.on_message = self._message
        self.client.on_connect = lambda c, *_: c.subscribe(
            [("homeassistant/#", 1), ("lokaalmeten/+/latest/+", 1)]
        )
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def _message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.counts[message.topic] = self.counts.get(message.topic, 0) + 1
            if message.payload:
                self.retained[message.topic] = bytes(message.payload)
            else:
                self.retained.pop(message.topic, None)

    def configs(self, node: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                topic.split("/")[3]: json.loads(payload)
                for topic, payload in self.retained.items()
                if topic.startswith(f"homeassistant/sensor/{node}/") and topic.endswith("/config")
            }

    def value(self, topic: str) -> str | None:
        with self._lock:
            payload = self.retained.get(topic)
        return None if payload is None else payload.decode()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker_and_accounts(tmp_path: Path) -> Iterator[tuple[Mosquitto, dict[str, str]]]:
    """The gateway's broker with the ACL it writes: the gateway and Home Assistant sign in
    with gateway accounts, the kits with their own."""
    registry = Registry(tmp_path / "registry.db")
    tokens = {name: registry.add(name, role="gateway") for name in ("gateway", "homeassistant")}
    tokens |= {node: registry.add(node) for node in (NODE, OTHER)}
    passwd, acl = registry.write_mosquitto_files(tmp_path / "broker")
    registry.close()
    broker = Mosquitto.start(tmp_path / "broker", auth=(passwd, acl))
    yield broker, tokens
    broker.stop()


def _gateway(broker: Mosquitto, tokens: dict[str, str], folder: Path) -> RunningGateway:
    local = f"127.0.0.1:{broker.port}"
    output = f"homeassistant+mqtt://gateway:{tokens['gateway']}@{local}/?refresh=0.2"
    settings = settings_for(broker, folder, extra_stores=[output]).model_copy(
        update={"broker": f"mqtt://gateway:{tokens['gateway']}@{local}"}
    )
    return RunningGateway(Gateway(settings))


class Kits:
    def __init__(self, broker: Mosquitto, tokens: dict[str, str]) -> None:
        self.clients = {}
        for node in (NODE, OTHER):
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=node)
            client.username_pw_set(node, tokens[node])
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            self.clients[node] = client
        for client in self.clients.values():
            wait_until(client.is_connected, 10, "the kits to connect")
        self.seq = 0

    def send(self, node: str, **values: float) -> None:
        self.seq += 1
        moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 100 + self.seq))
        doc = {"v": 1, "node": node, "seq": self.seq, "time": moment, "values": values}
        publish(self.clients[node], f"lokaalmeten/{node}/readings", json.dumps(doc).encode())

    def online(self, node: str) -> None:
        status = json.dumps({"v": 1, "state": "online", "fw": "0.2.1"}).encode()
        info = self.clients[node].publish(f"lokaalmeten/{node}/status", status, qos=1, retain=True)
        info.wait_for_publish(5)

    def close(self) -> None:
        for client in self.clients.values():
            client.loop_stop()
            client.disconnect()


def test_a_chosen_kit_appears_in_home_assistant_and_leaves_when_withdrawn(
    tmp_path: Path, broker_and_accounts: tuple[Mosquitto, dict[str, str]]
) -> None:
    broker, tokens = broker_and_accounts
    directory = Directory(tmp_path / "registry.db")
    directory.edit(NODE, Edit(name="Balkon Lombok"))
    directory.forward(NODE, "homeassistant", {})
    running = _gateway(broker, tokens, tmp_path)
    ha = HomeAssistantStandIn(broker, ("homeassistant", tokens["homeassistant"]))
    kits = Kits(broker, tokens)
    try:
        kits.online(NODE)
        values = {"pm25": 7.5, "pm10": 12.0, "temperature": 11.25, "humidity": 81.0}
        kits.send(NODE, **values, pressure=1013.2, noise_laeq=54.5)
        kits.send(OTHER, pm25=3.0)
        wait_until(lambda: len(ha.configs(NODE)) == 6, 15, "six sensors discovered")
        configs = ha.configs(NODE)
        for quantity, config in configs.items():
            HA_MQTT_SENSOR(config)
            assert config["unit_of_measurement"] in UNITS_BY_CLASS[config["device_class"]]
            assert config["device"]["name"] == "Balkon Lombok"
            assert config["unique_id"].endswith(f"{NODE}_{quantity}")
            # What Home Assistant shows as the state: the value sent, at the state topic.
            state_topic = config["state_topic"]
            wait_until(lambda: ha.value(state_topic) is not None, 10, "a state")  # noqa: B023
        assert {c["device_class"] for c in configs.values()} == {
            "pm25",
            "pm10",
            "temperature",
            "humidity",
            "atmospheric_pressure",
            "sound_pressure",
        }
        assert configs["noise_laeq"]["unit_of_measurement"] == "dBA"
        assert ha.value(configs["temperature"]["state_topic"]) == "11.25"
        (availability,) = configs["pm25"]["availability"]
        assert availability["topic"] == f"lokaalmeten/{NODE}/status"
        assert ha.configs(OTHER) == {}  # its owner did not choose it
        # A newer value replaces the shown one; Home Assistant's restart gets discovery again.
        config_topic = f"homeassistant/sensor/{NODE}/pm25/config"
        before = ha.counts[config_topic]
        ha.client.publish("homeassistant/status", b"online", qos=1).wait_for_publish(5)
        time.sleep(0.3)
        kits.send(NODE, pm25=8.5)
        wait_until(lambda: ha.value(configs["pm25"]["state_topic"]) == "8.5", 10, "new PM2.5")
        wait_until(lambda: ha.counts[config_topic] > before, 10, "discovery sent again")
        # The owner withdraws: the sensors are removed (an empty retained config).
        directory.stop_forwarding(NODE, "homeassistant")
        time.sleep(0.5)
        kits.send(OTHER, pm25=3.5)
        wait_until(lambda: ha.configs(NODE) == {}, 10, "the sensors removed")
    finally:
        kits.close()
        ha.close()
        running.stop()
        directory.close()
    # A fresh look at the broker (Home Assistant starting later) finds none of them.
    late = HomeAssistantStandIn(broker, ("homeassistant", tokens["homeassistant"]))
    try:
        time.sleep(1)
        assert late.configs(NODE) == {}
    finally:
        late.close()


def test_a_choice_withdrawn_while_the_gateway_was_down_is_removed_after_its_restart(
    tmp_path: Path, broker_and_accounts: tuple[Mosquitto, dict[str, str]]
) -> None:
    broker, tokens = broker_and_accounts
    directory = Directory(tmp_path / "registry.db")
    directory.forward(NODE, "homeassistant", {})
    ha = HomeAssistantStandIn(broker, ("homeassistant", tokens["homeassistant"]))
    kits = Kits(broker, tokens)
    try:
        running = _gateway(broker, tokens, tmp_path)
        kits.send(NODE, pm25=7.5)
        wait_until(lambda: len(ha.configs(NODE)) == 1, 15, "the sensor discovered")
        running.stop()
        directory.stop_forwarding(NODE, "homeassistant")
        running = _gateway(broker, tokens, tmp_path)
        time.sleep(0.5)  # the broker's retained configs reach the new gateway
        kits.send(OTHER, pm25=1.0)
        wait_until(lambda: ha.configs(NODE) == {}, 10, "the stale sensor removed")
        running.stop()
    finally:
        kits.close()
        ha.close()
        directory.close()


def test_home_assistant_urls() -> None:
    from lokaalmeten.gateway.home_assistant import open_output

    with pytest.raises(StoreError, match="write homeassistant\\+mqtt://"):
        open_output("homeassistant+http://127.0.0.1/", Path("registry.db"))
    with pytest.raises(StoreError, match="chosen in the registry"):
        open_output("homeassistant+mqtt://127.0.0.1/")


def test_an_acl_from_before_home_assistant_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lokaalmeten.settings import GatewaySettings

    registry = Registry(tmp_path / "registry.db")
    registry.add("gateway", role="gateway")
    _, acl = registry.write_mosquitto_files(tmp_path / "broker")
    registry.close()
    older = "".join(
        line for line in acl.read_text().splitlines(True) if "homeassistant" not in line
    )
    acl.write_text(older)  # as a lokaalmeten before Home Assistant's discovery wrote it
    settings = GatewaySettings(
        registry=str(tmp_path / "registry.db"),
        spool=str(tmp_path / "spool.db"),
        store=f"sqlite:///{tmp_path / 'lm.db'}",
        extra_stores=["homeassistant+mqtt://127.0.0.1:1/"],
        mosquitto_dir=str(tmp_path / "broker"),
    )
    gateway = Gateway(settings)
    for store in gateway.stores:
        store.close()
    gateway.spool.close()
    gateway.alert_book.close()
    gateway.directory.close()
    (warning,) = [r.getMessage() for r in caplog.records if "ACL" in r.getMessage()]
    assert "Home Assistant's discovery" in warning and "lokaalmeten nodes acl" in warning


def test_a_discovery_the_broker_did_not_acknowledge_is_sent_again(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose PUBACKs did not all come (a timeout, a link lost mid-way) is an outage
    the writer retries: its discovery configs must go again with it, not count as sent."""
    from lokaalmeten.gateway.home_assistant import open_output
    from lokaalmeten.mqtt_client import Publisher
    from lokaalmeten.readings import Reading

    directory = Directory(tmp_path / "registry.db")
    directory.forward(NODE, "homeassistant", {})
    directory.close()
    output = open_output(
        f"homeassistant+mqtt://127.0.0.1:{mosquitto.port}/", tmp_path / "registry.db"
    )
    sent: list[list[str]] = []
    real = Publisher.publish_all

    def once_unacknowledged(self: Publisher, messages: Any, timeout: float) -> None:
        sent.append([topic for topic, _, _ in messages])
        if len(sent) == 1:
            raise StoreError("the broker acknowledged 0 of 2 messages within 30 s")
        real(self, messages, timeout)

    monkeypatch.setattr(Publisher, "publish_all", once_unacknowledged)
    reading = Reading(NODE, "pm25", int(time.time()) - 60, 7.5, "SDS011")
    try:
        wait_until(lambda: _pings(output), 10, "the broker")
        with pytest.raises(StoreError):
            output.write([reading])
        output.write([reading])  # the writer's retry of the same batch
    finally:
        output.close()
    config = f"homeassistant/sensor/{NODE}/pm25/config"
    assert config in sent[0] and config in sent[1]


def _pings(output: Any) -> bool:
    try:
        output.ping()
    except StoreError:
        return False
    return True
