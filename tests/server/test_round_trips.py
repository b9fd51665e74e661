"""Store round trips per request: a route asks the store a bounded number of times, whatever
the number of nodes. Counted through the real store: every public store call made by the
server (a forwarding proxy), and, on InfluxDB, every HTTP request the store sends."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.readings import Reading
from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.store import Aggregate, AggregateQuery, Store

from .conftest import T0, fill, serve

MAX_ROUND_TRIPS = 3
_databases = itertools.count()
# Each node's streams: several quantities (InfluxDB keeps each in a measurement of its own),
# one of them an energetic mean (its aggregates take one more statement).
STREAMS = (
    ("pm25", "SDS011"),
    ("pm10", "SDS011"),
    ("temperature", "BME280"),
    ("humidity", "BME280"),
    ("noise_laeq", "ICS43434"),
)


class Counting:
    """Forwards everything to the real object (a store, a node directory), counting each
    method called."""

    def __init__(self, store: Store | DirectoryReader) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return found(*args, **kwargs)

        return counted


class Trips:
    """The store calls, (InfluxDB) HTTP requests and node directory reads one server
    request makes."""

    def __init__(self, client: TestClient) -> None:
        app: Any = client.app
        self.store = Counting(app.state.store)
        app.state.store = self.store
        self.directory = Counting(app.state.directory)
        app.state.directory = self.directory
        self.http = 0
        inner = getattr(self.store._store, "_client", None)
        if isinstance(inner, httpx.Client):
            inner.event_hooks["request"].append(self._sent)

    def _sent(self, request: httpx.Request) -> None:
        # The health watch pings on its own clock, from its own thread: not the request's.
        if request.url.path != "/ping":
            self.http += 1

    def of(self, client: TestClient, path: str) -> tuple[int, int]:
        self.store.calls.clear()
        self.directory.calls.clear()
        self.http = 0
        response = client.get(path)
        assert response.status_code == 200, response.text
        return sum(self.store.calls.values()), self.http


def _network(url: str, nodes: int) -> None:
    readings = [
        Reading(f"kit-{n:02d}", quantity, T0 + 60 * i, 5.0 + n + i, sensor)
        for n in range(nodes)
        for quantity, sensor in STREAMS
        for i in range(3)
    ]
    meta = [NodeMeta(f"kit-{n:02d}", 52.0 + n / 1000, 5.1, name=f"Kit {n}") for n in range(nodes)]
    fill(url, readings, meta)


def assert_bounded(client: TestClient, path: str) -> None:
    """One request to ``path`` makes at most MAX_ROUND_TRIPS store calls and (InfluxDB) HTTP
    requests, and reads the node directory at most once."""
    trips = Trips(client)
    calls, requests = trips.of(client, path)
    assert calls <= MAX_ROUND_TRIPS, trips.store.calls
    assert requests <= MAX_ROUND_TRIPS
    assert directory_reads(trips) <= 1, trips.directory.calls


def directory_reads(trips: Trips) -> int:
    """The directory reads of a request, less the look at its change point (one at most)."""
    assert trips.directory.calls["change_point"] <= 1, trips.directory.calls
    return sum(n for name, n in trips.directory.calls.items() if name != "change_point")


@pytest.mark.parametrize("nodes", [10, 50])
@pytest.mark.parametrize("path", ["/v1/latest", "/v1/nodes"])
def test_node_routes_ask_the_store_a_bounded_number_of_times(
    store_url: str, tmp_path: Path, nodes: int, path: str
) -> None:
    _network(store_url, nodes)
    with serve(store_url) as client:
        assert_bounded(client, path)
        body = client.get(path).json()
        assert len(body["value"]) == nodes


_READINGS = "/v1/readings?from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z"
_READINGS_CSV = "/v1/export/readings.csv?from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z"
_INDICATORS = "/v1/noise/indicators?start=2026-11-28&end=2026-11-29"


@pytest.mark.parametrize("nodes", [10, 50])
@pytest.mark.parametrize(
    "path",
    [
        "/v1/aggregates?window=1h&from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z",
        "/v1.1/Observations?$top=5",
        "/v1.1/Datastreams",
        "/ogc/collections/kits/items?bbox=5.0,52.0,5.2,52.2",
        "/ogc/collections/hourly/items?datetime=2026-11-28T00:00:00Z/2026-11-28T23:59:59Z",
        _READINGS,
        f"{_READINGS}&node=kit-03",
        _READINGS_CSV,
        _INDICATORS,
    ],
)
def test_other_routes_ask_the_store_a_bounded_number_of_times(
    store_url: str, nodes: int, path: str
) -> None:
    _network(store_url, nodes)
    with serve(store_url) as client:
        assert_bounded(client, path)


@pytest.mark.parametrize("nodes", [10, 50])
def test_an_observation_count_is_one_store_count(store_url: str, nodes: int) -> None:
    """$count=true adds one count over every stream asked for, not one per stream (it was
    one per stream: 250 for 50 nodes); the page itself still reads stream by stream."""
    _network(store_url, nodes)
    with serve(store_url) as client:
        trips = Trips(client)
        calls, requests = trips.of(client, "/v1.1/Observations?$top=5&$count=true")
        assert trips.store.calls["count"] == 1, trips.store.calls
        assert calls <= MAX_ROUND_TRIPS + 1, trips.store.calls
        assert requests <= MAX_ROUND_TRIPS + 1
        body = client.get("/v1.1/Observations?$top=5&$count=true").json()
        assert body["@iot.count"] == nodes * len(STREAMS) * 3


# SensorThings pages that span many streams (each stream holds 3 readings, so a page of 100
# reads 34 of them), every option that shapes one.
_MANY_STREAMS = [
    "/v1.1/Observations",
    "/v1.1/Observations?$top=100&$count=true",
    "/v1.1/Observations?$top=60&$skip=40",
    "/v1.1/Observations?$filter=result gt 10&$top=100",
    "/v1.1/Observations?$filter=result gt 10&$count=true",
    "/v1.1/Observations?$orderby=result desc&$top=100",
    "/v1.1/Observations?$filter=phenomenonTime ge 2026-11-28T00:01:00Z&$top=200&$count=true",
    "/v1.1/Datastreams('kit-03:pm25')/Observations?$count=true",
    "/v1.1/Datastreams('kit-03:pm25')/Observations?$orderby=phenomenonTime desc&$count=true",
    "/v1.1/Datastreams('kit-03:pm25')/Observations?$filter=result gt 6&$count=true",
    "/v1.1/Datastreams('kit-03:pm25')/Observations/$ref?$top=2",
]


@pytest.mark.parametrize("path", _MANY_STREAMS)
def test_an_observation_page_over_many_streams_is_at_most_three_store_requests(
    store_url: str, path: str
) -> None:
    """Whatever the number of streams a page spans, it is read in one store call (on InfluxDB
    one request, a statement per stream), beside the streams' names and, asked for, the count
    (it was one request per stream: a page of 100 over 50 kits made 35)."""
    _network(store_url, 50)
    with serve(store_url, max_limit=1000) as client:
        assert_bounded(client, path)
        body = client.get(path).json()
        assert body["value"], body


def test_an_observation_page_holds_the_streams_in_order(store_url: str) -> None:
    """The page read in one call is the page read stream by stream: identity order, 100 of
    them (over 34 streams), the count of all, and the next page continuing where it ended."""
    _network(store_url, 50)
    with serve(store_url, max_limit=1000) as client:
        body = client.get("/v1.1/Observations?$top=100&$count=true").json()
        assert body["@iot.count"] == 50 * len(STREAMS) * 3
        ids = [o["@iot.id"] for o in body["value"]]
        streams = sorted((f"kit-{n:02d}", q) for n in range(50) for q, _ in STREAMS)
        expected = [f"{n}:{q}:{T0 + 60 * i}" for n, q in streams for i in range(3)]
        assert ids == expected[:100]
        following = client.get(body["@iot.nextLink"]).json()
        assert [o["@iot.id"] for o in following["value"]] == expected[100:200]


_EXPANSIONS = [
    # Noise kits' indicator Datastreams (lden, …) among them: one day_sums for every kit.
    ("/v1.1/Datastreams", "$expand=Observations($top=3)", 2),
    ("/v1.1/Datastreams", "$expand=Observations($top=2;$count=true)", 3),
    ("/v1.1/ObservedProperties('pm25')/Datastreams", "$expand=Observations($top=2)", 1),
    ("/v1.1/Sensors('SDS011')/Datastreams", "$expand=Observations($top=2;$count=true)", 2),
    ("/v1.1/Sensors('SDS011')/Datastreams", "$expand=Observations($filter=result gt 7)", 2),
    (
        "/v1.1/ObservedProperties('pm10')/Datastreams",
        "$expand=Observations($orderby=phenomenonTime desc;$top=1)",
        1,
    ),
]


@pytest.mark.parametrize(("path", "expand", "added"), _EXPANSIONS)
def test_expanded_observations_are_one_store_read_for_the_whole_page(
    store_url: str, path: str, expand: str, added: int
) -> None:
    """$expand=Observations on a page of 50 or 100 Datastreams adds one store read (one
    more for the noise indicators' days, one count or estimate when the options need it) to
    the page's own calls, not one or two per Datastream (it was 48 for the first case, 303
    for the third); each Datastream's Observations are those its own collection answers."""
    _network(store_url, 50)
    with serve(store_url) as client:
        trips = Trips(client)
        bare = trips.of(client, path)
        expanded = trips.of(client, f"{path}?{expand}")
        assert expanded[0] - bare[0] <= added, trips.store.calls
        assert expanded[1] - bare[1] <= added
        inner = expand.removeprefix("$expand=Observations(").removesuffix(")").replace(";", "&")
        body = client.get(f"{path}?{expand}").json()
        assert len(body["value"]) >= 50
        for datastream in body["value"][::7]:
            alone = client.get(
                f"/v1.1/Datastreams('{datastream['@iot.id']}')/Observations?{inner}"
            ).json()
            assert datastream["Observations"] == alone["value"]
            if "@iot.count" in alone:
                assert datastream["Observations@iot.count"] == alone["@iot.count"]


