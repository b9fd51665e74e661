"""``lokaalmeten fleet rollout/status/pause/resume`` end to end: a release made by ``fleet
release``, a real Mosquitto, a running gateway that keeps the kits' statuses (published as
kits publish them) in its node directory and serves the release; the retained offers read
back from the broker byte for byte; and the broker running the ACL the registry writes,
which lets a kit read only its own offer."""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner, Result

from lokaalmeten.cli import app
from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.protocol.topics import status_topic, update_topic
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.simulate import firmware_dir
from tests.gateway.harness import RunningGateway, settings_for
from tests.helpers import wait_until

pytestmark = pytest.mark.mosquitto

NEW = "0.3.0"
OLD = "0.2.0"
KITS = [f"kit-{i}" for i in range(1, 6)]


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Release 0.3.0 of the repository's firmware, made by the command line."""
    work = tmp_path_factory.mktemp("fleet-releases")
    args = ["fleet", "release", str(firmware_dir()), "--version", NEW,
            "--releases", str(work / "releases"), "--key", str(work / "release.key")]  # fmt: skip
    made = CliRunner().invoke(app, args)
    assert made.exit_code == 0, made.output
    assert f"next: lokaalmeten fleet rollout {NEW} --canary 2" in made.output
    return work / "releases"


def fleet(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, ["fleet", *args], env=env)


def ok(env: dict[str, str], *args: str) -> str:
    result = fleet(env, *args)
    assert result.exit_code == 0, result.output
    return result.output


