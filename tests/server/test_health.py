"""The server says at start what it serves, warns while its store is unreachable (at once,
then every 30 s; its end once) and shows the outage in /health, as the gateway does (once, a
server over a store that had gone away said nothing)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from lokaalmeten.outage import Outage
from lokaalmeten.readings import Reading
from lokaalmeten.server.health import StoreWatch
from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.ports import free_port
from lokaalmeten.store import StoreError, open_store
from lokaalmeten.store.sqlite import SQLiteStore
from tests.conftest import _unavailable
from tests.helpers import wait_until
from tests.server.conftest import T0, serve


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyStore(SQLiteStore):
    """A real store whose ping fails while ``down`` says so, or takes ``slow`` seconds."""

    down = False
    slow = 0.0

    def ping(self) -> None:
        time.sleep(self.slow)
        if self.down:
            raise StoreError(f"{self.url}: cannot reach it: connection refused")
        super().ping()


def test_an_outage_is_warned_at_once_every_30_s_and_its_end_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore(tmp_path / "lm.db", read_only=True)
    clock = Clock()
    watch = StoreWatch(
        store, 5, Outage(f"store {store.url}", "answers fail meanwhile", clock=clock)
    )
    caplog.set_level(logging.INFO)
    watch.check()
    assert watch.health() == {"status": "ok", "problems": []}
    store.down = True
    for _ in range(13):  # a ping every 5 s for a minute
        watch.check()
        clock.now += 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"store {store.url} unreachable for {s} s: cannot reach it: connection refused; "
        "retrying (answers fail meanwhile)"
        for s in (0, 30, 60)
    ]
    assert watch.health() == {
        "status": "degraded",
        "problems": [
            f"store {store.url} unreachable for 65 s: cannot reach it: connection refused"
        ],
    }
    store.down = False
    watch.check()
    watch.check()
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == [f"store {store.url} reachable again after 65 s"]
    assert watch.health()["status"] == "ok"
    store.close()


def test_the_watch_stops_at_once_in_the_middle_of_a_slow_ping(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "lm.db", read_only=True)
    store.slow = 5.0
    watch = StoreWatch(store, 0.1)
    watch.start()
    time.sleep(0.2)
    started = time.monotonic()
    watch.stop()
    assert time.monotonic() - started < 0.7
    assert watch.health()["status"] == "ok"  # the ping cut short is no outage


def test_health_is_ok_with_a_store_that_answers(store_url: str) -> None:
    open_store(store_url).close()
    with serve(store_url) as client:
        answer = client.get("/health")
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok", "problems": []}
        assert "/health" not in client.get("/openapi.json").json()["paths"]


def _health(client: TestClient) -> httpx.Response:
    answer: httpx.Response = client.get("/health")
    return answer


def test_a_sqlite_file_moved_away_or_replaced_is_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "lm.db"
    store = open_store(f"sqlite:///{path}")
    store.write([Reading("kit-1", "pm25", T0, 5.0, "SDS011")])
    store.close()
    with serve(f"sqlite:///{path}", store_check_interval=0.05) as client:
        assert _health(client).status_code == 200
        path.rename(tmp_path / "moved.db")
        wait_until(lambda: _health(client).status_code == 503, 5, "the outage")
        (problem,) = _health(client).json()["problems"]
        assert problem.startswith(f"store sqlite://{path} unreachable for ")
        assert "is gone" in problem and "deleted or moved" in problem
        (tmp_path / "moved.db").rename(path)  # put back: the same file again
        wait_until(lambda: _health(client).status_code == 200, 5, "the end of the outage")
        path.unlink()
        open_store(f"sqlite:///{path}").close()  # a new, empty store where it was
        wait_until(lambda: _health(client).status_code == 503, 5, "the outage")
        assert "replaced by another file" in _health(client).json()["problems"][0]


class ServerProcess:
    """A real `lokaalmeten server` whose log lines are collected as they come."""

    def __init__(self, store: str, port: int) -> None:
        self.port = port
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lokaalmeten", "server", "--store", store,
             "--port", str(port)],
            env={**os.environ, "LM_STORE_CHECK_INTERVAL": "0.2", "LM_RATE_LIMIT": "0"},
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def line_with(self, text: str, timeout: float = 10) -> str:
        wait_until(lambda: any(text in x for x in self.lines), timeout, repr(text))
        return next(x for x in self.lines if text in x)

    def health(self) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=5)

    def stop(self) -> float:
        """SIGTERM; the seconds until it was gone."""
        started = time.monotonic()
        self.process.terminate()
        try:
            self.process.wait(10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        return time.monotonic() - started


def start_influxdb(folder: Path, port: int | None = None) -> InfluxDB:
    """An InfluxDB of the test's own (it is stopped), on ``port`` if given."""
    if InfluxDB.find() is None:
        _unavailable(InfluxDB.binary_name, f"apt-get install {InfluxDB.debian_package}")
    return InfluxDB.start(folder, port=port)


