"""A server over a real store, SQLite or InfluxDB 1.6.7, filled with the same readings, and
a node directory (the gateway's, in a registry file) naming and placing the kits."""

from __future__ import annotations

import hashlib
import itertools
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.gateway.directory import Directory
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.readings import FLAG_TIME_ESTIMATED, Reading
from lokaalmeten.server.app import create_app
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import open_store

T0 = 1795824000  # 2026-11-28T00:00:00Z
DAY = "from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z"
_databases = itertools.count()
_REGISTRIES = Path(tempfile.mkdtemp(prefix="lm-registries-"))

READINGS = (
    [Reading("kit-1", "pm25", T0 + 60 * i, 5.0 + i, "SDS011") for i in range(30)]
    + [Reading("kit-1", "temperature", T0, 9.5, "BME280", FLAG_TIME_ESTIMATED)]
    + [Reading("kit-2", "pm25", T0 + 60 * i, 20.0 + i, "SPS30") for i in range(5)]
)
# kit-1 at a home, rounded when published; kit-2's owner chose exact publication.
META = [
    NodeMeta("kit-1", 52.091234, 5.121987, name="Balkon Lombok"),
    NodeMeta("kit-2", 52.100049, 5.200051, exact=True, name="School", interval=60),
]

StoreFactory = Callable[[str], str]


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.influxdb)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store's URL, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lm.db'}"
    server = request.getfixturevalue("influxdb")
    return f"influxdb://127.0.0.1:{server.port}/api{next(_databases)}"


def registry_for(url: str) -> Path:
    """The registry file that goes with a store in these tests (one per store URL)."""
    return _REGISTRIES / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.db"


def fill(url: str, readings: list[Reading], meta: list[NodeMeta]) -> None:
    """The readings into the store, the kits' names and places into the node directory, as
    the gateway and ``lokaalmeten places set`` would."""
    store = open_store(url)
    try:
        store.write(readings)
    finally:
        store.close()
    directory = Directory(registry_for(url))
    try:
        assert len(directory.adopt(meta)) == len(meta)
    finally:
        directory.close()


def serve(url: str, **settings: Any) -> TestClient:
    options: dict[str, Any] = {
        "registry": str(registry_for(url)),
        "max_limit": 50,
        "default_limit": 40,
        "max_range_days": 31,
        "rate_limit": 0,
    }
    options.update(settings)
    return TestClient(create_app(ServerSettings(store=url, **options)))


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    fill(store_url, READINGS, META)
    with serve(store_url) as test_client:
        yield test_client


def get_ok(client: TestClient, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.json()
