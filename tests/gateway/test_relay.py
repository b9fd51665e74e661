"""Several gateways, one city store: neighbourhood gateways relay what they store to a city
gateway through its broker (gateway/upstream.py, lokaalmeten/protocol/relay.py).

All parts are real: three Mosquittos, the gateways as processes killed with SIGKILL, and a
TCP link between each neighbourhood and the city broker that the test cuts and restores.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.gateway.directory import Directory, DirectoryError, Edit
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.quarantine import Quarantine
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.gateway.upstream import UpstreamForwarder, open_forwarder
from lokaalmeten.protocol.relay import encode_batch
from lokaalmeten.readings import FLAG_STUCK, Reading
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.processes import stop_all
from lokaalmeten.store import StoreError
from tests.gateway.harness import (
    RunningGateway,
    Stream,
    gateway_process,
    identities,
    publish,
    publisher,
    settings_for,
    stored,
)
from tests.gateway.test_durability import wait_gateway_ready
from tests.helpers import record, wait_until
from tests.link import Link

pytestmark = pytest.mark.mosquitto

NOW = int(time.time())


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    stop_all(started)


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_two_gateways_into_a_city_one_through_cut_links_and_kills(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    city_broker = Mosquitto.start(tmp_path / "city-broker")
    brokers = {name: Mosquitto.start(tmp_path / f"{name}-broker") for name in ("lombok", "noord")}
    links = {name: Link(city_broker.port) for name in brokers}
    folders = {name: tmp_path / name for name in (*brokers, "city")}
    for folder in folders.values():
        folder.mkdir()

    def neighbourhood(name: str) -> subprocess.Popen[bytes]:
        upstream = f"upstream+mqtt://127.0.0.1:{links[name].port}/?relay={name}&timeout=5"
        return gateway_process(brokers[name], folders[name], "--extra-store", upstream)

    try:
        running = {"city": gateway_process(city_broker, folders["city"])}
        wait_gateway_ready(folders["city"])
        for name in brokers:
            running[name] = neighbourhood(name)
            wait_gateway_ready(folders[name])
        streams = {
            name: Stream(broker, rate=150, client_id=f"{name}-kits", nodes=f"{name}-kit")
            for name, broker in brokers.items()
        }
        for stream in streams.values():
            stream.start()
        time.sleep(1.5)
        links["lombok"].cut()  # lombok's line down; it keeps storing, the relay waits
        time.sleep(1.5)
        _kill(running["lombok"])  # ... and it is killed while its readings wait for the city
        running["lombok"] = neighbourhood("lombok")
        wait_gateway_ready(folders["lombok"], 2)
        time.sleep(1)
        links["lombok"].restore()
        _kill(running["city"])  # the city gateway gone: its broker keeps the batches
        time.sleep(1)
        running["city"] = gateway_process(city_broker, folders["city"])
        wait_gateway_ready(folders["city"], 2)
        _kill(running["noord"])
        running["noord"] = neighbourhood("noord")
        wait_gateway_ready(folders["noord"], 2)
        links["noord"].cut()
        time.sleep(1)
        links["noord"].restore()
        time.sleep(1)
        for stream in streams.values():
            stream.stop()
            stream.wait_all_acked(60)
        expected = set().union(*(stream.expected() for stream in streams.values()))
        published = set().union(*(stream.published() for stream in streams.values()))
        assert len(expected) > 2000
        city_store = folders["city"] / "lm.db"
        wait_until(
            lambda: len(identities(city_store)) >= len(expected),
            90,
            "every reading of both neighbourhoods in the city store",
        )
        found = identities(city_store)
        assert len(found) == len(set(found))
        assert expected <= set(found) <= published
        # Each neighbourhood kept its own readings too, and the city has them as stored there.
        for name in brokers:
            here = stored(folders[name] / "lm.db")
            assert {r.identity for r in here} >= streams[name].expected()
        city = {r.identity: r for r in stored(city_store)}
        assert all(city[r.identity] == r for r in stored(folders["lombok"] / "lm.db"))
        log = (folders["lombok"] / "gateway.log").read_text()
        assert "upstream+mqtt://127.0.0.1" in log and "token" not in log
    finally:
        stop_all(list(running.values()))
        for link in links.values():
            link.close()
        for broker in (city_broker, *brokers.values()):
            broker.stop()


def test_one_node_one_relay_enforced_by_the_city_brokers_acl_and_claims(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    gateway_token = registry.add("city", role="gateway")
    tokens = {name: registry.add(name, role="relay") for name in ("lombok", "noord")}
    registry.add("esp32-c1c1c1")  # a kit registered at the city gateway itself
    passwd, acl = registry.write_mosquitto_files(tmp_path / "broker")
    registry.close()
    assert "topic write lokaalmeten/lombok/relay" in acl.read_text()
    broker = Mosquitto.start(tmp_path / "broker", auth=(passwd, acl))
    settings = settings_for(broker, tmp_path, require_registration=True).model_copy(
        update={"broker": f"mqtt://city:{gateway_token}@127.0.0.1:{broker.port}"}
    )
    running = RunningGateway(Gateway(settings))
    clients = {}
    try:
        for name, token in tokens.items():
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-relay")
            client.username_pw_set(name, token)
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            clients[name] = client
        for client in clients.values():
            wait_until(client.is_connected, 10, "the relays to connect")

        def batch(relay: str, node: str, minute: int) -> bytes:
            reading = Reading(node, "pm25", NOW - 3600 + 60 * minute, 5.0 + minute, "SDS011")
            return encode_batch(relay, [reading])

        publish(clients["lombok"], "lokaalmeten/lombok/relay", batch("lombok", "esp32-aaaaaa", 1))
        # noord speaks for a kit lombok relays, and for one registered at the city itself.
        publish(clients["noord"], "lokaalmeten/noord/relay", batch("noord", "esp32-aaaaaa", 2))
        publish(clients["noord"], "lokaalmeten/noord/relay", batch("noord", "esp32-c1c1c1", 3))
        # ... and publishes under lombok's name: the broker's ACL drops it (Mosquitto may
        # also drop the connection; paho connects again).
        clients["noord"].publish(
            "lokaalmeten/lombok/relay", batch("lombok", "esp32-bbbbbb", 4), qos=1
        ).wait_for_publish(5)
        time.sleep(0.3)
        wait_until(clients["noord"].is_connected, 10, "noord to be connected")
        publish(clients["noord"], "lokaalmeten/noord/relay", batch("noord", "esp32-dddddd", 5))
        lm = tmp_path / "lm.db"
        wait_until(lambda: len(stored(lm)) >= 2, 10, "both rightful readings stored")
        time.sleep(0.5)
        assert sorted((r.node, r.value) for r in stored(lm)) == [
            ("esp32-aaaaaa", 6.0),
            ("esp32-dddddd", 10.0),
        ]
        quarantine = Quarantine(tmp_path / "spool.db")
        wait_until(lambda: len(quarantine.entries()) >= 2, 10, "the conflicts quarantined")
        refused = {entry.detail: entry.reason for entry in quarantine.entries()}
        assert refused == {
            "noord: left out esp32-aaaaaa (spoken for by lombok)": "relay_conflict",
            "noord: left out esp32-c1c1c1 (spoken for by a kit registered here)": (
                "relay_conflict"
            ),
        }
        claims = running.gateway.directory.claims()
        assert {node: relay for node, (relay, _) in claims.items()} == {
            "esp32-aaaaaa": "lombok",
            "esp32-dddddd": "noord",
        }
    finally:
        for client in clients.values():
            client.loop_stop()
            client.disconnect()
        running.stop()
        broker.stop()


def test_a_released_kit_is_owned_by_the_next_relay_to_send_it(tmp_path: Path) -> None:
    directory = Directory(tmp_path / "registry.db")
    assert directory.claim("lombok", {"esp32-aaaaaa", "esp32-bbbbbb"}, NOW) == {}
    assert directory.claim("noord", {"esp32-aaaaaa", "esp32-cccccc"}, NOW) == {
        "esp32-aaaaaa": "lombok"
    }
    assert directory.release("esp32-aaaaaa") == "lombok"
    with pytest.raises(DirectoryError, match="no relay speaks for esp32-aaaaaa"):
        directory.release("esp32-aaaaaa")
    assert directory.claim("noord", {"esp32-aaaaaa"}, NOW) == {}
    # A second gateway process (the operator's command) sees the claims as they are now.
    other = Directory(tmp_path / "registry.db")
    assert {n: r for n, (r, _) in other.claims().items()} == {
        "esp32-aaaaaa": "noord",
        "esp32-bbbbbb": "lombok",
        "esp32-cccccc": "noord",
    }


def test_the_relays_url_names_no_token_and_bad_urls_say_how(tmp_path: Path) -> None:
    forwarder = open_forwarder("upstream+mqtt://lombok:s3cret@127.0.0.1:1/?timeout=1")
    try:
        assert isinstance(forwarder, UpstreamForwarder)
        assert forwarder.url == "upstream+mqtt://127.0.0.1:1/lokaalmeten/lombok/relay"
        assert forwarder.relay == "lombok"
        # Nothing listens on port 1: an outage, waited out by the writer, never data lost.
        with pytest.raises(StoreError, match=r"cannot reach the upstream broker 127\.0\.0\.1:1"):
            forwarder.write([Reading("esp32-aaaaaa", "pm25", NOW, 1.0)])
    finally:
        forwarder.close()
    for url, says in [
        ("upstream+http://lombok@city/", "upstream\\+mqtt://"),
        ("upstream+mqtt://city.example.nl/", "name the relay"),
        ("upstream+mqtt://Lombok!@city.example.nl/", "is not a relay name"),
        ("upstream+mqtt://lombok@city.example.nl/?timeout=soon", "must be numbers"),
    ]:
        with pytest.raises(StoreError, match=says):
            open_forwarder(url)


def test_a_relay_refused_by_the_city_broker_says_so(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    registry.add("lombok", role="relay")
    passwd, acl = registry.write_mosquitto_files(tmp_path / "broker")
    broker = Mosquitto.start(tmp_path / "broker", auth=(passwd, acl))
    forwarder = open_forwarder(f"upstream+mqtt://lombok:wrong@127.0.0.1:{broker.port}/")
    try:
        time.sleep(1.5)
        with pytest.raises(
            StoreError, match=r"refused the account.*is the relay lombok registered"
        ) as caught:
            forwarder.ping()
        assert "wrong" not in str(caught.value)
    finally:
        forwarder.close()
        broker.stop()


def test_relayed_flags_are_kept_at_the_city(tmp_path: Path, mosquitto: Mosquitto) -> None:
    running = RunningGateway(Gateway(settings_for(mosquitto, tmp_path)))
    forwarder = open_forwarder(f"upstream+mqtt://127.0.0.1:{mosquitto.port}/?relay=lombok")
    try:
        readings = [
            Reading("esp32-aaaaaa", "pm25", NOW - 60 * i, 12.0, "SDS011", FLAG_STUCK)
            for i in range(2500)  # three messages
        ]
        wait_until(lambda: _pings(forwarder), 10, "the relay to connect")
        result = forwarder.write(readings)
        assert (result.received, result.stored) == (2500, 2500)
        lm = tmp_path / "lm.db"
        wait_until(lambda: len(stored(lm)) == 2500, 20, "the batch stored")
        assert {r.flags for r in stored(lm)} == {FLAG_STUCK}
    finally:
        forwarder.close()
        running.stop()
    doc = json.loads(encode_batch("lombok", readings[:1]))
    assert doc["relay"] == "lombok"


def _pings(forwarder: UpstreamForwarder) -> bool:
    try:
        forwarder.ping()
    except StoreError:
        return False
    return True


def test_the_city_knows_relayed_kits_as_the_neighbourhood_publishes_them(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    neighbourhood = tmp_path / "lombok"
    neighbourhood.mkdir()
    here = Directory(neighbourhood / "registry.db")
    here.edit("esp32-aaaaaa", Edit(name="Balkon Lombok", location=(52.091234, 5.121987)))
    here.edit("esp32-bbbbbb", Edit(name="School", location=(52.1, 5.2), exact=True, height_m=4))
    here.edit("esp32-bbbbbb", Edit(indoor=False, notes="the caretaker has the key"))
    city_folder = tmp_path / "city"
    city_folder.mkdir()
    city = RunningGateway(Gateway(settings_for(mosquitto, city_folder)))
    # noord relays esp32-cccccc first; lombok's word on it is not taken.
    city.gateway.directory.claim("noord", {"esp32-cccccc"}, NOW)
    here.edit("esp32-cccccc", Edit(name="Not lombok's"))
    url = f"upstream+mqtt://127.0.0.1:{mosquitto.port}/?relay=lombok"
    forwarder = open_forwarder(url, neighbourhood / "registry.db")
    try:
        wait_until(lambda: _pings(forwarder), 10, "the relay to connect")
        forwarder.write(
            [
                Reading(node, "pm25", NOW - 60, 5.0, "SDS011")
                for node in ("esp32-aaaaaa", "esp32-bbbbbb", "esp32-cccccc", "esp32-dddddd")
            ]
        )
        entries = city.gateway.directory.entries
        wait_until(
            lambda: "esp32-bbbbbb" in entries() and entries()["esp32-bbbbbb"].name != "",
            10,
            "the entries",
        )
        a, b = entries()["esp32-aaaaaa"], entries()["esp32-bbbbbb"]
        assert a.name == "Balkon Lombok"
        # Not exact: the city hears the place as the neighbourhood's page shows it, rounded.
        assert a.place is not None and (a.place.latitude, a.place.longitude) == (52.091, 5.122)
        assert not a.place.exact
        assert b.place is not None and (b.place.latitude, b.place.longitude, b.place.exact) == (
            52.1,
            5.2,
            True,
        )
        assert (b.siting.indoor, b.siting.height_m, b.siting.notes) == (False, 4.0, "")
        assert "esp32-cccccc" not in entries()  # its readings and entry were refused
        # Told once: a second batch of the same kits carries no entries.
        before = len(city.gateway.directory.history("esp32-aaaaaa"))
        forwarder.write([Reading("esp32-aaaaaa", "pm25", NOW - 30, 6.0, "SDS011")])
        assert forwarder._news({"esp32-aaaaaa"}) == {}
        assert len(city.gateway.directory.history("esp32-aaaaaa")) == before
    finally:
        forwarder.close()
        city.stop()
        here.close()


def test_only_the_writer_process_holds_the_relays_connection(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """The gateway opens each output in its own process too (for its name); a relay that
    connected there as well fought its writer process for the one client id, the broker
    closing one connection for the other every second."""
    city_broker = Mosquitto.start(tmp_path / "city-broker")
    local = Mosquitto.start(tmp_path / "local-broker")
    try:
        upstream = f"upstream+mqtt://127.0.0.1:{city_broker.port}/?relay=lombok"
        processes.append(gateway_process(local, tmp_path, "--extra-store", upstream))
        wait_gateway_ready(tmp_path)
        kit = publisher(local, "kit-1")
        publish(kit, "lokaalmeten/kit-1/readings", record("kit-1", 1, pm25=4.0))
        kit.disconnect()
        time.sleep(4)  # a takeover happened within a second or two
    finally:
        stop_all(processes)
        local.stop()
        city_broker.stop()  # and its log is written out
    log = (tmp_path / "city-broker" / "mosquitto.log").read_text()
    assert "lokaalmeten-relay-lombok" in log
    assert "already connected" not in log
