"""The gateway keeps the kits' retained status and Last Will in the node directory, over a
real Mosquitto with the ACL the registry writes: online, firmware, counters, the configured
location; offline within 1.5 × keep-alive of a kit going silent; a kit cannot speak for
another, and an unregistered kit's status does not count."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.gateway.directory import DirectoryReader, KitEntry
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.protocol.topics import status_topic
from lokaalmeten.services.mosquitto import Mosquitto
from tests.gateway.harness import RunningGateway, publish, settings_for
from tests.helpers import record, wait_until

pytestmark = pytest.mark.mosquitto

KEEPALIVE = 1  # seconds; Mosquitto gives up on a silent client after 1.5 × this, ...
# ... but Mosquitto 2.0 looks for silent clients only every 6 s (measured with 2.0.11: a
# keep-alive of 1 or 2 s ends after 5.5-6 s, one of 4 s after 11.8 s).
BROKER_CHECKS_EVERY = 6.0
OFFLINE = b'{"v": 1, "state": "offline", "fw": "0.1.0"}'


def online(lat: float = 52.091, lon: float = 5.122, exact: bool = False, seq: int = 1) -> bytes:
    """The retained status firmware/kit/status.py publishes."""
    location = {"lat": lat, "lon": lon, "exact": exact}
    doc = {"v": 1, "state": "online", "fw": "0.1.0", "counters": {"seq": seq}, "location": location}
    return json.dumps(doc).encode()


def kit(broker: Mosquitto, node: str, token: str | None = None) -> mqtt.Client:
    """A kit as the firmware connects: its node id as client id, the offline status as a
    retained QoS 1 Last Will, a short keep-alive."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=node, clean_session=False)
    if token is not None:
        client.username_pw_set(node, token)
    client.will_set(status_topic(node), OFFLINE, qos=1, retain=True)
    client.connect("127.0.0.1", broker.port, keepalive=KEEPALIVE)
    client.loop_start()
    wait_until(client.is_connected, 10, f"{node} to connect")
    return client


def say(client: mqtt.Client, node: str, payload: bytes) -> None:
    info = client.publish(status_topic(node), payload, qos=1, retain=True)
    info.wait_for_publish(5)


def go_silent(client: mqtt.Client) -> socket.socket:
    """Wi-Fi gone: no more packets, not even a DISCONNECT; the socket stays open."""
    sock = client.socket()
    client.loop_stop()
    assert isinstance(sock, socket.socket)
    return sock


def entry(folder: Path, node: str) -> KitEntry | None:
    return DirectoryReader(folder / "registry.db").entry(node)


def state(folder: Path, node: str) -> str | None:
    found = entry(folder, node)
    return None if found is None or found.status is None else found.status.state


