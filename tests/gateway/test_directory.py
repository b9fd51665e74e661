"""The node directory: an old registry gains it in place; operator and kit locations, the
history of moves, the exact/rounded consent, status, and the server's read-only view."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lokaalmeten.gateway.directory import (
    SCHEMA_VERSION,
    Directory,
    DirectoryError,
    DirectoryReader,
    Edit,
    KitStatus,
    Place,
    Siting,
)
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.protocol.status import StatusError, StatusReport, parse_status

# The registry schema as lokaalmeten wrote it before the directory (user_version 0).
OLD_REGISTRY = """
CREATE TABLE node (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, token_sha256 TEXT NOT NULL,
    mosquitto_hash TEXT NOT NULL, created INTEGER NOT NULL, rotated INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX node_token ON node (token_sha256);
"""


def _online(
    lat: float | None = None, lon: float | None = None, exact: bool = False
) -> StatusReport:
    where = None if lat is None or lon is None else (lat, lon, exact)
    return StatusReport("online", "0.1.0", {"seq": 4}, where)


def test_an_old_registry_gains_the_directory_in_place_and_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_REGISTRY)
    conn.close()
    registry = Registry(path)
    token = registry.add("kit-1", note="Dorpsstraat")
    registry.close()

    directory = Directory(path)
    directory.edit("kit-1", Edit(name="Balkon"))
    directory.close()
    Directory(path).close()  # a second opening changes nothing

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"node", "kit", "place"} <= tables
    conn.close()
    again = Registry(path)
    assert again.check_token("kit-1", token)
    assert [e.note for e in again.entries()] == ["Dorpsstraat"]
    passwd, _ = again.write_mosquitto_files(tmp_path / "broker")
    assert passwd.read_text().startswith("kit-1:$7$")
    assert DirectoryReader(path).entries()["kit-1"].name == "Balkon"


def test_a_newer_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(DirectoryError, match="newer lokaalmeten"):
        Directory(path)


def test_the_operators_location_wins_and_every_move_is_a_history_row(tmp_path: Path) -> None:
    directory = Directory(tmp_path / "registry.db")
    directory.report_status("kit-1", _online(52.091, 5.122), 1000, retained=False)
    assert directory.entries()["kit-1"].place == Place(52.091, 5.122, False, "kit", 1000)
    directory.report_status("kit-1", _online(52.091, 5.122), 1500, retained=False)  # not moved
    directory.report_status("kit-1", _online(52.2, 5.3), 2000, retained=False)  # moved
    directory.edit("kit-1", Edit(location=(52.3001, 5.4001)), now=3000)
    directory.report_status("kit-1", _online(52.4, 5.5), 4000, retained=False)
    entry = directory.entry("kit-1")
    assert entry is not None
    assert entry.place == Place(52.3001, 5.4001, False, "operator", 3000)
    assert entry.kit_location == (52.4, 5.5, False)  # kept beside it, not published
    assert entry.operator_location == (52.3001, 5.4001)
    directory.edit("kit-1", Edit(clear_location=True), now=5000)  # the kit's counts again
    assert directory.history("kit-1") == [
        Place(52.091, 5.122, False, "kit", 1000, 2000),
        Place(52.2, 5.3, False, "kit", 2000, 3000),
        Place(52.3001, 5.4001, False, "operator", 3000, 5000),
        Place(52.4, 5.5, False, "kit", 5000, None),
    ]
    # The kit's configuration drops its location: nothing is published any more.
    directory.report_status("kit-1", _online(), 6000, retained=False)
    assert directory.entries()["kit-1"].place is None
    assert directory.history("kit-1")[-1].until == 6000


def test_exact_needs_consent_and_precise_coordinates_and_a_move_needs_it_again(
    tmp_path: Path,
) -> None:
    directory = Directory(tmp_path / "registry.db")
    # The kit's owner chose exact in its configuration; the operator has not (yet).
    directory.report_status("kit-1", _online(52.091234, 5.121987, exact=True), 1000, False)
    entry = directory.edit("kit-1", Edit(), now=1100)
    assert entry.place is not None and not entry.place.exact
    entry = directory.edit("kit-1", Edit(exact=True), now=1200)
    assert entry.place is not None and entry.place.exact and entry.exact
    # A kit that sends rounded coordinates is never published as exact.
    other = directory.edit("kit-2", Edit(exact=True), now=1200)
    directory.report_status("kit-2", _online(52.091, 5.122), 1300, False)
    other = directory.entries()["kit-2"]
    assert other.exact and other.place is not None and not other.place.exact
    # kit-1 moves: its new place is rounded until the operator confirms again.
    directory.report_status("kit-1", _online(52.2, 5.3, exact=True), 2000, False)
    entry = directory.entries()["kit-1"]
    assert entry.place is not None and not entry.place.exact and not entry.exact
    assert directory.history("kit-1")[0].exact  # the old place was consented to
    # A location given without --exact is rounded, whatever was consented before.
    entry = directory.edit("kit-1", Edit(location=(52.5, 5.5), exact=True), now=3000)
    assert entry.place is not None and entry.place.exact
    entry = directory.edit("kit-1", Edit(location=(52.6, 5.6)), now=4000)
    assert entry.place is not None and not entry.place.exact
    # Withdrawing the consent covers the history too.
    directory.edit("kit-1", Edit(exact=False), now=5000)
    assert not any(place.exact for place in directory.history("kit-1"))


def test_status_state_times_firmware_and_counters(tmp_path: Path) -> None:
    directory = Directory(tmp_path / "registry.db")
    directory.report_status("kit-1", _online(), 1000, retained=True)  # at subscription
    assert directory.entries()["kit-1"].status == KitStatus("online", 1000, None, {"seq": 4})
    directory.report_status("kit-1", _online(), 1600, retained=False)
    directory.report_status("kit-1", StatusReport("offline", "0.1.1"), 1700, retained=False)
    entry = directory.entries()["kit-1"]
    assert entry.status == KitStatus("offline", 1700, 1700, {"seq": 4})
    assert entry.firmware == "0.1.1"
    # A retained copy of the same state after a gateway restart does not move the times.
    directory.report_status("kit-1", StatusReport("offline", "0.1.1"), 9000, retained=True)
    assert directory.entries()["kit-1"].status == KitStatus("offline", 1700, 1700, {"seq": 4})
    directory.forget_status("kit-1")
    assert directory.entries()["kit-1"].status is None


def test_operator_details_sensors_and_siting(tmp_path: Path) -> None:
    directory = Directory(tmp_path / "registry.db")
    directory.edit("kit-1", Edit(name="Dak", interval=60, indoor=False, height_m=4.5))
    directory.edit("kit-1", Edit(notes="boven de goot", description="op het dak"))
    directory.saw_sensors("kit-1", ["SDS011", "BME280"])
    directory.saw_sensors("kit-1", ["SDS011", "SPS30"])
    entry = directory.entries()["kit-1"]
    assert (entry.name, entry.description, entry.interval) == ("Dak", "op het dak", 60.0)
    assert entry.siting == Siting(indoor=False, height_m=4.5, notes="boven de goot")
    assert entry.sensors == ("BME280", "SDS011", "SPS30")
    assert directory.edit("kit-1", Edit(interval=0)).interval is None  # the network's default
    with pytest.raises(DirectoryError, match=r"latitude -90\.\.90"):
        directory.edit("kit-1", Edit(location=(91, 5)))
    with pytest.raises(DirectoryError, match="not both"):
        directory.edit("kit-1", Edit(location=(52, 5), clear_location=True))


def test_the_reader_never_writes_and_reads_while_the_gateway_writes(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    missing = DirectoryReader(path)
    assert missing.entries() == {} and missing.problem is not None
    assert not path.exists()  # mode=ro made nothing
    old = sqlite3.connect(path)
    old.executescript(OLD_REGISTRY)
    old.close()
    assert DirectoryReader(path).entries() == {}  # a registry not yet migrated

    directory = Directory(path)
    directory.edit("kit-1", Edit(name="Balkon"))
    reader = DirectoryReader(path)
    assert reader.entries()["kit-1"].name == "Balkon" and reader.problem is None
    # A write transaction held open by the gateway does not block the server's reads.
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE kit SET name = 'half-written'")
    assert reader.entries()["kit-1"].name == "Balkon"
    writer.execute("COMMIT")
    assert reader.entries()["kit-1"].name == "half-written"
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._rows("UPDATE kit SET name = 'x'")


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"{", "not JSON"),
        (b'{"v": 2, "state": "online"}', "version 1"),
        (b'{"v": 1, "state": "asleep"}', "not 'online' or 'offline'"),
        (b'{"v": 1, "state": "online", "location": {"lat": 91, "lon": 5}}', "lat must be"),
        (b'{"v": 1, "state": "online", "location": {"lat": true, "lon": 5}}', "lat must be"),
        (b'{"v": 1, "state": "online", "counters": [1]}', "counters must be"),
        (b'{"v": 1, "state": "online", "fw": 7}', "fw must be"),
        (b" " * 5000, "at most 4096"),
    ],
)
def test_bad_statuses_are_refused_with_a_reason(payload: bytes, problem: str) -> None:
    with pytest.raises(StatusError, match=problem):
        parse_status(payload)


def test_the_gateway_moves_an_old_stores_node_metadata_into_the_directory_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lokaalmeten.gateway.pipeline import Gateway
    from lokaalmeten.settings import GatewaySettings
    from lokaalmeten.store import open_store
    from tests.store.test_contract import write_old_node_meta

    url = f"sqlite:///{tmp_path / 'lm.db'}"
    with open_store(url) as store:
        write_old_node_meta(store)  # kit-1 located (exact), kit-2 only named
    directory = Directory(tmp_path / "registry.db")
    directory.edit("kit-2", Edit(name="Named here since"))
    directory.close()
    settings = GatewaySettings(
        store=url,
        spool=str(tmp_path / "spool.db"),
        registry=str(tmp_path / "registry.db"),
        require_registration=False,
    )
    with caplog.at_level("INFO", logger="lokaalmeten.gateway"):
        gateway = Gateway(settings)
    gateway.directory.close()
    gateway.spool.close()
    for output in gateway.stores:
        output.close()
    assert "moved the node metadata of 1 kits" in caplog.text
    assert "1 already described there kept theirs" in caplog.text
    entries = DirectoryReader(tmp_path / "registry.db").entries()
    moved = entries["kit-1"]
    assert (moved.name, moved.description, moved.interval) == ('Dak "Oost"', "op, het dak", 60.0)
    assert moved.place is not None and moved.place.exact  # the consent came with it
    assert entries["kit-2"].name == "Named here since"
    with open_store(url) as store:
        assert store.legacy_node_meta() == {}  # the store carries none any more


def test_a_directory_of_schema_1_gains_the_relay_and_forwarding_tables(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "registry.db"
    Directory(path).edit("esp32-0a1b2c", Edit(name="Balkon"))
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE relay_claim; DROP TABLE forward; PRAGMA user_version=1;")
    conn.close()
    directory = Directory(path)
    assert directory.entries()["esp32-0a1b2c"].name == "Balkon"
    assert directory.claim("lombok", {"esp32-0a1b2c"}, 1) == {}
    directory.forward("esp32-0a1b2c", "homeassistant", {})
    assert directory.forwarding("homeassistant") == {"esp32-0a1b2c": {}}
    directory.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()
