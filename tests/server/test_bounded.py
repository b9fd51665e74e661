"""Every public request has a bounded cost: the hostile probes, made here, on a
store of a million readings, each refused with a 4xx before the work; fair share between
clients; a download the client abandons frees its query.

The store is built once per module through the bulk path the benchmarks use (one INSERT …
SELECT, roll-ups filled after), so the million readings cost a few seconds, not a minute.
"""

from __future__ import annotations

import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from bench.api_queries import INTERVAL, T0, build_store
from lokaalmeten.readings import Reading
from lokaalmeten.server.app import create_app
from lokaalmeten.server.guard import Admission
from lokaalmeten.services.ports import free_port
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import ReadingQuery, open_store

NODES, QUANTITIES, PER_STREAM = 4, ("pm25", "temperature"), 125_000
READINGS = NODES * len(QUANTITIES) * PER_STREAM
YEAR = "phenomenonTime ge 2025-12-01T00:00:00Z and phenomenonTime lt 2026-12-01T00:00:00Z"


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("bounded") / "million.db"
    build_store(path, NODES, QUANTITIES, PER_STREAM)
    url = f"sqlite:///{path}"
    store = open_store(url)
    try:
        assert store.count(ReadingQuery(0, 2**34, 1)) == READINGS >= 1_000_000
    finally:
        store.close()
    return url


@pytest.fixture(scope="module")
def big(big_store: str) -> Iterator[TestClient]:
    settings = ServerSettings(store=big_store, rate_limit=0)  # every other limit: defaults
    with TestClient(create_app(settings)) as client:
        yield client


def nested_expand(depth: int, inner: str = "") -> str:
    """Things → Datastreams → Thing → Datastreams … ``depth`` levels, ``inner`` options each."""
    steps = ["Datastreams" if level % 2 == 0 else "Thing" for level in range(depth)]
    text = ""
    for step in reversed(steps):
        options = ";".join(part for part in (inner, f"$expand={text}" if text else "") if part)
        text = f"{step}({options})" if options else step
    return text


PROBES: dict[str, tuple[str, dict[str, str], str]] = {
    # name: (path, query, what the refusal names)
    "filter of 10 kB, 700 or-terms": (
        "Observations",
        {"$filter": " or ".join(f"result eq {i}" for i in range(700))},
        "max_query_length",
    ),
    "filter of 3,000 characters": (
        "Observations",
        {"$filter": " or ".join(f"result eq {i}" for i in range(200))},
        "sta_max_filter_length",
    ),
    "filter of 110 or-terms within the length": (
        "Observations",
        {"$filter": " or ".join("result eq 1" for _ in range(110))},
        "sta_max_filter_terms",
    ),
    "expand 5 deep, $top=10000 inside": (
        "Things",
        {"$expand": nested_expand(5, "$top=10000")},
        "$top=10000 inside an expansion",
    ),
    "expand 5 deep on Things": (
        "Things",
        {"$expand": nested_expand(5)},
        "sta_max_expand_depth",
    ),
    "10,000 observations with three expansions": (
        "Observations",
        {
            "$expand": "FeatureOfInterest,Datastream($expand=Thing($expand=Locations))",
            "$top": "10000",
        },
        "sta_max_entities",
    ),
    "3,000 nested parentheses": (
        "Observations",
        {"$filter": "(" * 3000 + "result gt 1" + ")" * 3000},
        "max_query_length",
    ),
    "150 nested parentheses within the length": (
        "Observations",
        {"$filter": "(" * 150 + "result gt 1" + ")" * 150},
        "sta_max_filter_depth",
    ),
    "a year of a filter with $count": (
        "Observations",
        {"$filter": f"{YEAR} and result gt 10", "$count": "true"},
        "max_points",
    ),
    "a deep $skip": ("Observations", {"$skip": "5000000"}, "sta_max_skip"),
    "a query string of 20 kB": (
        "Things",
        {"$select": ",".join(["name"] * 4000)},
        "max_query_length",
    ),
}


