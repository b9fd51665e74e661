"""Kit to API: firmware under MicroPython -> Mosquitto -> gateway -> SQLite -> server.

Every part is the real program: the kits are the firmware's own code in the MicroPython
interpreter, the gateway and server run as the `lokaalmeten` command would run them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lokaalmeten.readings import iso_utc
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn, stop_all
from lokaalmeten.simulate import KitPlan, micropython_env, run_kits
from tests.helpers import wait_until

pytestmark = [pytest.mark.mosquitto, pytest.mark.micropython]

PUBLISH_TWICE = """
from kit import record, topics
from kit.mqtt import MQTTClient
client = MQTTClient("twice-1", "127.0.0.1", {port})
client.connect()
payload = record.build("twice-1", 1, 1795820400, {{"pm25": 4.25}}, {{"pm25": "SDS011"}})
client.publish(topics.readings("twice-1"), payload, qos=1)
client.publish(topics.readings("twice-1"), payload, qos=1)
# A later record: once it is visible, both copies before it have been through the gateway.
marker = record.build("twice-1", 2, 1795820460, {{"pm10": 9.5}})
client.publish(topics.readings("twice-1"), marker, qos=1)
client.disconnect()
print("sent twice")
"""


@pytest.fixture
def pipeline(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[str]:
    """Gateway and server as separate processes; yields the server's base URL."""
    store = f"sqlite:///{tmp_path / 'lm.db'}"
    port = free_port()
    lm = [sys.executable, "-m", "lokaalmeten"]
    log = (tmp_path / "services.log").open("w")
    processes = [
        spawn(
            [
                *lm,
                "gateway",
                "--broker",
                mosquitto.url,
                "--store",
                store,
                "--open",
                "--spool",
                str(tmp_path / "spool.db"),
                "--http-port",
                "0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        spawn(
            [*lm, "server", "--store", store, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        assert wait_listening("127.0.0.1", port, 20), (tmp_path / "services.log").read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_all(processes)
        log.close()


def api_readings(base: str, node: str, start: int, end: int) -> list[dict[str, Any]]:
    url: str | None = (
        f"{base}/v1/readings?node={node}&from={iso_utc(start)}&to={iso_utc(end)}&limit=1000"
    )
    found: list[dict[str, Any]] = []
    while url:
        body = httpx.get(url, timeout=10).json()
        found.extend(body["value"])
        url = body.get("@nextLink")
    return found


def test_api_returns_exactly_what_the_kits_published(
    mosquitto: Mosquitto, pipeline: str, micropython: str, tmp_path: Path
) -> None:
    events: list[dict[str, Any]] = []
    plan = KitPlan(
        kits=2,
        host="127.0.0.1",
        port=mosquitto.port,
        interval=1.0,
        cycles=3,
        prefix="e2e",
        folder=tmp_path / "kits",
    )
    results = run_kits(plan, events.append)
    assert [(r.published, r.exit_code) for r in results] == [(3, 0), (3, 0)], results
    published = {
        (e["node"], quantity, e["time"], value)
        for e in events
        if e["event"] == "published"
        for quantity, value in e["values"].items()
    }
    assert len(published) == 2 * 3 * 6

    now = int(time.time())

    def api_rows() -> set[tuple[str, str, int, float]]:
        from datetime import datetime

        return {
            (
                r["node"],
                r["quantity"],
                int(datetime.fromisoformat(r["time"]).timestamp()),
                r["value"],
            )
            for node in ("e2e-1", "e2e-2")
            for r in api_readings(pipeline, node, now - 3600, now + 3600)
        }

    wait_until(lambda: len(api_rows()) >= len(published), 15, "the readings in the API")
    assert api_rows() == published
    nodes = httpx.get(f"{pipeline}/v1/nodes").json()["value"]
    assert {n["node"]: n["readings"] for n in nodes} == {"e2e-1": 18, "e2e-2": 18}


def test_a_record_published_twice_appears_once(
    mosquitto: Mosquitto, pipeline: str, micropython: str, tmp_path: Path
) -> None:
    script = tmp_path / "twice.py"
    script.write_text(PUBLISH_TWICE.format(port=mosquitto.port))
    done = subprocess.run(
        [micropython, str(script)],
        env=micropython_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout.strip() == "sent twice", done.stderr
    day = (1795737600, 1795824000)  # 2026-11-27, UTC
    wait_until(lambda: len(api_readings(pipeline, "twice-1", *day)) >= 2, 15, "the marker")
    assert [r for r in api_readings(pipeline, "twice-1", *day) if r["quantity"] == "pm25"] == [
        {
            "node": "twice-1",
            "quantity": "pm25",
            "time": "2026-11-27T23:00:00Z",
            "value": 4.25,
            "unit": "µg/m³",
            "sensor": "SDS011",
            "flags": [],
        }
    ]
