"""The kit runtime under the real MicroPython interpreter against a real Mosquitto.

Store-and-forward through a broker outage, a kill in the middle of an outbox write, and the
set-up portal's form round trip. Each kit is ``firmware/sim/simkit.py`` as ``lokaalmeten
simulate`` runs it: compiled with mpy-cross, 64 KB heap, fake radio and real sockets.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.simulate import compile_firmware, default_heap, micropython_env
from tests.helpers import wait_until

pytestmark = [pytest.mark.micropython, pytest.mark.mosquitto]


class KitProcess:
    """One simkit process; its JSON events are collected as they arrive."""

    def __init__(self, micropython: str, work: Path, *options: str, heap: str = "") -> None:
        env = micropython_env(fakes=True, compiled=compile_firmware(work / ".firmware"))
        heap = heap or default_heap("sim")
        self.process = subprocess.Popen(
            [micropython, "-X", f"heapsize={heap}", "-m", "simkit", *options],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._follow, daemon=True)
        self.reader.start()

    def _follow(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "output", "text": line}
            with self.lock:
                self.events.append(event)

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e.get("event") == kind]

    def wait(self, kind: str, count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.of(kind)) >= count, timeout, f"{count} {kind} events")
        return self.of(kind)

    def finish(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        self.reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read() if self.process.poll() is not None else ""


class Subscriber:
    """A persistent-session QoS 1 subscriber: it keeps its messages across broker restarts."""

    def __init__(self, port: int, topic: str = "lokaalmeten/+/readings") -> None:
        self.messages: queue.Queue[bytes] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}", clean_session=False
        )
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = lambda c, u, m: self.messages.put(bytes(m.payload))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda c, u, mid, rc, p: subscribed.set()
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def collect(self, seqs: int, timeout: float) -> list[dict[str, Any]]:
        """Every message that arrives until ``seqs`` distinct records were seen."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len({doc["seq"] for doc in found}) < seqs and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                found.append(json.loads(self.messages.get(timeout=0.1)))
        return found

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def kits(tmp_path: Path, micropython: str) -> Iterator[list[KitProcess]]:
    started: list[KitProcess] = []
    yield started
    for kit in started:
        kit.kill()


def test_a_broker_outage_loses_nothing_and_keeps_order_and_timestamps(
    mosquitto: Mosquitto, micropython: str, tmp_path: Path, kits: list[KitProcess]
) -> None:
    subscriber = Subscriber(mosquitto.port)
    kit = KitProcess(
        micropython, tmp_path, "node=out-1", f"folder={tmp_path / 'flash'}",
        f"port={mosquitto.port}", "interval=1", "cycles=12",
    )  # fmt: skip
    kits.append(kit)
    kit.wait("published", 3)
    mosquitto.stop()
    outage_start = len(kit.of("recorded"))
    kit.wait("recorded", outage_start + 4)  # four cycles with the broker away
    assert len(kit.of("published")) <= outage_start + 1
    mosquitto.restart()
    assert kit.finish() == 0, kit.stderr()
    assert kit.of("broker_unreachable") or kit.of("publish_failed")
    received = subscriber.collect(12, 15)
    subscriber.close()
    recorded = {e["seq"]: e["time"] for e in kit.of("recorded")}
    assert sorted(recorded) == list(range(1, 13))
    first_seen: list[int] = []
    copies: dict[int, dict[str, Any]] = {}
    for doc in received:
        if doc["seq"] in copies:
            assert doc == copies[doc["seq"]], "a duplicate must be an exact repeat"
        else:
            copies[doc["seq"]] = doc
            first_seen.append(doc["seq"])
    assert first_seen == list(range(1, 13)), first_seen  # every record, in order
    for seq, doc in copies.items():
        # The time is the one the record got when it was made, not when it was sent.
        assert doc["time"] is not None
        stamped = int(time.mktime(time.strptime(doc["time"], "%Y-%m-%dT%H:%M:%SZ")))
        assert stamped - time.mktime(time.gmtime(0)) == recorded[seq]
    times = [copies[s]["time"] for s in first_seen]
    assert times == sorted(set(times))  # distinct seconds