@pytest.mark.parametrize("name", PROBES)
def test_each_hostile_probe_is_refused_before_the_work(big: TestClient, name: str) -> None:
    path, query, named = PROBES[name]
    started = time.monotonic()
    response = big.get(f"/v1.1/{path}", params=query)
    elapsed = time.monotonic() - started
    assert 400 <= response.status_code < 500, response.text[:300]
    error = response.json()["error"]
    assert named in error["message"], error
    assert error.get("parameter"), error  # the parameter to change is named
    assert elapsed < 1.0, f"{name}: {elapsed:.2f} s"


def test_nesting_at_the_largest_allowed_depth_parses_without_recursion_error(
    big_store: str,
) -> None:
    """The depth setting's ceiling (64) with every kind of nesting, on a small stack."""
    settings = ServerSettings(
        store=big_store, rate_limit=0, sta_max_filter_depth=64, sta_max_filter_length=10_000
    )
    deep = "(" * 20 + "not " * 20 + "- " * 10 + "round(" * 14 + "result" + ")" * 34 + " lt 0"
    limit = sys.getrecursionlimit()
    with TestClient(create_app(settings)) as client:
        sys.setrecursionlimit(400)
        try:
            response = client.get(
                "/v1.1/Datastreams('kit-000:pm25')/Observations",
                params={"$filter": f"{deep} and phenomenonTime lt 2025-12-02T00:00:00Z"},
            )
        finally:
            sys.setrecursionlimit(limit)
    assert response.status_code == 200, response.text[:300]


def test_a_count_over_a_year_in_store_order_still_answers(big: TestClient) -> None:
    """The estimate refuses scans, not answers the store gives from its index."""
    response = big.get(
        "/v1.1/Datastreams('kit-000:pm25')/Observations",
        params={"$filter": YEAR, "$count": "true", "$top": "2"},
    )
    assert response.status_code == 200, response.text[:300]
    assert response.json()["@iot.count"] == PER_STREAM


def test_next_links_continue_by_keyset_not_by_offset(big: TestClient) -> None:
    url: str | None = "/v1.1/Observations?$top=5000"
    seen: list[str] = []
    for _ in range(4):
        assert url is not None
        body = big.get(url).json()
        seen += [o["@iot.id"] for o in body["value"]]
        url = body.get("@iot.nextLink")
        assert url is not None and "$skip=" not in url.replace("%24", "$"), url
    assert len(seen) == len(set(seen)) == 20_000
    assert seen[0] == f"kit-000:pm25:{T0}" and seen[-1] == f"kit-000:pm25:{T0 + 19_999 * INTERVAL}"


def test_a_scan_past_the_time_limit_answers_503_with_retry_after(big_store: str) -> None:
    settings = ServerSettings(
        store=big_store, rate_limit=0, query_time_limit=0.05, max_points=2_000_000
    )
    with TestClient(create_app(settings)) as client:
        response = client.get(
            "/v1.1/Observations", params={"$filter": f"{YEAR} and result gt 1000"}
        )
    assert response.status_code == 503, response.text[:300]
    assert int(response.headers["Retry-After"]) >= 1
    assert "query_time_limit" in response.json()["error"]["message"]


# -- against a real HTTP server -----------------------------------------------------------


class Served:
    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.base = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def admission(self) -> Admission:
        layer = self.app.middleware_stack
        while not isinstance(layer, Admission):
            layer = layer.app
        return layer


def serving(settings: ServerSettings) -> Iterator[Served]:
    """uvicorn with the app of ``settings`` in a thread, until the module's tests are done."""
    running = Served(create_app(settings), free_port())
    running.thread.start()
    deadline = time.monotonic() + 10
    while not running.server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield running
    running.server.should_exit = True
    running.thread.join(timeout=10)


@pytest.fixture(scope="module")
def served(big_store: str) -> Iterator[Served]:
    yield from serving(ServerSettings(store=big_store, rate_limit=0, max_range_days=366))


CSV_YEAR = "/v1/export/readings.csv?from=2025-12-01&to=2026-12-01"


