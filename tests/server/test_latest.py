"""`/v1/latest` answered again from the bytes a worker kept while nothing changed: one look at
the store's and the node directory's change points, never a stale answer. Each test writes
through a store or directory of its own, as the gateway does, on SQLite and on InfluxDB, and
then the very next request must show the change; with two worker processes too. On
InfluxDB the store's point is looked at once every LatestAnswers.LOOK_S at most, so there the
next request after that shows it (the tests that check exactness set LOOK_S to 0)."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any

import pytest

from lokaalmeten.gateway.directory import Directory, Edit
from lokaalmeten.readings import Reading
from lokaalmeten.server.deps import RequestDirectory
from lokaalmeten.server.routes.nodes import LatestAnswers
from lokaalmeten.store import Store, open_store
from tests.server.test_workers import Server

from .conftest import META, READINGS, T0, fill, registry_for, serve
from .test_round_trips import Trips, directory_reads


def _values(body: dict[str, Any], node: str) -> dict[str, Any]:
    return next(kit for kit in body["value"] if kit["node"] == node)


def _exact(client: Any) -> None:
    """Look at the store's change point on every request, also on InfluxDB."""
    client.app.state.latest_answers.LOOK_S = 0.0


def test_an_unchanged_network_is_answered_with_one_look_at_each_change_point(
    store_url: str,
) -> None:
    fill(store_url, READINGS, META)
    with serve(store_url) as client:
        _exact(client)
        first = client.get("/v1/latest")
        trips = Trips(client)
        calls, requests = trips.of(client, "/v1/latest")
        assert dict(trips.store.calls) == {"change_point": 1}
        assert calls == 1
        assert requests <= 1  # InfluxDB: the change log's head; SQLite: none
        assert directory_reads(trips) == 0
        assert trips.directory.calls["change_point"] == 1
        assert client.get("/v1/latest").content == first.content


def test_each_write_shows_in_the_next_answer(store_url: str) -> None:
    fill(store_url, READINGS, META)
    writer = open_store(store_url)
    try:
        with serve(store_url) as client:
            _exact(client)
            for step in range(1, 6):
                client.get("/v1/latest")  # the answer is kept ...
                writer.write([Reading("kit-2", "pm25", T0 + 3600 * step, 100.0 + step, "SPS30")])
                pm25 = _values(client.get("/v1/latest").json(), "kit-2")["values"]["pm25"]
                assert pm25["value"] == 100.0 + step  # ... and never served after the write
            writer.write([Reading("kit-3", "pm10", T0, 3.0, "SDS011")])  # a new kit
            assert _values(client.get("/v1/latest").json(), "kit-3")["values"]["pm10"]["value"] == 3
    finally:
        writer.close()


def test_a_directory_change_shows_in_the_next_answer(store_url: str) -> None:
    fill(store_url, READINGS, META)
    with serve(store_url) as client:
        _exact(client)
        before = _values(client.get("/v1/latest").json(), "kit-2")["location"]
        assert before["latitude"] == pytest.approx(52.100049)
        directory = Directory(registry_for(store_url))
        try:
            directory.edit("kit-2", Edit(location=(51.5, 4.4), exact=True))
        finally:
            directory.close()
        after = _values(client.get("/v1/latest").json(), "kit-2")["location"]
    assert (after["latitude"], after["longitude"]) == (51.5, 4.4)


def test_a_remote_store_is_looked_at_once_a_look_s_and_a_write_shows_after_it(
    store_url: str,
) -> None:
    """Many requests within LOOK_S cost InfluxDB one look at its change point (SQLite, a local
    file, is looked at each time); a write is served at the first request after LOOK_S."""
    fill(store_url, READINGS, META)
    writer = open_store(store_url)
    remote = store_url.startswith("influxdb")
    try:
        with serve(store_url) as client:
            answers: LatestAnswers = client.app.state.latest_answers  # type: ignore[attr-defined]
            answers.LOOK_S = 0.5
            client.get("/v1/latest")
            trips = Trips(client)
            # Each request of a kept answer asks the store for its change point only.
            looks = sum(trips.of(client, "/v1/latest")[0] for _ in range(20))
            writer.write([Reading("kit-2", "pm25", T0 + 7200, 77.0, "SPS30")])
            if remote:
                # Only the count of looks is asserted, not the time: a slow machine may
                # let LOOK_S pass between two of the twenty requests.
                assert looks < 20
                time.sleep(answers.LOOK_S)
            else:
                assert looks == 20
            pm25 = _values(client.get("/v1/latest").json(), "kit-2")["values"]["pm25"]
            assert pm25["value"] == 77.0
    finally:
        writer.close()


