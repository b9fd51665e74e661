"""`lokaalmeten quarantine list / show / replay` against a running gateway.

The gateway, Mosquitto and (for one test) InfluxDB are real processes; the commands run as
an operator runs them, beside the gateway. Replaying after registering a kit stores exactly
the refused readings, once; replaying again changes nothing; what is still wrong stays.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from lokaalmeten.gateway.quarantine import Quarantine
from lokaalmeten.gateway.spool import Refusal, Spool
from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.processes import stop_all
from lokaalmeten.store import ReadingQuery, open_store
from tests.gateway.harness import gateway_process, publish, publisher, stored
from tests.helpers import record, wait_until
from tests.test_cli import lm

T0 = 1795737600  # 2026-11-27T00:00:00Z


def at(minute: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 60 * minute))


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    stop_all(started)


def start_gateway(
    broker: Mosquitto, folder: Path, processes: list[subprocess.Popen[bytes]], *extra: str
) -> None:
    """A gateway that accepts registered kits only, with kit-1 registered."""
    out = lm("nodes", "add", "kit-1", "--registry", str(folder / "registry.db"))
    assert out.returncode == 0, out.stderr
    processes.append(gateway_process(broker, folder, *extra, open_network=False))
    log = folder / "gateway.log"
    wait_until(lambda: log.exists() and "subscribed to" in log.read_text(), 20, "the gateway")


def waiting(spool: Path) -> dict[str, int]:
    quarantine = Quarantine(spool)
    try:
        return quarantine.counts()
    finally:
        quarantine.close()


def table(spool: Path, name: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(spool) as conn:
        return conn.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall()


def readings(folder: Path) -> list[tuple[str, str, int, float]]:
    return sorted((r.node, r.quantity, r.time, r.value) for r in stored(folder / "lm.db"))


@pytest.mark.mosquitto
def test_replay_after_registering_the_kit_stores_exactly_the_refused_readings_once(
    mosquitto: Mosquitto, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    start_gateway(mosquitto, tmp_path, processes)
    spool = tmp_path / "spool.db"
    at_spool = ["--spool", str(spool)]
    registry = ["--registry", str(tmp_path / "registry.db")]
    client = publisher(mosquitto)
    publish(client, "lokaalmeten/kit-1/readings", record("kit-1", 1, at(0), pm25=5.0))
    # A partly bad record of a registered kit: pm25 is stored, humidity quarantined.
    partly = record("kit-1", 2, at(1), pm25=6.0, humidity=150.0)
    publish(client, "lokaalmeten/kit-1/readings", partly)
    for seq in (1, 2, 3):  # a kit not registered yet
        payload = record("kit-9", seq, at(seq), pm25=7.0 + seq, pm10=20.0 + seq)
        publish(client, "lokaalmeten/kit-9/readings", payload)
    future = record("kit-9", 4, "2099-01-01T00:00:00Z", pm25=1.0)  # its clock was wrong
    publish(client, "lokaalmeten/kit-9/readings", future)
    publish(client, "lokaalmeten/kit-8/readings", record("kit-8", 1, at(0), pm25=3.0))
    wait_until(lambda: sum(waiting(spool).values()) == 6, 10, "six quarantine entries")
    wait_until(lambda: len(readings(tmp_path)) == 2, 10, "kit-1's two readings")
    assert waiting(spool) == {"unknown_node": 4, "out_of_range": 1, "time_in_future": 1}

    out = lm("quarantine", "list", *at_spool)
    assert out.returncode == 0, out.stderr
    assert "6 entries waiting for a replay" in out.stdout
    assert "unknown_node    4" in out.stdout and "time_in_future  1" in out.stdout
    received = re.findall(r"  (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)  lokaalmeten/", out.stdout)
    assert len(received) == 6  # when the gateway received them, UTC, by its clock
    moment = datetime.fromisoformat(received[0]).timestamp()
    assert abs(moment - time.time()) < 60
    out = lm("quarantine", "list", "--reason", "unknown_node", "--source", "kit-9", *at_spool)
    lines = [line for line in out.stdout.splitlines() if "lokaalmeten/kit-9/readings" in line]
    assert len(lines) == 3 and all("kit-9 is not registered" in line for line in lines)
    first = int(lines[0].split()[0])
    out = lm("quarantine", "show", str(first), *at_spool)
    assert out.returncode == 0, out.stderr
    assert "reason    unknown_node" in out.stdout and "(MQTT)" in out.stdout
    assert '\n  "node": "kit-9",\n  "seq": 1,\n' in out.stdout  # the payload, indented

    assert lm("nodes", "add", "kit-9", *registry).returncode == 0
    before = (table(spool, "quarantine"), table(spool, "spool"), readings(tmp_path))
    out = lm("quarantine", "replay", "--all", "--dry-run", *at_spool, *registry)
    assert out.returncode == 0, out.stderr
    summary = "replayed 6: 6 readings stored, 3 still refused (out_of_range 1, time_in_future 1"
    assert f"dry run, nothing changed: {summary}, unknown_node 1)" in out.stdout
    time.sleep(1)  # a writer would have had time to deliver
    assert (table(spool, "quarantine"), table(spool, "spool"), readings(tmp_path)) == before

    # The real replay, while kit-1 goes on publishing.
    def kit1_goes_on() -> None:
        for seq in range(10, 30):
            publish(client, "lokaalmeten/kit-1/readings", record("kit-1", seq, at(seq), pm25=1.0))

    live = threading.Thread(target=kit1_goes_on)
    live.start()
    out = lm("quarantine", "replay", "--all", *at_spool, *registry)
    live.join(30)
    assert out.returncode == 0, out.stderr
    assert f"{summary}, unknown_node 1)" in out.stdout.splitlines()[-1]
    kit9 = [
        ("kit-9", q, T0 + 60 * seq, base + seq)
        for seq in (1, 2, 3)
        for q, base in (("pm10", 20.0), ("pm25", 7.0))
    ]
    wait_until(lambda: len(readings(tmp_path)) == 2 + 20 + 6, 15, "the replayed readings")
    found = readings(tmp_path)
    assert [r for r in found if r[0] == "kit-9"] == sorted(kit9)  # exactly the refused ones
    assert [r for r in found if r[:3] == ("kit-1", "pm25", T0 + 60)] == [
        ("kit-1", "pm25", T0 + 60, 6.0)
    ]
    assert waiting(spool) == {"out_of_range": 1, "time_in_future": 1, "unknown_node": 1}
    out = lm("quarantine", "list", *at_spool)
    assert "3 entries waiting" in out.stdout and "3 entries replayed earlier" in out.stdout
    assert "kit-8 is not registered" in out.stdout
    out = lm("quarantine", "list", "--replayed", *at_spool)
    assert "3 entries replayed" in out.stdout

    # Again: nothing new is sent, the store stays as it is.
    after = readings(tmp_path)
    out = lm("quarantine", "replay", "--all", *at_spool, *registry)
    assert "replayed 3: 0 readings stored, 3 still refused" in out.stdout
    out = lm("quarantine", "replay", str(first), *at_spool, *registry)
    assert out.returncode == 0, out.stderr
    assert f"entry {first} was replayed" in out.stdout and "nothing to replay" in out.stdout
    time.sleep(1.5)
    assert readings(tmp_path) == after
    assert table(spool, "spool") == []  # the writer took everything; nothing re-queued
    assert processes[0].poll() is None
    assert "Traceback" not in (tmp_path / "gateway.log").read_text()


@pytest.mark.mosquitto
@pytest.mark.influxdb
def test_a_payload_replayed_twice_is_stored_once_in_influxdb_and_sqlite(
    mosquitto: Mosquitto,
    influxdb: InfluxDB,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    url = f"influxdb://127.0.0.1:{influxdb.port}/quarantine_replay"
    start_gateway(mosquitto, tmp_path, processes, "--extra-store", url)
    spool = tmp_path / "spool.db"
    client = publisher(mosquitto)
    payload = record("kit-9", 1, at(0), pm25=7.5)
    publish(client, "lokaalmeten/kit-9/readings", payload)
    time.sleep(1.1)  # the kit sends it again, a second later: a second entry
    publish(client, "lokaalmeten/kit-9/readings", payload)
    wait_until(lambda: waiting(spool) == {"unknown_node": 2}, 10, "two entries")
    assert lm("nodes", "add", "kit-9", "--registry", str(tmp_path / "registry.db")).returncode == 0
    common = ["--spool", str(spool), "--registry", str(tmp_path / "registry.db")]
    out = lm("quarantine", "replay", "--reason", "unknown_node", *common)
    assert "replayed 2: 2 readings stored, 0 still refused" in out.stdout  # one per entry
    again = lm("quarantine", "replay", "--all", *common)
    assert again.returncode == 0 and "nothing to replay" in again.stdout
    store = open_store(url)
    try:

        def influx() -> list[tuple[str, str, int, float]]:
            rows = store.readings(ReadingQuery(0, 2**33, 10**6))
            return [(r.node, r.quantity, r.time, r.value) for r in rows]

        wait_until(lambda: len(influx()) >= 1, 15, "the reading in InfluxDB")
        time.sleep(1.5)  # the second copy has been written too
        assert influx() == [("kit-9", "pm25", T0, 7.5)]
    finally:
        store.close()
    assert readings(tmp_path) == [("kit-9", "pm25", T0, 7.5)]


def test_a_spool_that_is_not_there_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "var" / "spool.db"
    for args in (["list"], ["show", "1"], ["replay", "--all"]):
        out = lm("quarantine", *args, "--spool", str(missing), cwd=tmp_path)
        assert out.returncode == 2, out.stdout + out.stderr
        assert out.stderr.startswith(f"error: no spool at {missing}"), out.stderr
        assert "Traceback" not in out.stderr
    assert not (tmp_path / "var").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LM_")}
    env["LM_CONFIG"] = "none"
    out = lm("quarantine", "list", cwd=tmp_path, env=env)  # the default, the installed path
    assert out.returncode == 2 and "no spool at" in out.stderr and "LM_SPOOL" in out.stderr
    assert not (tmp_path / "var").exists()


def make_spool(folder: Path) -> Path:
    path = folder / "spool.db"
    spool = Spool(path, ["sqlite:lm.db"])
    refusal = Refusal("lokaalmeten/kit-9/readings", "unknown_node", "kit-9 is not registered",
                      b"\x00\x01garbage", 1795737600)  # fmt: skip
    spool.put([], [refusal])
    spool.close()
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "7"], "no entry 7 in the quarantine of"),
        (["replay", "7"], "no entry 7 in the quarantine of"),
        (["replay"], "say what to replay: entry ids, --reason R or --all"),
        (["replay", "1", "--all"], "(one of them)"),
        (["replay", "--all", "--registry", "nowhere.db"], "no registry at"),
        (["list", "--limit", "0"], "Invalid value"),
        (["show", "one"], "Invalid value"),
    ],
)
def test_bad_input_is_one_error_line(tmp_path: Path, args: list[str], message: str) -> None:
    spool = make_spool(tmp_path)
    out = lm("quarantine", *args, "--spool", str(spool), cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "nowhere.db").exists()


def test_a_file_that_is_no_spool_is_named_as_such(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    store = tmp_path / "lm.db"
    with sqlite3.connect(store) as conn:
        conn.execute("CREATE TABLE reading (x)")
    for path, message in (
        (garbage, f"cannot read the spool {garbage}: file is not a database"),
        (store, f"{store} is not a gateway spool (it has no quarantine table)"),
        (tmp_path, f"{tmp_path} is not a file"),
    ):
        out = lm("quarantine", "list", "--spool", str(path))
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    assert garbage.read_bytes() == b"not a database at all" * 100


def test_show_prints_a_payload_that_is_not_text_in_hex(tmp_path: Path) -> None:
    spool = make_spool(tmp_path)
    env = {**os.environ, "LM_SPOOL": str(spool)}  # the spool from the settings
    out = lm("quarantine", "show", "1", env=env)
    assert out.returncode == 0, out.stderr
    assert "payload   9 bytes, binary, shown in hex:\n00000000  00 01 67 61 72 62" in out.stdout
    assert "received  2026-11-27T00:00:00Z" in out.stdout
    out = lm("quarantine", "list", "--reason", "schema", env=env)
    assert out.returncode == 0 and "no refused input waiting matches --reason schema" in out.stdout
