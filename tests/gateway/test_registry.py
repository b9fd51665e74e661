"""Kit credentials: tokens, Mosquitto's password and ACL files, proven against real Mosquitto."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.gateway.registry import Registry, RegistryError, mosquitto_hash
from lokaalmeten.services.local_server import find_binary
from lokaalmeten.services.mosquitto import Mosquitto
from tests.helpers import wait_until


def test_tokens_check_and_rotate(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    token = registry.add("kit-1", note="Dorpsstraat")
    assert registry.check_token("kit-1", token)
    assert registry.node_for_token(token) == "kit-1"
    assert not registry.check_token("kit-1", token + "x")
    assert not registry.check_token("kit-2", token)
    new = registry.rotate("kit-1")
    assert new != token and registry.check_token("kit-1", new)
    assert not registry.check_token("kit-1", token)
    assert [e.note for e in registry.entries()] == ["Dorpsstraat"]


def test_the_token_itself_is_not_stored(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    token = registry.add("kit-1")
    registry.close()
    assert token.encode() not in (tmp_path / "registry.db").read_bytes()


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda r: r.add("Kit One"), "not a valid node id"),
        (lambda r: (r.add("kit-1"), r.add("kit-1")), "already registered"),
        (lambda r: r.rotate("nobody"), "not registered"),
        (lambda r: r.remove("nobody"), "not registered"),
    ],
)
def test_mistakes_are_refused_with_a_reason(tmp_path: Path, action: object, message: str) -> None:
    registry = Registry(tmp_path / "registry.db")
    with pytest.raises(RegistryError, match=message):
        action(registry)  # type: ignore[operator]


def test_known_follows_registration_after_the_cache_expires(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    other = Registry(tmp_path / "registry.db")  # as `lokaalmeten nodes` in another process
    assert not registry.known("kit-1")
    other.add("kit-1")
    registry._cache.clear()  # what 5 seconds would do
    assert registry.known("kit-1")


def test_hash_matches_mosquitto_passwd_format() -> None:
    salt = bytes(range(12))
    text = mosquitto_hash("s3cret", salt)
    _, kind, iterations, salt_b64, digest_b64 = text.split("$")
    assert (kind, iterations, base64.b64decode(salt_b64)) == ("7", "101", salt)
    expected = hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, 101)
    assert base64.b64decode(digest_b64) == expected


def test_hash_verifies_a_line_made_by_mosquitto_passwd(tmp_path: Path) -> None:
    tool = find_binary("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd not installed")
    path = tmp_path / "pw"
    subprocess.run([tool, "-c", "-b", str(path), "kit-1", "s3cret"], check=True)
    _, made = path.read_text().strip().split(":", 1)
    salt = base64.b64decode(made.split("$")[3])
    assert mosquitto_hash("s3cret", salt) == made


def connect(broker: Mosquitto, user: str, password: str, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(user, password)
    client.reconnect_delay_set(1, 1)
    client.connect("127.0.0.1", broker.port)
    return client


@pytest.mark.mosquitto
def test_broker_admits_kits_by_token_and_confines_them_to_their_topics(tmp_path: Path) -> None:
    if Mosquitto.find() is None:
        pytest.skip("mosquitto not installed")
    registry = Registry(tmp_path / "registry.db")
    kit_a = registry.add("kit-a")
    registry.add("kit-b")
    gateway_token = registry.add("gw", role="gateway")
    folder = tmp_path / "broker"
    passwd, acl = registry.write_mosquitto_files(folder)
    broker = Mosquitto.start(folder, auth=(passwd, acl))
    try:
        received: list[str] = []
        gw = connect(broker, "gw", gateway_token, "gw")
        gw.on_message = lambda c, u, msg: received.append(msg.topic)
        gw.subscribe("lokaalmeten/+/readings", qos=1)
        gw.loop_start()

        answers: list[object] = []
        refused = connect(broker, "kit-a", "wrong token", "kit-a-guessing")
        refused.on_connect = lambda c, u, flags, reason, props: answers.append(reason)
        refused.loop_start()
        wait_until(lambda: bool(answers), 10, "the broker's answer to a wrong token")
        refused.loop_stop()
        assert answers[0].is_failure  # type: ignore[attr-defined]

        forger = connect(broker, "kit-a", kit_a, "kit-a")
        forger.loop_start()
        wait_until(forger.is_connected, 10, "kit-a to connect")
        # Mosquitto never delivers a forbidden publish; 2.0 either acknowledges and drops it
        # or closes the connection (both seen), so the kit's own reading goes on a new one.
        with contextlib.suppress(RuntimeError):
            forger.publish("lokaalmeten/kit-b/readings", b"forged", qos=1).wait_for_publish(5)
        forger.loop_stop()
        forger.disconnect()
        a = connect(broker, "kit-a", kit_a, "kit-a")
        a.loop_start()
        wait_until(a.is_connected, 10, "kit-a to connect again")
        a.publish("lokaalmeten/kit-a/readings", b"own", qos=1).wait_for_publish(10)
        wait_until(lambda: "lokaalmeten/kit-a/readings" in received, 10, "kit-a's message")
        assert received == ["lokaalmeten/kit-a/readings"]
        a.loop_stop()
        gw.loop_stop()
    finally:
        broker.stop()


def test_broker_files_keep_the_mode_an_installer_gave_them(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    registry.add("kit-1")
    passwd, _ = registry.write_mosquitto_files(tmp_path / "mq")
    assert passwd.stat().st_mode & 0o777 == 0o640  # Mosquitto reads it through its group
    passwd.chmod(0o604)  # whatever the installer chose
    registry.add("kit-2")
    registry.write_mosquitto_files(tmp_path / "mq")
    assert passwd.stat().st_mode & 0o777 == 0o604
    assert "kit-2:" in passwd.read_text()
