"""Quality flags end to end: a kit's records through a real Mosquitto into the gateway and its
SQLite store come out with their flags and their raw values; both stores keep the flags."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.gateway.http_ingest import create_ingest_app
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.quality import QualityStage
from lokaalmeten.gateway.spool import Refusal, Spool
from lokaalmeten.readings import Reading, flag_names, iso_utc
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.store import ReadingQuery, Store
from tests.gateway.harness import RunningGateway, publish, publisher, settings_for, stored
from tests.gateway.test_airrohr import COMBINED
from tests.gateway.test_http_ingest import bearer, make_gateway, spooled
from tests.helpers import wait_until
from tests.test_cli import lm

T0 = 1795737600  # 2026-11-27T00:00:00Z


def kit_record(seq: int, values: dict[str, float], uptime_ms: int, **extra: Any) -> bytes:
    doc = {
        "v": 1,
        "node": "kit-q",
        "seq": seq,
        "time": iso_utc(T0 + 60 * seq),
        "values": values,
        "sensors": {"pm25": "SDS011", "temperature": "BME280", "humidity": "BME280"},
        "uptime": [1, uptime_ms],
        **extra,
    }
    return json.dumps(doc).encode()


@pytest.mark.mosquitto
def test_flags_set_at_ingest_reach_the_store_with_the_raw_values(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    running = RunningGateway(Gateway(settings_for(mosquitto, tmp_path)))
    try:
        client = publisher(mosquitto)
        sent: dict[tuple[str, int], float] = {}
        for seq in range(1, 31):
            values = {
                "pm25": 12.34,  # frozen: stuck from the 20th record on
                "temperature": 8.0 + (seq % 4) / 10,
                "humidity": 96.0 if seq == 10 else 94.5,  # one minute of fog (95 %)
            }
            if seq == 25:
                values["temperature"] = 27.0  # a spike
            if seq == 28:
                values["temperature"] = 61.0  # implausible, but not impossible
            for quantity, value in values.items():
                sent[(quantity, T0 + 60 * seq)] = value
            # The first record comes 10 s after the start: the PM fan was still spinning up.
            body = kit_record(seq, values, 10_000 + 60_000 * (seq - 1))
            publish(client, "lokaalmeten/kit-q/readings", body)
        client.loop_stop()
        client.disconnect()
        db = tmp_path / "lm.db"
        wait_until(lambda: db.exists() and len(stored(db)) == 90, 15, "90 readings stored")
    finally:
        running.stop()
    readings = stored(db)
    assert {(r.quantity, r.time): r.value for r in readings} == sent  # raw values untouched
    flagged = {(r.quantity, (r.time - T0) // 60): flag_names(r.flags) for r in readings if r.flags}
    assert flagged == {
        ("pm25", 1): ["warming_up"],
        ("pm25", 10): ["high_humidity"],
        **{("pm25", seq): ["stuck"] for seq in range(20, 31)},
        ("temperature", 25): ["spike"],
        ("temperature", 28): ["implausible"],
    }


def test_each_store_keeps_the_flags_and_the_raw_value(store: Store) -> None:
    stage = QualityStage()
    kept = [
        Reading("kit-1", "humidity", T0, 96.5, "SHT4x"),
        Reading("kit-1", "pm25", T0, 31.25, "SDS011", 4),  # backdated, and in fog
        Reading("kit-1", "temperature", T0, 55.5, "SHT4x"),
    ]
    flagged = stage.flag(kept, uptime_s=12.0)
    assert [flag_names(r.flags) for r in flagged] == [
        [],
        ["time_backdated", "high_humidity", "warming_up"],
        ["implausible"],
    ]
    store.write(flagged)
    back = store.readings(ReadingQuery(start=0, end=2**34, limit=100))
    assert sorted(back) == sorted(flagged)
    assert [r.value for r in sorted(back)] == [96.5, 31.25, 55.5]


def test_the_http_paths_flag_the_same_way(tmp_path: Path) -> None:
    """Our records over HTTP and an unchanged airRohr kit's JSON reach the same stage."""
    gateway = make_gateway(tmp_path)
    assert gateway.registry is not None
    kit_token = gateway.registry.add("kit-q")
    airrohr_token = gateway.registry.add("esp8266-12345678")
    humid = COMBINED.replace(b'"55.20"', b'"97.40"')
    with TestClient(create_ingest_app(gateway)) as client:
        body = kit_record(1, {"pm25": 9.5, "humidity": 97.0}, 5_000)
        answer = client.post("/v1/records", content=body, headers=bearer(kit_token))
        assert answer.status_code == 200, answer.text
        answer = client.post(
            "/data.php",
            content=humid,
            headers={"X-Sensor": "esp8266-12345678", "Content-Type": "application/json"},
            auth=("esp8266-12345678", airrohr_token),
        )
        assert answer.status_code == 200, answer.text
        metrics = client.get("/metrics").text
    # The operator sees how many readings were flagged, by flag.
    assert 'lokaalmeten_gateway_flagged_total{flag="high_humidity"} 3.0' in metrics
    assert 'lokaalmeten_gateway_flagged_total{flag="warming_up"} 1.0' in metrics
    assert 'flag="stuck"' not in metrics
    flags = {(r.node, r.quantity): flag_names(r.flags) for r in spooled(gateway)}
    assert flags == {
        ("kit-q", "pm25"): ["high_humidity", "warming_up"],
        ("kit-q", "humidity"): [],
        ("esp8266-12345678", "pm10"): ["high_humidity"],  # no uptime sent: no warm-up rule
        ("esp8266-12345678", "pm25"): ["high_humidity"],
        ("esp8266-12345678", "temperature"): [],
        ("esp8266-12345678", "pressure"): [],
        ("esp8266-12345678", "humidity"): [],
    }
    gateway.spool.close()


def test_a_replay_of_the_quarantine_flags_as_the_live_ingest_does(tmp_path: Path) -> None:
    """A record refused for its unknown kit, replayed by `lokaalmeten quarantine replay`
    after the kit is registered, is spooled with the flags the live ingest would give it."""
    spool_path, registry = tmp_path / "spool.db", tmp_path / "registry.db"
    body = kit_record(1, {"pm25": 9.5, "humidity": 96.0, "temperature": 58.0}, 4_000)
    spool = Spool(spool_path, [f"sqlite:///{tmp_path / 'lm.db'}"])
    refusal = Refusal("lokaalmeten/kit-q/readings", "unknown_node", "kit-q", body, T0 + 120)
    spool.put([], [refusal])
    spool.close()
    assert lm("nodes", "add", "kit-q", "--registry", str(registry)).returncode == 0
    out = lm(
        "quarantine", "replay", "--all", "--spool", str(spool_path), "--registry", str(registry)
    )
    assert "1 readings stored" in out.stdout or "3 readings stored" in out.stdout, out.stdout
    with sqlite3.connect(spool_path) as conn:
        rows = conn.execute("SELECT quantity, value, flags FROM spool ORDER BY quantity").fetchall()
    assert [(q, v, flag_names(f)) for q, v, f in rows] == [
        ("humidity", 96.0, []),
        ("pm25", 9.5, ["high_humidity", "warming_up"]),
        ("temperature", 58.0, ["implausible"]),
    ]