@pytest.fixture
def server_on() -> Iterator[type[ServerProcess]]:
    started: list[ServerProcess] = []

    class Started(ServerProcess):
        def __init__(self, store: str, port: int) -> None:
            super().__init__(store, port)
            started.append(self)

    yield Started
    for server in started:
        if server.process.poll() is None:
            server.stop()


@pytest.mark.influxdb
def test_a_server_whose_influxdb_is_down_at_start_says_so_until_it_comes(
    tmp_path: Path, server_on: type[ServerProcess]
) -> None:
    influx_port = free_port()  # nothing listens there yet
    store = f"influxdb://reader:s3cret-pw@127.0.0.1:{influx_port}/lm"
    shown = f"influxdb://127.0.0.1:{influx_port}/lm"
    port = free_port()
    server = server_on(store, port)
    serves = server.line_with("server serves:")
    assert f"store {shown} and node directory " in serves, serves
    assert f"registry.db on http://127.0.0.1:{port}:" in serves, serves
    for part in ("API /v1", "SensorThings /v1.1", "docs /docs", "health /health"):
        assert part in serves
    warning = server.line_with(" unreachable for ", timeout=5)
    assert server.lines.index(serves) < server.lines.index(warning)
    assert "WARNING" in warning and f"store {shown} unreachable for 0 s" in warning
    assert "Connection refused" in warning
    wait_until(lambda: server.health().status_code == 503, 10, "/health answering")
    (problem,) = server.health().json()["problems"]
    assert problem.startswith(f"store {shown} unreachable for ")
    assert server.health().json()["status"] == "degraded"
    influx = start_influxdb(tmp_path / "influxdb", port=influx_port)
    try:
        back = server.line_with("reachable again after", timeout=10)
        assert "INFO" in back and f"store {shown} reachable again" in back
        assert server.health().json() == {"status": "ok", "problems": []}
    finally:
        influx.stop()
    assert not any("s3cret-pw" in line for line in server.lines)


@pytest.mark.influxdb
def test_a_server_whose_influxdb_goes_away_warns_shows_it_and_tells_its_return(
    tmp_path: Path, server_on: type[ServerProcess]
) -> None:
    influx = start_influxdb(tmp_path / "influxdb")
    try:
        url = f"influxdb://127.0.0.1:{influx.port}/lm"
        filled = open_store(url)
        filled.write([Reading("kit-1", "pm25", T0, 5.0, "SDS011")])
        filled.close()
        server = server_on(url, free_port())
        server.line_with("server serves:")
        wait_until(lambda: server.health().status_code == 200, 10, "/health ok")
        assert server.health().json() == {"status": "ok", "problems": []}
        influx.stop()
        warning = server.line_with(" unreachable for 0 s", timeout=5)
        assert "WARNING" in warning and f"store {url}" in warning
        assert server.health().status_code == 503
        influx.restart()
        back = server.line_with("reachable again after", timeout=10)
        assert "INFO" in back and back.split(": ", 1)[1].startswith(f"store {url} reachable")
        assert server.health().json() == {"status": "ok", "problems": []}
        took = server.stop()
        assert took < 3, took
        # uvicorn ends by raising the signal again once it has shut down.
        assert server.process.returncode in (0, -signal.SIGTERM)
    finally:
        influx.stop()