def refused(env: dict[str, str], *args: str) -> str:
    result = fleet(env, *args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.output.startswith("error: "), result.output
    return result.output


def client(
    broker: Mosquitto, client_id: str, account: tuple[str, str] | None = None
) -> mqtt.Client:
    made = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if account is not None:
        made.username_pw_set(*account)
    made.connect("127.0.0.1", broker.port)
    made.loop_start()
    wait_until(made.is_connected, 10, f"{client_id} to connect")
    return made


def retained(
    broker: Mosquitto, topics: list[str], account: tuple[str, str] | None = None
) -> list[tuple[str, bytes]]:
    """The retained messages a new subscriber to ``topics`` (one SUBSCRIBE each, in turn)
    gets. The broker sends a subscription's retained messages before it answers anything
    the client does next, so the last topic is a marker the subscriber sends itself, or,
    with ``account``, the kit's own offer (a kit may publish nowhere it may read)."""
    got: list[tuple[str, bytes]] = []
    subscribed: list[int] = []
    reader = client(broker, f"reader-{os.getpid()}-{len(topics)}", account)
    reader.on_message = lambda c, u, m: got.append((m.topic, bytes(m.payload)))
    reader.on_subscribe = lambda c, u, mid, codes, props: subscribed.append(mid)
    try:
        for topic in topics:
            _, mid = reader.subscribe(topic, qos=1)
            wait_until(partial(operator.contains, subscribed, mid), 10, f"the SUBACK for {topic}")
        if account is None:
            reader.subscribe("fleet-test/marker", qos=1)
            reader.publish("fleet-test/marker", b"end", qos=1)
            wait_until(lambda: ("fleet-test/marker", b"end") in got, 10, "the marker")
            got.remove(("fleet-test/marker", b"end"))
        else:
            wait_until(lambda: any(t == topics[-1] for t, _ in got), 10, "the kit's own offer")
    finally:
        reader.disconnect()  # first: it wakes paho's loop, which then ends at once
        reader.loop_stop()
    return got


def offers(broker: Mosquitto) -> dict[str, dict[str, Any]]:
    """Every retained offer on the broker, by node."""
    found = retained(broker, [update_topic("+")])
    return {topic.split("/")[1]: json.loads(payload) for topic, payload in found if payload}


def online(fw: str, **counters: Any) -> bytes:
    """The retained status firmware/kit/status.py publishes (its update counters say how the
    last update went)."""
    doc = {"v": 1, "state": "online", "fw": fw, "counters": {"seq": 3, "queued": 0, **counters}}
    return json.dumps(doc).encode()


def update(state: str, reason: str = "", version: str = NEW) -> dict[str, str]:
    counters = {"update": state, "update_version": version}
    return {**counters, "update_reason": reason} if reason else counters


@dataclass
class Network:
    broker: Mosquitto
    folder: Path
    env: dict[str, str]
    tokens: dict[str, str]
    gateway: RunningGateway
    kits: mqtt.Client

    def say(self, node: str, payload: bytes) -> None:
        """A kit's retained status, and wait until the gateway kept it."""
        self.kits.publish(status_topic(node), payload, qos=1, retain=True).wait_for_publish(5)
        reader = DirectoryReader(self.folder / "registry.db")
        expected = json.loads(payload)

        def kept() -> bool:
            entry = reader.entry(node)
            return (
                entry is not None
                and entry.firmware == expected["fw"]
                and entry.status is not None
                and dict(entry.status.counters) == expected["counters"]
            )

        try:
            wait_until(kept, 10, f"{node}'s status in the node directory")
        finally:
            reader.close()

    @property
    def ingest(self) -> str:
        return f"http://127.0.0.1:{self.env['LM_INGEST_PORT']}"


@pytest.fixture
def network(mosquitto: Mosquitto, tmp_path: Path, releases: Path) -> Iterator[Network]:
    """Five registered kits on 0.2.0, heard just now, behind a running gateway."""
    registry = Registry(tmp_path / "registry.db")
    tokens = {node: registry.add(node) for node in KITS}
    registry.close()
    port = free_port()
    settings = settings_for(
        mosquitto,
        tmp_path,
        require_registration=True,
        ingest_host="127.0.0.1",
        ingest_port=port,
        releases=str(releases),
        rollout=str(tmp_path / "fleet" / "rollout.json"),
        mqtt_process=False,
        writer_processes=False,
    )
    running = RunningGateway(Gateway(settings))
    env = {
        "LM_REGISTRY": settings.registry,
        "LM_BROKER": mosquitto.url,
        "LM_RELEASES": str(releases),
        "LM_ROLLOUT": settings.rollout,
        "LM_INGEST_PORT": str(port),
    }
    kits = client(mosquitto, "kits")
    net = Network(mosquitto, tmp_path, env, tokens, running, kits)
    try:
        for node in KITS:
            net.say(node, online(OLD))
        yield net
    finally:
        kits.disconnect()
        kits.loop_stop()
        running.stop()


def offer_of(port: int, serial: int) -> bytes:
    return (
        f'{{"v":1,"version":"{NEW}","port":{port},"path":"/fleet/{NEW}/","serial":{serial}}}'
    ).encode()


def test_canaries_first_then_every_kit_once_they_are_healthy(network: Network) -> None:
    env, port = network.env, int(network.env["LM_INGEST_PORT"])
    out = ok(env, "rollout", NEW, "--canary", "2")
    assert f"offered {NEW} to 2 kits (canaries): kit-1, kit-2" in out
    found = retained(network.broker, [update_topic("+")])
    assert sorted(found) == [
        (update_topic("kit-1"), offer_of(port, 1)),
        (update_topic("kit-2"), offer_of(port, 2)),
    ]
    # The offered kit downloads the release from the gateway; another kit may not.
    manifest = f"{network.ingest}/fleet/{NEW}/xtensawin/manifest.json"
    got = httpx.get(manifest, auth=("kit-1", network.tokens["kit-1"]), timeout=10)
    assert got.status_code == 200 and json.loads(got.content)["version"] == NEW
    assert (
        httpx.get(manifest, auth=("kit-3", network.tokens["kit-3"]), timeout=10).status_code == 403
    )

    network.say("kit-1", online(NEW, **update("healthy")))
    network.say("kit-2", online(OLD, **update("downloading")))
    out = refused(env, "rollout", NEW, "--all")
    assert "not every canary of 0.3.0 is settled: kit-2 (downloading: downloading" in out
    assert set(offers(network.broker)) == {"kit-1", "kit-2"}  # nothing more was offered

    network.say("kit-2", online(NEW, **update("trial")))
    assert "kit-2 (trial" in refused(env, "rollout", NEW, "--all")
    network.say("kit-2", online(NEW, **update("healthy")))
    out = ok(env, "rollout", NEW, "--all")
    assert f"offered {NEW} to 3 kits (every kit): kit-3, kit-4, kit-5" in out
    assert offers(network.broker) == {
        node: json.loads(offer_of(port, serial)) for serial, node in enumerate(KITS, 1)
    }
    doc = json.loads(ok(env, "status", "--json"))
    assert doc["rollout"]["version"] == NEW and doc["rollout"]["stage"] == "all"
    assert doc["rollout"]["paused"] is None
    counts = doc["counts"]
    assert (counts["kits"], counts["offered"], counts["healthy"], counts["pending"]) == (5, 5, 2, 3)
    kits = {kit["node"]: kit for kit in doc["kits"]}
    assert kits["kit-1"]["firmware"] == NEW and kits["kit-1"]["verdict"] == "healthy"
    assert kits["kit-3"]["offer"]["stage"] == "all" and kits["kit-3"]["state"] == "online"
    assert kits["kit-3"]["why"] == f"has not taken the offer up yet ({OLD})"
    assert "no kit left to offer 0.3.0 to: 5 have it offered" in refused(
        env, "rollout", NEW, "--all"
    )


def test_pause_withdraws_the_offers_of_kits_that_have_not_started_and_resume_renews_them(
    network: Network,
) -> None:
    env, port = network.env, int(network.env["LM_INGEST_PORT"])
    ok(env, "rollout", NEW, "--node", "kit-1,kit-2", "--node", "kit-3")
    network.say("kit-1", online(OLD, **update("downloading")))
    out = ok(env, "pause", "--reason", "kit-4's owner reports a reboot loop", "--withdraw")
    assert f"paused the rollout of {NEW}: kit-4's owner reports a reboot loop" in out
    assert "withdrew the offer from 2 kits that had not started: kit-2, kit-3" in out
    # The withdrawn offers are cleared on the broker; the kit that started keeps its own.
    assert offers(network.broker) == {"kit-1": json.loads(offer_of(port, 1))}
    # Downloads wait while it is paused.
    manifest = f"{network.ingest}/fleet/{NEW}/xtensawin/manifest.json"
    waiting = httpx.get(manifest, auth=("kit-1", network.tokens["kit-1"]), timeout=10)
    assert waiting.status_code == 503 and "reboot loop" in waiting.text
    text = ok(env, "status")
    assert "PAUSED by the operator" in text and "kit-4's owner reports a reboot loop" in text
    assert "kit-2" in text and "(withdrawn)" in text
    assert "paused by the operator" in refused(env, "rollout", NEW, "--canary", "1")
    assert "already paused by the operator" in ok(env, "pause")

    out = ok(env, "resume")
    assert f"resumed the rollout of {NEW}" in out
    assert "offered it again to 2 kits: kit-2, kit-3" in out
    assert offers(network.broker) == {
        "kit-1": json.loads(offer_of(port, 1)),
        "kit-2": json.loads(offer_of(port, 4)),  # new serials: a kit takes a new offer anew
        "kit-3": json.loads(offer_of(port, 5)),
    }
    assert (
        httpx.get(manifest, auth=("kit-3", network.tokens["kit-3"]), timeout=10).status_code == 200
    )
    assert "is not paused" in refused(env, "resume")


def test_the_health_gate_pauses_on_a_rollback_and_status_says_why(network: Network) -> None:
    env = network.env
    ok(env, "rollout", NEW, "--canary", "2", "--max-failed", "50%", "--silent-after", "45")
    state = Path(env["LM_ROLLOUT"])
    network.say("kit-2", online(OLD, **update("rolled_back", "MemoryError")))
    assert json.loads(state.read_text())["paused"] is None  # 1 of 2 is 50 %: not more
    network.say("kit-1", online(OLD, **update("refused", "signature")))
    # The gateway pauses it as the status arrives (its KitFacts), before any command runs.
    wait_until(lambda: json.loads(state.read_text())["paused"] is not None, 10, "the gate's pause")
    assert json.loads(state.read_text())["paused"]["by"] == "gate"
    text = ok(env, "status")
    assert "PAUSED by the health gate" in text
    assert "2 of 2 kits offered 0.3.0 failed or fell silent (more than 50%)" in text
    assert "kit-2 rolled_back: MemoryError" in text and "(no status for 45 min)" in text
    assert "is paused by the health gate" in refused(env, "rollout", NEW, "--all", "--force")
    out = refused(env, "resume")
    assert "would pause the rollout again at once" in out and "--max-failed" in out
    assert "resumed" in ok(env, "resume", "--max-failed", "100%")
    doc = json.loads(ok(env, "status", "--json"))
    assert doc["rollout"]["gate"] == {"max_failed": 1.0, "silent_after_minutes": 45.0}
    assert (doc["counts"]["failed"], doc["rollout"]["paused"]) == (2, None)


def test_mistakes_are_one_line_and_change_nothing(network: Network, tmp_path: Path) -> None:
    env = network.env
    out = refused(env, "rollout", "9.9.9", "--canary", "1")
    assert "no release 9.9.9 in" in out and f"there are: {NEW}" in out
    assert "no rollout" in refused(env, "pause")
    assert "no rollout" in refused(env, "resume")
    assert "say which kits" in refused(env, "rollout", NEW)
    assert "say which kits" in refused(env, "rollout", NEW, "--all", "--canary", "1")
    assert "--canary 'lots'" in refused(env, "rollout", NEW, "--canary", "lots")
    assert "--max-failed '120%'" in refused(
        env, "rollout", NEW, "--canary", "1", "--max-failed", "120%"
    )
    assert "not a known kit: kit-9" in refused(env, "rollout", NEW, "--node", "kit-9")
    assert "no canaries of 0.3.0 yet" in refused(env, "rollout", NEW, "--all")
    down = {**env, "LM_BROKER": f"mqtt://127.0.0.1:{free_port()}"}
    out = refused(down, "rollout", NEW, "--canary", "1")
    assert "cannot reach the broker at 127.0.0.1" in out and "nothing was offered" in out
    assert not Path(env["LM_ROLLOUT"]).exists()  # the state went back to none
    assert ok(env, "status").startswith("no rollout")
    missing = {**env, "LM_REGISTRY": str(tmp_path / "nowhere.db")}
    assert "no registry at" in refused(missing, "status")
    assert offers(network.broker) == {}


def test_a_kit_reads_only_its_own_offer_on_the_registrys_acl(
    tmp_path: Path, releases: Path
) -> None:
    if Mosquitto.find() is None:
        pytest.skip("mosquitto not installed")
    registry = Registry(tmp_path / "registry.db")
    tokens = {node: registry.add(node) for node in ("kit-a", "kit-b")}
    gateway_token = registry.add("gw", role="gateway")
    passwd, acl = registry.write_mosquitto_files(tmp_path / "mosquitto")
    registry.close()
    broker = Mosquitto.start(tmp_path / "broker", auth=(passwd, acl))
    try:
        env = {
            "LM_REGISTRY": str(tmp_path / "registry.db"),
            "LM_BROKER": f"mqtt://gw@127.0.0.1:{broker.port}",
            "LM_MQTT_PASSWORD": gateway_token,
            "LM_MOSQUITTO_DIR": str(tmp_path / "mosquitto"),
            "LM_RELEASES": str(releases),
            "LM_ROLLOUT": str(tmp_path / "rollout.json"),
        }
        ok(env, "rollout", NEW, "--node", "kit-a", "--node", "kit-b")
        for me, other in (("kit-a", "kit-b"), ("kit-b", "kit-a")):
            topics = [update_topic(other), update_topic("+"), update_topic(me)]
            got = retained(broker, topics, account=(me, tokens[me]))
            assert {topic for topic, _ in got} == {update_topic(me)}
            assert all(json.loads(payload)["version"] == NEW for _, payload in got)
        # An ACL written before offers existed would make Mosquitto drop them unseen.
        acl.write_text(acl.read_text().replace(f"topic write {update_topic('+')}\n", ""))
        out = refused(env, "pause", "--withdraw")
        assert "does not let the gateway offer releases" in out and "nodes acl" in out
    finally:
        broker.stop()