@pytest.fixture
def open_gateway(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[RunningGateway]:
    running = RunningGateway(Gateway(settings_for(mosquitto, tmp_path)))
    yield running
    running.stop()


def test_status_and_will_reach_the_directory(
    mosquitto: Mosquitto, tmp_path: Path, open_gateway: RunningGateway
) -> None:
    client = kit(mosquitto, "kit-1")
    say(client, "kit-1", online(seq=7))
    wait_until(lambda: state(tmp_path, "kit-1") == "online", 10, "kit-1 online")
    found = entry(tmp_path, "kit-1")
    assert found is not None and found.status is not None
    assert found.firmware == "0.1.0" and found.status.counters == {"seq": 7}
    assert found.kit_location == (52.091, 5.122, False)
    assert found.place is not None and (found.place.latitude, found.place.source) == (52.091, "kit")
    sock = go_silent(client)
    went = time.monotonic()
    try:
        limit = 1.5 * KEEPALIVE + BROKER_CHECKS_EVERY + 1.0
        wait_until(lambda: state(tmp_path, "kit-1") == "offline", limit, "the Last Will")
        assert time.monotonic() - went <= limit
    finally:
        sock.close()
    assert open_gateway.gateway.metrics.count("statuses_received") == 2
    # Back at a new home: the move is a history row.
    client = kit(mosquitto, "kit-1")
    say(client, "kit-1", online(52.2, 5.3, seq=8))
    reader = DirectoryReader(tmp_path / "registry.db")
    wait_until(lambda: len(reader.history("kit-1")) == 2, 10, "the move")
    client.disconnect()
    client.loop_stop()


def test_a_restarted_gateway_learns_the_state_from_the_retained_status(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    client = kit(mosquitto, "kit-1")
    say(client, "kit-1", online())
    client.disconnect()  # a clean leave publishes no will: the retained status says online
    client.loop_stop()
    say_offline = kit(mosquitto, "kit-2")
    say(say_offline, "kit-2", OFFLINE)
    say_offline.disconnect()
    say_offline.loop_stop()
    running = RunningGateway(Gateway(settings_for(mosquitto, tmp_path)))
    try:
        wait_until(lambda: state(tmp_path, "kit-2") == "offline", 10, "kit-2's retained status")
        wait_until(lambda: state(tmp_path, "kit-1") == "online", 10, "kit-1's retained status")
        found = entry(tmp_path, "kit-1")
        assert found is not None and found.status is not None
        assert found.status.heard is None  # a retained copy: not heard just now
    finally:
        running.stop()


def test_only_registered_kits_statuses_count(mosquitto: Mosquitto, tmp_path: Path) -> None:
    Registry(tmp_path / "registry.db").add("kit-1")
    settings = settings_for(mosquitto, tmp_path, require_registration=True)
    running = RunningGateway(Gateway(settings))
    try:
        stranger = kit(mosquitto, "kit-9")
        say(stranger, "kit-9", online())
        member = kit(mosquitto, "kit-1")
        say(member, "kit-1", online())
        wait_until(lambda: state(tmp_path, "kit-1") == "online", 10, "kit-1's status")
        wait_until(
            lambda: running.gateway.metrics.count("statuses_ignored") == 1, 5, "kit-9 ignored"
        )
        assert entry(tmp_path, "kit-9") is None
        # Bad statuses are counted and left out, the gateway goes on.
        say(member, "kit-1", b"not json")
        wait_until(lambda: running.gateway.metrics.count("statuses_ignored") == 2, 5, "bad status")
        # The sensor models of its readings reach the directory too.
        doc = json.loads(record("kit-1", pm25=7.5, temperature=9.0))
        doc["sensors"] = {"pm25": "SDS011", "temperature": "BME280"}
        publish(member, "lokaalmeten/kit-1/readings", json.dumps(doc).encode())
        wait_until(
            lambda: getattr(entry(tmp_path, "kit-1"), "sensors", ()) == ("BME280", "SDS011"),
            5,
            "the sensor models",
        )
        for client in (stranger, member):
            client.disconnect()
            client.loop_stop()
    finally:
        running.stop()


def test_the_acl_lets_a_kit_write_only_its_own_status(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    kit_a = registry.add("kit-a")
    kit_b = registry.add("kit-b")
    gateway_token = registry.add("gateway", role="gateway")
    passwd, acl = registry.write_mosquitto_files(tmp_path / "broker")
    registry.close()
    broker = Mosquitto.start(tmp_path / "broker", auth=(passwd, acl))
    settings = settings_for(broker, tmp_path, require_registration=True).model_copy(
        update={"broker": f"mqtt://gateway:{gateway_token}@127.0.0.1:{broker.port}"}
    )
    running = RunningGateway(Gateway(settings))
    try:
        forger = kit(broker, "kit-a", kit_a)
        # Mosquitto drops a forbidden publish (acknowledged or with the connection closed).
        with contextlib.suppress(RuntimeError, ValueError):
            say(forger, "kit-b", online(1.0, 1.0))
        forger.disconnect()
        forger.loop_stop()
        honest = kit(broker, "kit-b", kit_b)
        say(honest, "kit-b", online(52.5, 5.5, seq=3))
        own = kit(broker, "kit-a", kit_a)
        say(own, "kit-a", online(seq=42))
        wait_until(lambda: state(tmp_path, "kit-a") == "online", 10, "kit-a's own status")
        wait_until(lambda: state(tmp_path, "kit-b") == "online", 10, "kit-b's own status")
        b = entry(tmp_path, "kit-b")
        assert b is not None and b.kit_location == (52.5, 5.5, False)  # never (1.0, 1.0)
        assert DirectoryReader(tmp_path / "registry.db").history("kit-b")[0].latitude == 52.5
        for client in (honest, own):
            client.disconnect()
            client.loop_stop()
    finally:
        running.stop()
        broker.stop()
