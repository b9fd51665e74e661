"""Kit to API: firmware under MicroPython -> Mosquitto -> gateway -> SQLite -> server.

Every part is the real program: the kits are the firmware's own code in the MicroPython
interpreter, the gateway and server run as the `lokaalmeten` command would run them.
"""

from __future__ import annotations

import itertools
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
from lokaalmeten.store import open_store
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
    open_store(store).close()  # the server refuses a store that does not exist yet
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
                "--registry",
                str(tmp_path / "registry.db"),
                "--ingest-port",
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
        # The gateway's session is new: what a kit publishes before it subscribed is not kept.
        wait_until(
            lambda: "subscribed to" in (tmp_path / "services.log").read_text(),
            20,
            "the gateway to subscribe",
        )
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


def test_records_made_before_ntp_answered_reach_the_api_with_their_real_time(
    mosquitto: Mosquitto, pipeline: str, micropython: str, tmp_path: Path
) -> None:
    """NTP answers only at its third try (two minutes in): the first records wait in the
    outbox and are dated from the kit's uptime clock, then stored at their real time with
    the flag time_backdated; the simulated clock says what each record's time really is."""
    events: list[dict[str, Any]] = []
    plan = KitPlan(
        kits=1, host="127.0.0.1", port=mosquitto.port, interval=10.0, cycles=20, fast=True,
        prefix="late", folder=tmp_path / "kits", options=("ntp=fail:2",),
    )  # fmt: skip
    results = run_kits(plan, events.append)
    assert [(r.published, r.exit_code) for r in results] == [(20, 0)], results
    recorded = [e for e in events if e["event"] == "recorded"]
    synced = next(i for i, e in enumerate(events) if e["event"] == "ntp_synced")
    sync_time = events[synced]["time"]
    before = [e for e in recorded if e["time"] is None]
    assert len(before) >= 10, recorded  # made in the two minutes NTP did not answer
    # The simulated clock runs one interval per record: record n ends at sync_time minus the
    # intervals between it and the first record after the sync.
    first_after = next(e for e in recorded if e["time"] is not None)
    expected = {
        e["seq"]: first_after["time"] - 10 * (first_after["seq"] - e["seq"]) for e in before
    }
    published = {e["seq"]: e["time"] for e in events if e["event"] == "published"}
    for seq, when in expected.items():
        assert published[seq] is not None and abs(published[seq] - when) <= 1, (seq, when)
    assert all(published[e["seq"]] <= sync_time for e in before)

    def stored() -> dict[int, tuple[str, list[str]]]:
        from datetime import datetime

        rows = api_readings(pipeline, "late-1", min(expected.values()) - 60, sync_time + 600)
        return {
            int(datetime.fromisoformat(r["time"]).timestamp()): (r["quantity"], r["flags"])
            for r in rows
            if r["quantity"] == "pm25"
        }

    wait_until(lambda: len(stored()) >= 20, 15, "the records in the API")
    rows = stored()
    warming = []
    for seq, when in sorted(expected.items()):
        assert abs(min(rows, key=lambda t: abs(t - when)) - when) <= 1, (when, sorted(rows))
        flags = rows[min(rows, key=lambda t: abs(t - when))][1]
        assert flags in (["time_backdated"], ["time_backdated", "warming_up"]), (seq, flags)
        if "warming_up" in flags:
            warming.append(seq)
    # The records of the first 30 s after the start (one per 10 s): the PM fan's warm-up.
    assert warming == [1, 2], warming
    assert rows[first_after["time"]][1] == []  # made after NTP answered: no flag


def test_records_of_a_kit_that_never_reaches_ntp_go_undated_after_ten_minutes(
    mosquitto: Mosquitto, pipeline: str, tmp_path: Path
) -> None:
    """No NTP at all: the kit holds its records for ten minutes of network, then sends them
    with ``"time": null`` and their age; the gateway stores them at its receive time less
    that age, flagged, so the backlog keeps its one-minute spacing (not one second for all).
    Ten records of a minute: under ``fast`` the kit's clock runs ahead of the gateway's, so
    only a backlog sent in one go can show the gateway's dating."""
    events: list[dict[str, Any]] = []
    plan = KitPlan(
        kits=1, host="127.0.0.1", port=mosquitto.port, interval=60.0, cycles=10, fast=True,
        prefix="nontp", folder=tmp_path / "kits", options=("ntp=fail",),
    )  # fmt: skip
    started = int(time.time())
    results = run_kits(plan, events.append)
    assert [(r.published, r.exit_code) for r in results] == [(10, 0)], results
    order = [e["event"] for e in events if e["event"] in ("recorded", "published")]
    assert order == ["recorded"] * 10 + ["published"] * 10, order  # held for ten minutes
    assert all(e["time"] is None for e in events if e["event"] == "published")

    def pm25() -> list[dict[str, Any]]:
        rows = api_readings(pipeline, "nontp-1", started - 3600, started + 3600)
        return [r for r in rows if r["quantity"] == "pm25"]

    wait_until(lambda: len(pm25()) == 10, 15, "the ten records in the API")
    rows = pm25()
    # Each is time_estimated; PM of a minute in fog (95 % humidity or more) is flagged too.
    every = api_readings(pipeline, "nontp-1", started - 3600, started + 3600)
    humidity = {r["time"]: r["value"] for r in every if r["quantity"] == "humidity"}
    assert [r["flags"] for r in rows] == [
        ["time_estimated", "high_humidity"] if humidity[r["time"]] >= 95 else ["time_estimated"]
        for r in rows
    ]
    from datetime import datetime

    times = sorted(int(datetime.fromisoformat(r["time"]).timestamp()) for r in rows)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(59 <= gap <= 61 for gap in gaps), gaps
    assert abs(times[-1] - time.time()) < 30  # the last one was made as it was sent
