"""Outages of the broker or a store: warned at once and every 30 s, in /health."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lokaalmeten.outage import Outage
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from tests.helpers import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_told_at_once_then_every_30_s_and_its_end_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outage = Outage(
        "store influxdb://127.0.0.1:9/lm",
        "the readings wait in the spool",
        clock=clock,
        log=logging.getLogger("lokaalmeten.gateway"),
    )
    caplog.set_level(logging.INFO, "lokaalmeten.gateway")
    for _ in range(13):  # a failed attempt every 5 s for a minute
        outage.failed("connection refused")
        clock.now += 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "store influxdb://127.0.0.1:9/lm unreachable for 0 s: connection refused; "
        "retrying (the readings wait in the spool)",
        "store influxdb://127.0.0.1:9/lm unreachable for 30 s: connection refused; "
        "retrying (the readings wait in the spool)",
        "store influxdb://127.0.0.1:9/lm unreachable for 60 s: connection refused; "
        "retrying (the readings wait in the spool)",
    ]
    assert outage.going_on and "unreachable for 65 s" in outage.describe()
    outage.ended()
    outage.ended()
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["store influxdb://127.0.0.1:9/lm reachable again after 65 s"]
    assert not outage.going_on
    outage.failed("timed out")  # a new outage is told at once again
    assert caplog.records[-1].levelno == logging.WARNING


def test_a_gateway_whose_store_is_down_says_so_at_start_and_in_health(
    shared_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    store_port = free_port()  # nothing listens there: InfluxDB is down
    store = f"influxdb://127.0.0.1:{store_port}/lm"
    http_port = free_port()
    gateway = subprocess.Popen(
        [sys.executable, "-m", "lokaalmeten", "gateway", "--broker", shared_mosquitto.url,
         "--store", store, "--spool", str(tmp_path / "spool.db"),
         "--registry", str(tmp_path / "registry.db"), "--client-id", "outage-test",
         "--ingest-host", "127.0.0.1", "--ingest-port", str(http_port)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert gateway.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any("unreachable" in x for x in lines):
            lines.append(gateway.stderr.readline())
        serves = next(x for x in lines if "gateway serves:" in x)
        for part in (
            f"broker {shared_mosquitto.url}",
            f"spool {tmp_path / 'spool.db'}",
            f"stores {store}",
            f"registry {tmp_path / 'registry.db'}",
            f"/metrics on 127.0.0.1:{http_port}",
        ):
            assert part in serves, (part, serves)
        warning = lines[-1]
        assert "WARNING" in warning and f"store {store} unreachable for 0 s" in warning, lines
        assert "Connection refused" in warning and "readings wait in the spool" in warning

        def health() -> httpx.Response:
            return httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=5)

        wait_until(lambda: "connected" not in str(health().json()), 10, "the broker connected")
        answer = health()
        assert answer.status_code == 503
        (problem,) = answer.json()["problems"]
        assert problem.startswith(f"store {store} unreachable for ")
    finally:
        gateway.terminate()
        gateway.wait(10)
