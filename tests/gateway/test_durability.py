"""Nothing lost: a steady QoS 1 stream survives gateway kills, an InfluxDB outage and a
broker restart; every reading the publisher got a PUBACK for is stored exactly once.

All parts are real: Mosquitto (persistence on), influxd 1.x, the gateway as a process.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.processes import stop_all
from lokaalmeten.store import ReadingQuery, open_store
from tests.gateway.harness import (
    Stream,
    assert_every_acked_reading_stored_once,
    gateway_process,
    identities,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.mosquitto


def wait_gateway_ready(folder: Path, times: int = 1) -> None:
    log = folder / "gateway.log"
    wait_until(
        lambda: log.exists() and log.read_text().count("subscribed to") >= times,
        20,
        "the gateway to subscribe",
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    stop_all(started)


def test_gateway_killed_repeatedly_loses_nothing(
    mosquitto: Mosquitto, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    processes.append(gateway_process(mosquitto, tmp_path))
    wait_gateway_ready(tmp_path)
    stream = Stream(mosquitto, rate=400)
    stream.start()
    for kill in range(1, 4):
        time.sleep(1.5)
        processes[-1].send_signal(signal.SIGKILL)
        processes[-1].wait()
        time.sleep(0.3)  # the stream goes on while no gateway is there
        processes.append(gateway_process(mosquitto, tmp_path))
        wait_gateway_ready(tmp_path, kill + 1)
    time.sleep(1)
    stream.stop()
    assert_every_acked_reading_stored_once(stream, tmp_path / "lm.db")


@pytest.mark.influxdb
def test_influxdb_outage_loses_nothing_and_the_spool_drains(
    mosquitto: Mosquitto, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    if InfluxDB.find() is None:
        pytest.skip("influxd not installed")
    influx = InfluxDB.start(tmp_path / "influx")
    try:
        url = f"influxdb://127.0.0.1:{influx.port}/lm"
        processes.append(gateway_process(mosquitto, tmp_path, "--store", url))
        wait_gateway_ready(tmp_path)
        stream = Stream(mosquitto, rate=300)
        stream.start()
        time.sleep(1.5)
        influx.stop()
        time.sleep(3)  # readings pile up in the spool meanwhile
        health = httpx.get(f"http://127.0.0.1:{_http_port(tmp_path)}/health", timeout=5).json()
        assert health["status"] == "degraded" and health["spool_depth"] > 0
        influx.restart()
        time.sleep(1)
        stream.stop()
        stream.wait_all_acked(60)
        expected = stream.expected()
        store = open_store(url)

        def influx_identities() -> set[tuple[str, str, int]]:
            rows = store.readings(ReadingQuery(0, 2**33, 10**6))
            return {(r.node, r.quantity, r.time) for r in rows}

        wait_until(lambda: influx_identities() >= expected, 60, "every reading in InfluxDB")
        assert expected <= influx_identities() <= stream.published()
    finally:
        influx.stop()


def test_broker_restart_loses_nothing(
    mosquitto: Mosquitto, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    processes.append(gateway_process(mosquitto, tmp_path))
    wait_gateway_ready(tmp_path)
    stream = Stream(mosquitto, rate=300)
    stream.start()
    time.sleep(1.5)
    mosquitto.restart()
    time.sleep(2)
    stream.stop()
    stream.wait_all_acked(60)
    expected = stream.expected()
    wait_until(
        lambda: set(identities(tmp_path / "lm.db")) >= expected,
        60,
        "every acknowledged reading in the store",
    )
    found = identities(tmp_path / "lm.db")
    assert len(found) == len(set(found))  # exactly once
    assert expected <= set(found) <= stream.published()


def _http_port(folder: Path) -> int:
    text = (folder / "gateway.log").read_text()
    marker = "/metrics on 127.0.0.1:"
    if marker not in text:
        marker = "/metrics on 0.0.0.0:"
    return int(text.rsplit(marker, 1)[1].split()[0])