def open_download(served: Served) -> socket.socket:
    """A CSV download of a whole year, begun and then not read: the server streams into a
    full socket buffer and waits."""
    host, port = served.base.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)))
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.sendall(f"GET {CSV_YEAR} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    received = conn.recv(4096)
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    while b"kit-000" not in received:  # rows are coming: the store's query is running
        received += conn.recv(4096)
    return conn


def readers_in_the_wal(path: str) -> bool:
    """Whether a query holds a read transaction on the store: a TRUNCATE checkpoint must
    wait for every reader to leave the write-ahead log, so it reports busy while one runs."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    return bool(busy)


def wait_for(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def test_a_cancelled_csv_download_frees_its_query_at_once(served: Served, big_store: str) -> None:
    path = big_store.removeprefix("sqlite://")
    admission = served.admission()
    # Open throughout: the last connection to close would checkpoint the log away.
    writer = open_store(big_store)
    try:
        assert not readers_in_the_wal(path)
        # Something in the write-ahead log, so that the export's snapshot includes it.
        writer.write([Reading("kit-001", "pm25", T0 - 3600, 1.0, None)])
        conn = open_download(served)
        assert readers_in_the_wal(path) and admission.in_progress == 1
        conn.close()
        assert wait_for(lambda: admission.in_progress == 0), "the request still runs"
        assert wait_for(lambda: not readers_in_the_wal(path)), "the query still holds the store"
    finally:
        writer.close()


def test_a_client_with_heavy_requests_running_gets_429_and_others_are_served(
    served: Served,
) -> None:
    admission = served.admission()
    held = [open_download(served) for _ in range(admission.per_client)]
    try:
        assert wait_for(lambda: admission.in_progress == admission.per_client)
        refused = httpx.get(served.base + "/v1.1/Things", timeout=5)
        light = httpx.get(served.base + "/v1/nodes", timeout=5)
    finally:
        for conn in held:
            conn.close()
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert "max_heavy_per_client" in refused.json()["error"]["message"]
    assert light.status_code == 200 and len(light.json()["value"]) == NODES
    assert wait_for(lambda: admission.in_progress == 0)
    assert httpx.get(served.base + "/v1.1/Things", timeout=5).status_code == 200


def test_beyond_the_heavy_requests_in_all_another_client_gets_503_and_light_ones_pass(
    served: Served,
) -> None:
    admission = served.admission()
    assert admission.total <= admission.per_client  # the defaults: one client can fill it
    held = [open_download(served) for _ in range(admission.total)]
    other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=5)
    try:
        assert wait_for(lambda: admission.in_progress == admission.total)
        refused = other.get(served.base + "/v1.1/Things")
        light = other.get(served.base + "/v1/nodes")
    finally:
        for conn in held:
            conn.close()
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    assert "max_heavy_total" in refused.json()["error"]["message"]
    assert light.status_code == 200
    assert wait_for(lambda: admission.in_progress == 0)
    assert other.get(served.base + "/v1.1/Things").status_code == 200
    other.close()


@pytest.fixture(scope="module")
def patient(big_store: str) -> Iterator[Served]:
    """A server whose limits admit a scan of the whole store (seconds of work)."""
    yield from serving(
        ServerSettings(store=big_store, rate_limit=0, max_points=2_000_000, query_time_limit=120)
    )


def test_a_sensorthings_request_whose_client_left_stops_its_work(patient: Served) -> None:
    scan = "/v1.1/Observations?" + urlencode(
        {"$filter": f"{YEAR} and result gt 1000", "$count": "true", "$top": "1"}
    )
    admission = patient.admission()
    started = time.monotonic()
    whole = httpx.get(patient.base + scan, timeout=120)  # the same request, waited for
    took = time.monotonic() - started
    assert whole.status_code == 200, whole.text[:300]
    host, port = patient.base.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)))
    conn.sendall(f"GET {scan} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert wait_for(lambda: admission.in_progress == 1)
    left = time.monotonic()
    conn.close()
    assert wait_for(lambda: admission.in_progress == 0, took), "the request still runs"
    stopped = time.monotonic() - left
    assert stopped < took / 2, (stopped, took)  # stopped, not finished
