"""Replaying the quarantine: spools made before it could be replayed, and HTTP input, which
needs what its request said beside the body."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lokaalmeten.cli import app
from lokaalmeten.gateway.http_ingest import create_ingest_app
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.gateway.spool import QUARANTINE_COLUMNS, Spool
from lokaalmeten.protocol.sensor_community import VALUE_TYPES, ValueType
from lokaalmeten.readings import Reading
from tests.gateway.test_http_ingest import make_gateway, spooled
from tests.helpers import record
from tests.test_cli import lm

T0 = 1795737600  # 2026-11-27T00:00:00Z

# The spool as the first release made it: a quarantine without the columns a replay needs.
FIRST_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, quantity TEXT NOT NULL,
    time INTEGER NOT NULL, value REAL NOT NULL, sensor TEXT, flags INTEGER NOT NULL
);
CREATE TABLE cursor (consumer TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at INTEGER NOT NULL, source TEXT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB NOT NULL
);
CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO cursor VALUES ('sqlite:lm.db', 0);
"""
PARTLY = record("kit-1", 2, "2026-11-27T00:01:00Z", pm25=6.0, humidity=150.0)


def first_release_spool(folder: Path) -> Path:
    """A spool of the first release, with an unregistered kit's record and a record of which
    one value was out of range (its pm25 went to the store then)."""
    path = folder / "spool.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(FIRST_SCHEMA)
        conn.executemany(
            "INSERT INTO quarantine (received_at, source, reason, detail, payload)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (T0 + 5, "lokaalmeten/kit-9/readings", "unknown_node", "kit-9 is not registered",
                 record("kit-9", 1, "2026-11-27T00:00:00Z", pm25=7.5)),
                (T0 + 65, "lokaalmeten/kit-1/readings", "out_of_range",
                 "kit-1: left out humidity=150.0", PARTLY),
            ],
        )  # fmt: skip
    conn.close()
    return path


def columns(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        names = {row[1] for row in conn.execute("PRAGMA table_info(quarantine)")}
    conn.close()
    return names


def test_the_gateway_adds_the_new_columns_to_an_old_quarantine_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = first_release_spool(tmp_path)
    assert not set(QUARANTINE_COLUMNS) & columns(path)
    spool = Spool(path, ["sqlite:lm.db"])
    assert set(QUARANTINE_COLUMNS) <= columns(path)
    assert [(r.reason, r.payload) for r in reversed(spool.quarantined())] == [
        ("unknown_node", record("kit-9", 1, "2026-11-27T00:00:00Z", pm25=7.5)),
        ("out_of_range", PARTLY),
    ]
    spool.close()
    Spool(path, ["sqlite:lm.db"]).close()  # opening it again changes nothing
    assert set(QUARANTINE_COLUMNS) <= columns(path)


def test_an_old_spool_is_listed_shown_and_replayed(tmp_path: Path) -> None:
    path = first_release_spool(tmp_path)
    registry = tmp_path / "registry.db"
    Registry(registry).add("kit-1")
    common = ["--spool", str(path), "--registry", str(registry)]
    out = lm("quarantine", "list", "--spool", str(path))
    assert out.returncode == 0, out.stderr
    assert "2 entries waiting" in out.stdout and "unknown_node  1" in out.stdout
    assert '"humidity": 150.0' in lm("quarantine", "show", "2", "--spool", str(path)).stdout
    out = lm("quarantine", "replay", "--all", "--dry-run", *common)
    assert "dry run, nothing changed: replayed 2: 1 readings stored" in out.stdout, out.stderr
    assert not set(QUARANTINE_COLUMNS) & columns(path)  # reading changes nothing

    Registry(registry).add("kit-9")
    out = lm("quarantine", "replay", "--all", *common)
    assert out.returncode == 0, out.stderr
    # This spool cannot know that kit-1's pm25 reached the store: it is sent again, and the
    # store keeps it once (its identity: node, quantity, time).
    assert "replayed 2: 2 readings stored, 1 still refused (out_of_range 1)" in out.stdout
    spool = Spool(path, ["sqlite:lm.db"])
    assert sorted(reading for _, reading in spool.take("sqlite:lm.db", 10)) == [
        Reading("kit-1", "pm25", T0 + 60, 6.0),
        Reading("kit-9", "pm25", T0, 7.5),
    ]
    spool.close()
    out = lm("quarantine", "replay", "--all", *common)  # now it knows
    assert "replayed 1: 0 readings stored, 1 still refused (out_of_range 1)" in out.stdout


NODE = "esp8266-12345678"


def test_http_input_is_replayed_with_what_its_request_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = make_gateway(tmp_path)
    assert gateway.registry is not None
    auth = (NODE, gateway.registry.add(NODE))
    # No esp8266id in the body: only the X-Sensor header names the kit. SEN5X_P4 is a value
    # type the gateway does not map (yet).
    own_api = json.dumps(
        {
            "software_version": "NRZ-2024-135",
            "sensordatavalues": [
                {"value_type": "SDS_P1", "value": "12.30"},
                {"value_type": "SEN5X_P4", "value": "4.20"},
            ],
        }
    )
    lines = f"feinstaub,node={NODE} SDS_P2=8.10,SEN5X_P4=3.90 {T0}\n"
    with TestClient(create_ingest_app(gateway)) as client:
        answer = client.post("/airrohr", content=own_api, auth=auth, headers={"X-Sensor": NODE})
        assert answer.json()["refused"][0]["reason"] == "unknown_value_type"
        assert client.post("/write?precision=s", content=lines, auth=auth).status_code == 204
    live = spooled(gateway)
    assert sorted((r.quantity, r.value) for r in live) == [("pm10", 12.3), ("pm25", 8.1)]
    received = next(r.time for r in live if r.quantity == "pm10")
    assert [r.reason for r in gateway.spool.quarantined()] == ["unknown_value_type"] * 2

    # The fix: a mapping for the new sensor's value type.
    monkeypatch.setitem(VALUE_TYPES, "SEN5X_P4", ValueType("pm4", "SEN5x"))
    common = ["--spool", str(tmp_path / "spool.db"), "--registry", str(tmp_path / "registry.db")]
    result = CliRunner().invoke(app, ["quarantine", "replay", "--all", "-v", *common])
    assert result.exit_code == 0, result.output
    assert "replayed 2: 2 readings stored, 0 still refused" in result.output
    assert "(http:/airrohr): 1 readings, accepted" in result.output
    replayed = [r for r in spooled(gateway) if r not in live]
    assert sorted(replayed) == [
        Reading(NODE, "pm4", T0, 3.9, "SEN5x"),  # the line's own time, in seconds
        Reading(NODE, "pm4", received, 4.2, "SEN5x"),  # airRohr: the time it was received
    ]
    gateway.spool.close()