@pytest.mark.influxdb
@pytest.mark.parametrize(
    ("path", "most"),
    [(_READINGS, 2), (f"{_READINGS}&node=kit-03", 2), (_READINGS_CSV, 2), (_INDICATORS, 1)],
)
def test_influxdb_reads_many_quantities_in_one_request(
    influxdb: InfluxDB, path: str, most: int
) -> None:
    """InfluxDB readings() and stream() over every quantity (a measurement each) and node:
    the streams' names, then one chunked request, a statement per stream (they were one
    request per stream: 16 for a page of readings, 7 for one node's, 251 for the CSV of 50
    nodes); hourly_energy() the nodes and their energies in one (it was two)."""
    url = f"influxdb://127.0.0.1:{influxdb.port}/trips{next(_databases)}"
    _network(url, 50)
    with serve(url) as client:
        trips = Trips(client)
        calls, requests = trips.of(client, path)
        assert calls == 1, trips.store.calls
        assert requests <= most


@pytest.mark.parametrize("collection", ["hourly", "daily"])
def test_a_deep_feature_page_reads_only_its_own_windows(store_url: str, collection: str) -> None:
    """OGC API Features pages of aggregates: page N of M asks the store for the page and one
    window more (to know a next page follows), never the windows of the pages before (the
    next link carries the last id, not an offset); the pages together are every feature,
    in order, once."""
    readings = [
        Reading(f"kit-{n:02d}", quantity, T0 + 3600 * hour + 60 * i, 5.0 + n + i, sensor)
        for n in range(20)
        for quantity, sensor in STREAMS[:2]
        for hour in range(0, 48, 5)
        for i in range(2)
    ]
    meta = [NodeMeta(f"kit-{n:02d}", 52.0 + n / 1000, 5.1) for n in range(20)]
    fill(store_url, readings, meta)
    span = "datetime=2026-11-28T00:00:00Z/2026-11-29T23:59:59Z"
    with serve(store_url) as client:
        app: Any = client.app
        app.state.store = store = _AggregateRows(app.state.store)
        rows = store.rows
        whole = client.get(f"/ogc/collections/{collection}/items?{span}&limit=10000").json()
        everything = [f["id"] for f in whole["features"]]
        assert len(everything) == whole["numberMatched"] == (400 if collection == "hourly" else 80)
        url: str | None = f"/ogc/collections/{collection}/items?{span}&limit=7"
        seen: list[str] = []
        rows.clear()
        while url is not None:
            page = client.get(url).json()
            seen += [f["id"] for f in page["features"]]
            nexts = [link["href"] for link in page["links"] if link["rel"] == "next"]
            url = nexts[0].removeprefix("http://testserver") if nexts else None
        assert seen == everything
        assert len(rows) == -(-len(everything) // 7)
        assert max(rows) <= 8, rows


class _AggregateRows:
    """The real store, counting the windows each aggregates() call answers."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.rows: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def aggregates(self, query: AggregateQuery) -> list[Aggregate]:
        found = self._store.aggregates(query)
        self.rows.append(len(found))
        return found


def test_observations_expanded_below_datastreams_are_one_store_read(store_url: str) -> None:
    """Things' Datastreams' Observations: one read for every Thing of the page (one more for
    the noise indicators' days), not one per Thing or Datastream; each as its own collection."""
    _network(store_url, 50)
    path = "/v1.1/Things?$top=10&$expand=Datastreams"
    nested = f"{path}($expand=Observations($top=1;$count=true))"
    with serve(store_url) as client:
        trips = Trips(client)
        bare, expanded = trips.of(client, path), trips.of(client, nested)
        assert expanded[0] - bare[0] <= 3, trips.store.calls
        assert expanded[1] - bare[1] <= 3
        things = client.get(nested).json()["value"]
        assert len(things) == 10
        for datastream in [d for thing in things for d in thing["Datastreams"]][::5]:
            alone = client.get(
                f"/v1.1/Datastreams('{datastream['@iot.id']}')/Observations?$top=1&$count=true"
            ).json()
            assert datastream["Observations"] == alone["value"]
            assert datastream["Observations@iot.count"] == alone["@iot.count"]
