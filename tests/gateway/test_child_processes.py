"""The gateway on more than one core: MQTT in a process of its own, each store's writer in
another.

Either process killed alone loses nothing and is started again; one whose gateway was
killed stops by itself; a writer's counters and its store's outage reach the gateway's
/metrics and /health; and whatever the processes, no MQTT message is acknowledged before its
readings are committed to the spool.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lokaalmeten.gateway.mqtt_process import MqttProcess
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.writer_process import WriterProcess
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.services.processes import stop_all
from tests.gateway.harness import (
    T0,
    RunningGateway,
    Stream,
    assert_every_acked_reading_stored_once,
    gateway_process,
    settings_for,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.mosquitto


def _started(log: Path, what: str) -> list[int]:
    """The pids of the gateway's child processes of one kind ("writer process of", "MQTT
    process"), in the order they were started, as its log tells them."""
    text = log.read_text() if log.exists() else ""
    return [int(pid) for pid in re.findall(rf"{what}.* started \(pid (\d+)\)", text)]


def _wait_started(log: Path, what: str, count: int) -> None:
    wait_until(lambda: len(_started(log, what)) == count, 20, f"{what}: start {count}")


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    stop_all(started)


@pytest.mark.parametrize("what", ["writer process of", "MQTT process"])
def test_a_child_process_killed_alone_loses_nothing_and_is_started_again(
    mosquitto: Mosquitto, tmp_path: Path, processes: list[subprocess.Popen[bytes]], what: str
) -> None:
    gateway = gateway_process(mosquitto, tmp_path)
    processes.append(gateway)
    log = tmp_path / "gateway.log"
    wait_until(lambda: log.exists() and "subscribed to" in log.read_text(), 20, "a subscription")
    wait_until(lambda: len(_started(log, what)) == 1, 20, "the child process")
    stream = Stream(mosquitto, rate=400)
    stream.start()
    for kill in range(1, 4):
        time.sleep(1.0)
        os.kill(_started(log, what)[-1], signal.SIGKILL)
        _wait_started(log, what, kill + 1)
    time.sleep(1)
    stream.stop()
    assert_every_acked_reading_stored_once(stream, tmp_path / "lm.db")
    assert gateway.poll() is None  # the gateway itself went on throughout
    assert log.read_text().count("ended unexpectedly") == 3  # each death was told


@pytest.mark.parametrize("what", ["writer process of", "MQTT process"])
def test_the_child_processes_of_a_killed_gateway_stop_by_themselves(
    mosquitto: Mosquitto, tmp_path: Path, processes: list[subprocess.Popen[bytes]], what: str
) -> None:
    gateway = gateway_process(mosquitto, tmp_path)
    processes.append(gateway)
    log = tmp_path / "gateway.log"
    wait_until(lambda: len(_started(log, what)) == 1, 20, "the child process")
    (child,) = _started(log, what)
    gateway.send_signal(signal.SIGKILL)
    gateway.wait()
    wait_until(lambda: not _alive(child), 5, "the orphaned child to stop")


def test_a_writer_process_reports_its_counters_and_its_store_outage(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    # A store nobody listens on: the writer process finds it down and says so.
    dead = f"influxdb://127.0.0.1:{free_port()}/lm?timeout=1"
    settings = settings_for(mosquitto, tmp_path, extra_stores=[dead], ingest_port=free_port())
    running = RunningGateway(Gateway(settings))
    try:
        gateway = running.gateway
        assert all(isinstance(w, WriterProcess) for w in gateway.writers)
        base = f"http://127.0.0.1:{gateway.ingest_port}"
        wait_until(
            lambda: httpx.get(f"{base}/health").json()["status"] == "degraded",
            20,
            "the dead store in /health",
        )
        problems = httpx.get(f"{base}/health").json()["problems"]
        assert any(dead.split("?")[0] in p and "unreachable" in p for p in problems), problems
        stream = Stream(mosquitto, rate=200)
        stream.start()
        time.sleep(1.5)
        stream.stop()
        stream.wait_all_acked(30)
        expected = len(stream.expected())
        # The SQLite store's writer (another process) counted what it stored: /metrics has it.
        wait_until(lambda: gateway.metrics.count("readings_stored") >= expected, 20, "the counters")
        metrics = httpx.get(f"{base}/metrics").text
        assert f"lokaalmeten_gateway_readings_stored_total {float(expected)}" in metrics or (
            "lokaalmeten_gateway_readings_stored_total" in metrics
        )
        assert gateway.metrics.latency()[1] > 0  # its store writes were timed, and reported
        healthy = {line for line in metrics.splitlines() if "store_healthy{" in line}
        assert any(dead.split("?")[0] in line and line.endswith(" 0.0") for line in healthy)
        assert any("sqlite" in line and line.endswith(" 1.0") for line in healthy)
    finally:
        running.stop()
    for writer in running.gateway.writers:
        assert isinstance(writer, WriterProcess) and writer.pid is not None
        assert not _alive(writer.pid)  # stopped with the gateway
    ingest = running.gateway.ingest
    assert isinstance(ingest, MqttProcess) and ingest.pid is not None
    assert not _alive(ingest.pid)


def test_no_message_is_acknowledged_before_its_readings_are_committed(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    gateway = Gateway(settings_for(mosquitto, tmp_path, batch_size=50))
    committed: set[tuple[str, str, int]] = set()
    early: list[tuple[str, int]] = []
    acked = 0
    put, ack = gateway.spool.put, gateway.ingest.ack

    def put_then_note(readings, refused=()):  # type: ignore[no-untyped-def]
        put(readings, refused)  # returns once the commit is durable
        committed.update((r.node, r.quantity, r.time) for r in readings)

    def ack_if_committed(batch):  # type: ignore[no-untyped-def]
        nonlocal acked
        for message in batch:
            record = json.loads(message.payload)
            for quantity in record["values"]:
                moment = T0 + record["seq"]
                if (record["node"], quantity, moment) not in committed:
                    early.append((record["node"], record["seq"]))
        acked += len(batch)
        ack(batch)

    gateway.spool.put = put_then_note  # type: ignore[method-assign]
    gateway.ingest.ack = ack_if_committed  # type: ignore[method-assign]
    running = RunningGateway(gateway)
    try:
        stream = Stream(mosquitto, rate=1500)
        stream.start()
        time.sleep(2)
        stream.stop()
        stream.wait_all_acked(30)
        wait_until(lambda: acked >= stream.count, 20, "every message handled")
    finally:
        running.stop()
    assert acked >= 2000
    assert early == []
