"""A storm of signals at a starting or serving API, one process or a supervisor with two
workers: gone within 5 s every time, also while a client holds a CSV export it does not
read (uvicorn waited for it for ever)."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lokaalmeten.readings import Reading
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn
from lokaalmeten.store import open_store
from tests.helpers import STORM_EXITS, Storm, in_lanes, signal_storm

ROUNDS = 50
LANES = 4
T0 = 1795824000  # 2026-11-28T00:00:00Z
NODES = 12
PER_NODE = 10_000  # 120,000 rows, about 8 MB of CSV: far more than the sockets hold
EXPORT = "/v1/export/readings.csv?from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z"


def export_store(folder: Path) -> str:
    """A SQLite store in ``folder`` whose day of EXPORT is far more CSV than sockets hold."""
    url = f"sqlite:///{folder / 'lm.db'}"
    store = open_store(url)
    try:
        for node in range(NODES):
            store.write(
                [
                    Reading(f"kit-{node}", "pm25", T0 + 5 * i, i % 400 / 10, "SDS011")
                    for i in range(PER_NODE)
                ]
            )
    finally:
        store.close()
    return url


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return export_store(tmp_path_factory.mktemp("storm-store"))


def stall_on_an_export(port: int) -> socket.socket:
    """A client that asks for a large CSV export and then reads nothing."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", port))
    client.sendall(f"GET {EXPORT} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return client


def _lane(lane: int, rounds: int, store_url: str, folder: Path) -> list[Storm]:
    chance = random.Random(2600 + lane)
    folder.mkdir(parents=True, exist_ok=True)
    storms = []
    for index in range(rounds):
        port = free_port()
        with (folder / "server.log").open("ab") as log:
            # Every other round with two workers: the supervisor and its workers go too.
            server = spawn(
                [sys.executable, "-m", "lokaalmeten", "server", "--store", store_url,
                 "--port", str(port), "--workers", str(1 + index % 2)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        stalled = None

        def running(process: subprocess.Popen[bytes] = server) -> bool:
            return process.poll() is None

        try:
            if index % 3 == 1 and wait_listening("127.0.0.1", port, 20, alive=running):
                stalled = stall_on_an_export(port)
                time.sleep(0.3)  # the answer has begun and filled what the sockets hold
            storms.append(
                signal_storm(server, chance, chance.uniform(0, 1.5 if stalled is None else 0.3))
            )
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            if stalled is not None:
                stalled.close()
    return storms


def test_signal_storms_stop_the_server_within_5_s(store_url: str, tmp_path: Path) -> None:
    per_lane = [ROUNDS // LANES + (lane < ROUNDS % LANES) for lane in range(LANES)]
    storms = in_lanes(
        LANES, lambda lane: _lane(lane, per_lane[lane], store_url, tmp_path / f"lane{lane}")
    )
    assert len(storms) == ROUNDS
    slow = [s for s in storms if s.took > 5]
    assert not slow, slow
    assert {s.returncode for s in storms} <= STORM_EXITS, storms
    print(f"server storms: {ROUNDS}, slowest exit {max(s.took for s in storms):.2f} s")