def test_a_kill_in_the_middle_of_an_outbox_write_loses_at_most_that_record(
    mosquitto: Mosquitto, micropython: str, tmp_path: Path, kits: list[KitProcess]
) -> None:
    flash = tmp_path / "flash"
    closed = free_port()  # no broker there: every record stays in the outbox
    first = KitProcess(
        micropython, tmp_path, "node=cut-1", f"folder={flash}", f"port={closed}",
        "interval=60", "cycles=10", "fast=1", "pause_at=6",
    )  # fmt: skip
    kits.append(first)
    first.wait("pausing_in_write")
    first.kill()  # SIGKILL: payload of record 6 on flash, its commit marker not
    assert [e["seq"] for e in first.of("recorded")] == [1, 2, 3, 4, 5]
    segments = list((flash / "outbox").glob("*.seg"))
    assert segments and segments[0].stat().st_size > 0

    subscriber = Subscriber(mosquitto.port)
    second = KitProcess(
        micropython, tmp_path, "node=cut-1", f"folder={flash}", f"port={mosquitto.port}",
        "interval=60", "cycles=2", "fast=1",
    )  # fmt: skip
    kits.append(second)
    assert second.finish() == 0, second.stderr()
    received = subscriber.collect(7, 15)
    subscriber.close()
    # Records 1-5 from before the kill, intact and in order; the cut record 6 never leaves
    # the kit; the next boot numbers its records from the last whole one.
    assert [d["seq"] for d in received] == [1, 2, 3, 4, 5, 6, 7]
    assert all(d["node"] == "cut-1" and d["values"] for d in received)
    assert [e["seq"] for e in second.of("recorded")] == [6, 7]
    before = {e["seq"]: e["time"] for e in first.of("recorded")}
    assert [d["time"] is not None for d in received] == [True] * 7
    assert len({d["time"] for d in received}) == 7
    assert sorted(before) == [1, 2, 3, 4, 5]


def test_the_portal_form_updates_the_configuration_and_refuses_bad_input(
    mosquitto: Mosquitto, micropython: str, tmp_path: Path, kits: list[KitProcess]
) -> None:
    flash = tmp_path / "flash"
    portal_port = free_port()
    kit = KitProcess(
        micropython, tmp_path, "node=new-1", f"folder={flash}", f"port={mosquitto.port}",
        "interval=1", "wifi=none", f"portal_port={portal_port}",
    )  # fmt: skip
    kits.append(kit)
    assert kit.wait("portal_open")[0]["ssid"] == "lokaalmeten-new-1"
    base = f"http://127.0.0.1:{portal_port}"
    page = httpx.get(base + "/", timeout=10)
    assert page.status_code == 200 and "<form" in page.text and "wifi_ssid" in page.text
    assert "not connected" in page.text  # status: no Wi-Fi yet
    assert "<MAC>" not in page.text and "esp32-&lt;MAC&gt;" in page.text  # escaped
    before = (flash / "config.json").read_text()

    bad = httpx.post(base + "/", data={"wifi_ssid": "sim-wifi", "interval_s": "often"}, timeout=10)
    assert bad.status_code == 400
    assert "interval_s" in bad.text and "must be a number" in bad.text
    assert (flash / "config.json").read_text() == before  # the old settings still apply

    bad = httpx.post(
        base + "/", data={"wifi_ssid": "sim-wifi", "sensors": "sds012 uart=2"}, timeout=10
    )
    assert bad.status_code == 400 and "sds012" in bad.text
    assert (flash / "config.json").read_text() == before

    good = httpx.post(
        base + "/",
        data={
            "node": "new-1",
            "wifi_ssid": "sim-wifi",
            "wifi_password": "simulated",
            "gateway_host": "127.0.0.1",
            "gateway_port": str(mosquitto.port),
            "interval_s": "2",
            "latitude": "52.0907",
            "longitude": "5.1214",
            "sensors": "sim-pm\nsim-climate",
            "calibration": "temperature=-0.5",
        },
        timeout=10,
    )
    assert good.status_code == 200 and "Saved" in good.text
    saved = json.loads((flash / "config.json").read_text())
    assert saved["wifi_ssid"] == "sim-wifi" and saved["interval_s"] == 2
    assert saved["gateway_port"] == mosquitto.port and saved["latitude"] == 52.0907
    assert saved["sensors"] == [
        {"type": "sim-pm", "i2c": 0, "sda": 21, "scl": 22},
        {"type": "sim-climate", "i2c": 0, "sda": 21, "scl": 22},
    ]
    assert saved["calibration"] == {"temperature": -0.5}
    # Applied without re-flashing: the kit restarts, joins the network and publishes.
    kit.wait("wifi_up")
    kit.wait("published", 1, timeout=30)


def test_status_is_retained_online_with_counters_and_the_last_will_says_offline(
    mosquitto: Mosquitto, micropython: str, tmp_path: Path, kits: list[KitProcess]
) -> None:
    kit = KitProcess(
        micropython, tmp_path, "node=st-1", f"folder={tmp_path / 'flash'}",
        f"port={mosquitto.port}", "interval=1",
    )  # fmt: skip
    kits.append(kit)
    kit.wait("published", 2)
    status = Subscriber(mosquitto.port, "lokaalmeten/st-1/status")
    online = json.loads(status.messages.get(timeout=10))  # the retained one, at once
    assert online["state"] == "online" and online["fw"]
    assert {"seq", "queued", "published", "dropped", "reconnects"} <= set(online["counters"])
    kit.kill()  # no DISCONNECT: the broker publishes the Last Will
    offline = json.loads(status.messages.get(timeout=120))
    status.close()
    assert offline == {"v": 1, "state": "offline", "fw": online["fw"]}