def _answer(answers: LatestAnswers, client: Any, now: float) -> dict[str, Any]:
    app = client.app
    directory = RequestDirectory(app.state.directory)
    body = answers.answer(app.state.store, directory, app.state.settings, (), now)
    return json.loads(body)  # type: ignore[no-any-return]


def test_a_kit_without_status_goes_offline_by_the_clock_alone(store_url: str) -> None:
    # No write: only time passes. kit-2 (interval 60 s) is online for 900 s after its last
    # reading, kit-1 (the default 145 s) too.
    fill(store_url, READINGS, META)
    last = T0 + 60 * 29  # kit-1's newest reading; kit-2's is T0 + 240
    answers = LatestAnswers()
    answers.MAX_AGE = 1e9  # the clock's part alone, not the backstop
    with serve(store_url) as client:
        body = _answer(answers, client, T0 + 300)
        assert [_values(body, n)["online"] for n in ("kit-1", "kit-2")] == [True, True]
        body = _answer(answers, client, T0 + 240 + 900.5)
        assert [_values(body, n)["online"] for n in ("kit-1", "kit-2")] == [True, False]
        body = _answer(answers, client, last + 900.5)
        assert [_values(body, n)["online"] for n in ("kit-1", "kit-2")] == [False, False]


def test_a_store_that_cannot_tell_a_change_is_asked_every_time(store_url: str) -> None:
    fill(store_url, READINGS, META)
    with serve(store_url) as client:
        trips = Trips(client)
        store: Any = client.app.state.store  # type: ignore[attr-defined]
        store.change_point = lambda: Store.change_point(store._store)
        for _ in range(2):
            trips.of(client, "/v1/latest")
            assert trips.store.calls["latest"] == 1


def _get(port: int, path: str) -> tuple[int, bytes]:
    # A new connection each time: the kernel hands it to either worker.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_two_workers_both_show_a_write_at_the_next_look(store_url: str, tmp_path: Path) -> None:
    fill(store_url, READINGS, META)
    server = Server(store_url, tmp_path, workers=2, rate_limit="0")
    writer = open_store(store_url)
    try:
        for step in range(1, 4):
            for _ in range(12):  # both workers keep an answer
                assert _get(server.port, "/v1/latest")[0] == 200
            writer.write([Reading("kit-1", "pm25", T0 + 3600 * step, 50.0 + step, "SDS011")])
            if store_url.startswith("influxdb"):
                time.sleep(LatestAnswers.LOOK_S)  # each worker looks again after it
            for _ in range(12):
                status, body = _get(server.port, "/v1/latest")
                assert status == 200
                kit = _values(json.loads(body), "kit-1")
                assert kit["values"]["pm25"]["value"] == 50.0 + step
                assert kit["values"]["pm25"]["time"] == time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 3600 * step)
                )
    finally:
        writer.close()
        server.stop()


def test_a_kept_answer_goes_through_every_middleware_as_the_route_s(store_url: str) -> None:
    fill(store_url, READINGS, META)
    asked = {"Origin": "https://gemeente.example", "Accept-Encoding": "gzip"}
    with serve(store_url) as client:
        made = client.get("/v1/latest", headers=asked)  # by the route
        trips = Trips(client)
        kept = client.get("/v1/latest", headers=asked)
        assert "latest" not in trips.store.calls  # beside the route
    assert kept.status_code == made.status_code == 200
    assert kept.content == made.content
    for name in ("api-version", "access-control-allow-origin", "content-type", "vary"):
        assert kept.headers.get(name) == made.headers.get(name), name
    # gzip applies to either alike once an answer is long enough (two kits: not yet).
    assert kept.headers.get("content-encoding") == made.headers.get("content-encoding")


def test_a_kept_answer_counts_against_the_rate_limit(store_url: str) -> None:
    fill(store_url, READINGS, META)
    with serve(store_url, rate_limit=3) as client:
        statuses = [client.get("/v1/latest").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]


def test_a_filtered_request_is_kept_apart(store_url: str) -> None:
    fill(store_url, READINGS, META)
    with serve(store_url) as client:
        every = client.get("/v1/latest").json()
        one = client.get("/v1/latest?node=kit-2").json()
        assert [kit["node"] for kit in every["value"]] == ["kit-1", "kit-2"]
        assert [kit["node"] for kit in one["value"]] == ["kit-2"]
        assert client.get("/v1/latest").json() == every
        assert client.get("/v1/latest?node=kit-2").json() == one
