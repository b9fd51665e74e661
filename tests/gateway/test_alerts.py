"""Kit-health alerts end to end: the gateway (as a process, and in a thread) raises them from
real MQTT traffic, a webhook receiver on loopback gets every event exactly once though it is
down and the gateway restarts meanwhile, a subscriber on the real Mosquitto sees them, and
/v1/nodes and /metrics show what is open."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.gateway.alert_book import AlertBook, AlertKey
from lokaalmeten.gateway.alert_delivery import WebhookSender
from lokaalmeten.gateway.http_ingest import create_ingest_app
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.server.app import create_app
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.settings import GatewaySettings, ServerSettings
from lokaalmeten.shutdown import Shutdown
from tests.gateway.harness import RunningGateway, gateway_process, publish, publisher, settings_for
from tests.gateway.test_durability import wait_gateway_ready
from tests.helpers import record, wait_until
from tests.test_cli import lm


class Receiver:
    """An operator's webhook on 127.0.0.1: down (port closed), answering 503, or taking
    events (200), counting each request's Idempotency-Key."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.mode = "down"
        self.accepted: Counter[str] = Counter()
        self.bodies: dict[str, dict[str, Any]] = {}
        self.refused = 0
        self.without_key = 0
        self.mismatched = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def answer(self, mode: str) -> None:
        if mode == "down":
            self.close()
        elif self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
            threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.mode = mode

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key")
                with receiver._lock:
                    if key is None:
                        receiver.without_key += 1
                    if receiver.mode == "503":
                        receiver.refused += 1
                        status = 503
                    else:
                        doc = json.loads(body)
                        if key is not None:
                            receiver.accepted[key] += 1
                            receiver.bodies[key] = doc
                            receiver.mismatched += doc["event"] != key
                        status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test's output stays readable

        return Handler

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Watcher:
    """An operator's dashboard subscribed to every kit's alerts topic."""

    def __init__(self, broker: Mosquitto, user: tuple[str, str] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.retained = 0
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="alert-watcher", clean_session=False
        )
        if user is not None:
            client.username_pw_set(*user)
        client.on_message = self._on_message
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        wait_until(client.is_connected, 10, "the watcher to connect")
        subscribed = threading.Event()
        client.on_subscribe = lambda *args: subscribed.set()
        client.subscribe("lokaalmeten/+/alerts", qos=1)
        subscribed.wait(5)
        self.client = client

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.retained += bool(msg.retain)
        doc = json.loads(msg.payload)
        assert msg.topic == f"lokaalmeten/{doc['alert']['node']}/alerts"
        self.events.append(doc)

    def ids(self) -> set[str]:
        return {doc["event"] for doc in list(self.events)}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _query(book: Path, sql: str) -> list[tuple[Any, ...]]:
    if not book.exists():
        return []
    conn = sqlite3.connect(f"file:{book}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []  # not made yet
    finally:
        conn.close()


def open_alerts(book: Path) -> set[tuple[str, str, str]]:
    return set(_query(book, "SELECT kind, node, quantity FROM alert WHERE resolved IS NULL"))


def events(book: Path) -> list[str]:
    return [row[0] for row in _query(book, "SELECT id FROM alert_event ORDER BY time, id")]


def outbox(book: Path) -> int:
    rows = _query(book, "SELECT count(*) FROM alert_outbox")
    return int(rows[0][0]) if rows else -1


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0


@pytest.fixture
def fast_alerts(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A kit measuring every second, offline after 2 s; quick retries. Yields the webhook's
    port, named in the environment the gateway process inherits."""
    port = free_port()
    monkeypatch.setenv("LM_ALERT_WEBHOOK", f"http://127.0.0.1:{port}/hooks/lokaalmeten")
    monkeypatch.setenv("LM_ALERT_INTERVAL", "1")
    monkeypatch.setenv("LM_ALERT_OFFLINE_INTERVALS", "2")
    monkeypatch.setenv("LM_ALERT_CHECK_INTERVAL", "0.2")
    monkeypatch.setenv("LM_ALERT_RETRY_MAX", "0.5")
    yield port


def test_the_webhook_gets_every_alert_once_across_an_outage_and_a_restart(
    mosquitto: Mosquitto, tmp_path: Path, fast_alerts: int
) -> None:
    book = tmp_path / "registry.db"
    receiver = Receiver(fast_alerts)
    watcher = Watcher(mosquitto)
    kit = publisher(mosquitto)
    seq = iter(range(1, 10_000))

    def send(node: str, **values: float) -> None:
        n = next(seq)
        # Values that wander a little, as a working sensor's do: the same value twenty
        # times in a row would be flagged stuck and raise an alert of its own.
        values = {name: value + n % 7 / 10 for name, value in values.items()}
        moment = f"2026-11-27T10:{n // 60 % 60:02d}:{n % 60:02d}Z"
        publish(kit, f"lokaalmeten/{node}/readings", record(node, n, moment, **values))

    # The webhook is down (nothing listens on its port) from the start.
    first = gateway_process(mosquitto, tmp_path)
    try:
        wait_gateway_ready(tmp_path)
        send("kit-1", pm25=5.0, pm10=7.0)
        wait_until(lambda: ("offline", "kit-1", "") in open_alerts(book), 20, "kit-1 offline")
        send("kit-1", pm25=5.0, pm10=7.0)
        wait_until(lambda: not open_alerts(book), 20, "kit-1 back")
    finally:
        stop(first)
    assert len(events(book)) == 2 and outbox(book) >= 2  # the webhook has none of them yet

    receiver.answer("503")  # up again, but refusing
    second = gateway_process(mosquitto, tmp_path)
    try:
        wait_gateway_ready(tmp_path, times=2)
        send("kit-2", pm25=5.0, pm10=7.0)

        def pm10_dead() -> bool:
            send("kit-2", pm25=5.0)  # the PM10 channel has died; PM2.5 still arrives
            return ("dead_sensor", "kit-2", "pm10") in open_alerts(book)

        wait_until(pm10_dead, 20, "kit-2's pm10 to be a dead sensor")
        wait_until(lambda: ("offline", "kit-1", "") in open_alerts(book), 20, "kit-1 silent")
        wait_until(lambda: receiver.refused >= 3, 20, "the refused retries")
        receiver.answer("ok")
        wait_until(lambda: ("offline", "kit-2", "") in open_alerts(book), 20, "kit-2 silent")
        wait_until(lambda: outbox(book) == 0, 30, "the outbox to empty")
    finally:
        stop(second)
    serves = next(x for x in (tmp_path / "gateway.log").read_text().splitlines() if "serves" in x)
    webhook = f"webhook http://127.0.0.1:{fast_alerts}"
    assert f"alerts to {webhook} and MQTT lokaalmeten/+/alerts" in serves
    assert "/hooks/" not in serves  # a webhook's path may be its secret
    made = events(book)
    assert len(made) >= 5  # raised, resolved; dead pm10, kit-1 and kit-2 offline
    assert receiver.accepted == Counter(dict.fromkeys(made, 1))
    assert receiver.without_key == 0 and receiver.mismatched == 0
    changes = {
        (d["change"], d["alert"]["kind"], d["alert"]["node"]) for d in receiver.bodies.values()
    }
    assert ("raised", "dead_sensor", "kit-2") in changes
    assert ("resolved", "offline", "kit-1") in changes
    wait_until(lambda: watcher.ids() == set(made), 10, "the MQTT watcher to see every event")
    assert watcher.retained == 0
    watcher.close()
    receiver.close()
    kit.loop_stop()

    settings = ServerSettings(store=f"sqlite:///{tmp_path / 'lm.db'}", registry=str(book))
    with TestClient(create_app(settings)) as client:
        nodes = {n["node"]: n for n in client.get("/v1/nodes").json()["value"]}
        one = client.get("/v1/nodes/kit-2").json()
    assert [(a["kind"], a["quantity"]) for a in nodes["kit-1"]["alerts"]] == [("offline", None)]
    assert {(a["kind"], a["quantity"]) for a in nodes["kit-2"]["alerts"]} == {
        ("dead_sensor", "pm10"),
        ("offline", None),
    }
    assert one["alerts"] == nodes["kit-2"]["alerts"]
    dead = next(a for a in one["alerts"] if a["kind"] == "dead_sensor")
    assert dead["since"].endswith("Z") and "no pm10" in dead["message"]


def test_metrics_and_the_alert_topic_through_the_brokers_acl(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    gateway_token = registry.add("gateway", role="gateway")
    operator_token = registry.add("operator", role="gateway")
    kit_token = registry.add("kit-1")
    passwd, acl = registry.write_mosquitto_files(tmp_path / "broker")
    registry.close()
    broker = Mosquitto.start(tmp_path / "broker", auth=(passwd, acl))
    settings = settings_for(broker, tmp_path, alert_check_interval=0.2).model_copy(
        update={"broker": f"mqtt://gateway:{gateway_token}@127.0.0.1:{broker.port}"}
    )
    running = RunningGateway(Gateway(settings))
    watcher = Watcher(broker, ("operator", operator_token))
    kit = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="kit-1")
    kit.username_pw_set("kit-1", kit_token)
    kit.connect("127.0.0.1", broker.port)
    kit.loop_start()
    try:
        # The quality stage (gateway/quality.py) calls the twentieth equal PM value stuck.
        for seq in range(1, 21):
            publish(
                kit,
                "lokaalmeten/kit-1/readings",
                record("kit-1", seq, f"2026-11-27T10:{seq:02d}:00Z", pm25=99.9),
            )
        wait_until(lambda: len(watcher.events) >= 1, 10, "the stuck alert on the alerts topic")
        (doc,) = watcher.events
        assert doc["change"] == "raised" and doc["alert"]["kind"] == "stuck"
        assert doc["alert"]["quantity"] == "pm25" and doc["alert"]["node"] == "kit-1"
        with TestClient(create_ingest_app(running.gateway)) as client:

            def metrics() -> str:
                text: str = client.get("/metrics").text
                return text

            # The watcher may see the event a moment before the gateway has its PUBACK.
            wait_until(
                lambda: 'lokaalmeten_gateway_alert_outbox{sink="mqtt"} 0.0' in metrics(),
                10,
                "the event to leave the outbox",
            )
            text = metrics()
        assert 'lokaalmeten_gateway_alerts_open{kind="stuck"} 1.0' in text
        assert 'lokaalmeten_gateway_alerts_open{kind="offline"} 0.0' in text
        publish(
            kit,
            "lokaalmeten/kit-1/readings",
            record("kit-1", 21, "2026-11-27T10:21:00Z", pm25=12.0),
        )
        wait_until(lambda: len(watcher.events) >= 2, 10, "the resolved event")
        assert watcher.events[1]["change"] == "resolved"
        assert watcher.events[1]["alert"]["id"] == doc["alert"]["id"]
        for seq in range(22, 26):  # PM10 implausible (saturated) four times: on the timer
            publish(
                kit,
                "lokaalmeten/kit-1/readings",
                record("kit-1", seq, f"2026-11-27T10:{seq:02d}:00Z", pm10=995.0),
            )
        wait_until(lambda: len(watcher.events) >= 3, 10, "the persistent flags alert")
        assert watcher.events[2]["alert"]["kind"] == "persistent_flags"
        assert (
            "4 of its last hour's 4 pm10 readings (100%)" in watcher.events[2]["alert"]["message"]
        )
    finally:
        with contextlib.suppress(Exception):
            kit.disconnect()
            kit.loop_stop()
        watcher.close()
        running.stop()
        broker.stop()


def test_without_a_webhook_events_wait_only_for_mqtt(tmp_path: Path) -> None:
    settings = GatewaySettings(
        registry=str(tmp_path / "registry.db"),
        spool=str(tmp_path / "spool.db"),
        store=f"sqlite:///{tmp_path / 'lm.db'}",
    )
    gateway = Gateway(settings)
    try:
        assert gateway.alert_book.sinks == ("mqtt",)
    finally:
        gateway.spool.close()
        gateway.alert_book.close()
        gateway.directory.close()
        for store in gateway.stores:
            store.close()


def test_a_failing_webhook_is_logged_by_its_origin_not_its_secret_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    book = AlertBook(tmp_path / "registry.db", ["webhook"])
    book.raise_alert(AlertKey("offline", "kit-1"), "Kit kit-1 sends nothing.", 1_795_737_600)
    port = free_port()  # nothing listens there
    shutdown = Shutdown()
    sender = WebhookSender(book, f"http://127.0.0.1:{port}/hooks/T0/s3cr3t?k=v", shutdown, 0.2)
    thread = threading.Thread(target=sender.run)
    thread.start()
    wait_until(lambda: "unreachable" in caplog.text, 10, "the outage to be logged")
    shutdown.request()
    thread.join(5)
    assert f"alert webhook http://127.0.0.1:{port} unreachable" in caplog.text
    assert "s3cr3t" not in caplog.text
    assert book.outbox_depth() == {"webhook": 1}  # kept for the next try
    book.close()


def test_an_acl_from_before_the_alerts_is_warned_about_and_written_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry, broker = tmp_path / "registry.db", tmp_path / "mosquitto"
    for args in (["gateway", "--gateway"], ["kit-1"]):
        out = lm("nodes", "add", *args, "--registry", str(registry), "--mosquitto-dir",
                 str(broker))  # fmt: skip
        assert out.returncode == 0, out.stderr
    acl = broker / "acl"
    passwd = (broker / "passwd").read_text()
    older = "".join(line for line in acl.read_text().splitlines(True) if "alerts" not in line)
    acl.write_text(older)  # as a lokaalmeten before the alerts wrote it
    settings = GatewaySettings(
        registry=str(registry),
        spool=str(tmp_path / "spool.db"),
        store=f"sqlite:///{tmp_path / 'lm.db'}",
        mosquitto_dir=str(broker),
    )

    def warned() -> list[str]:
        caplog.clear()
        gateway = Gateway(settings)
        gateway.spool.close()
        gateway.alert_book.close()
        gateway.directory.close()
        for store in gateway.stores:
            store.close()
        return [r.getMessage() for r in caplog.records if "ACL" in r.getMessage()]

    (warning,) = warned()
    assert "lokaalmeten nodes acl" in warning and "topic write lokaalmeten/+/alerts" in warning
    out = lm("nodes", "acl", "--registry", str(registry), "--mosquitto-dir", str(broker))
    assert out.returncode == 0, out.stderr
    assert "topic write lokaalmeten/+/alerts" in acl.read_text()
    assert (broker / "passwd").read_text() == passwd  # no account changed
    assert warned() == []
    out = lm("nodes", "acl", "--registry", str(registry))
    assert out.returncode == 2 and "--mosquitto-dir" in out.stderr
    assert "Traceback" not in out.stderr
