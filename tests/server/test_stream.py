"""The live stream against a real server process (uvicorn) and a real store, SQLite and
InfluxDB, written while clients listen: every reading in the order stored, resumed without a
gap or a repeat, the subscriber bound, and a stopping server that ends its streams."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lokaalmeten.readings import FLAG_TIME_BACKDATED, Reading
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn
from lokaalmeten.store import Store, open_store
from tests.server.conftest import T0

MAX_CLIENTS = 2
# The heartbeat of a test server: the default 15 s would make the heartbeat test wait that long.
HEARTBEAT_S = 2.0
_databases = itertools.count()


class Live:
    def __init__(self, url: str, port: int, process: subprocess.Popen[bytes]) -> None:
        self.url, self.base, self.process = url, f"http://127.0.0.1:{port}", process

    @property
    def influxdb(self) -> bool:
        return self.url.startswith("influxdb:")


def start_server(url: str, folder: Path) -> Live:
    port = free_port()
    env = {
        **os.environ,
        "LM_MAX_STREAM_CLIENTS": str(MAX_CLIENTS),
        "LM_RATE_LIMIT": "0",
        "LM_STREAM_HEARTBEAT_S": str(HEARTBEAT_S),
    }
    with (folder / "server.log").open("ab") as log:
        process = spawn(
            [sys.executable, "-m", "lokaalmeten", "server", "--store", url,
             "--registry", str(folder / "registry.db"), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    assert wait_listening("127.0.0.1", port, 20, alive=lambda: process.poll() is None), (
        folder / "server.log"
    ).read_text()
    return Live(url, port, process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.influxdb)])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lm.db'}"
    else:
        url = f"influxdb://127.0.0.1:{request.getfixturevalue('influxdb').port}/live{next(_databases)}"
    writer = open_store(url)
    writer.write([Reading("kit-1", "pm25", T0 - 3600, 1.0, "SDS011")])  # before anyone listens
    writer.close()
    server = start_server(url, tmp_path)
    yield server
    stop(server.process)


@pytest.fixture
def writer(live: Live) -> Iterator[Store]:
    store = open_store(live.url)
    yield store
    store.close()


def events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The stream's events as dicts of their fields (comments as "comment")."""
    event: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            event["comment"] = line[1:].strip()
        else:
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")


def readings_of(response: httpx.Response, count: int) -> list[tuple[int, dict[str, Any]]]:
    """The next ``count`` reading events: (id, the reading's JSON)."""
    found = []
    for event in events(response):
        if event.get("event") == "reading":
            found.append((int(event["id"]), json.loads(event["data"])))
            if len(found) == count:
                return found
    raise AssertionError(f"the stream ended after {len(found)} of {count} readings")


def subscribe(
    client: httpx.Client, live: Live, query: str = "", headers: dict[str, str] | None = None
) -> Any:
    return client.stream("GET", f"{live.base}/v1/stream{query}", headers=headers)


def batch(node: str, start: int, count: int) -> list[Reading]:
    return [Reading(node, "pm25", T0 + 60 * (start + i), float(start + i), "SDS011") for i in
            range(count)]  # fmt: skip


def test_delivers_every_reading_in_order_and_resumes_without_gap_or_repeat(
    live: Live, writer: Store
) -> None:
    with httpx.Client(timeout=10) as client:
        with subscribe(client, live) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            writer.write(batch("kit-1", 0, 5))
            # A repeat is no new reading; a back-dated one (made a day ago, stored now) is.
            writer.write([*batch("kit-1", 0, 2), *batch("kit-2", 0, 3)])
            writer.write([Reading("kit-1", "pm25", T0 - 86400, 3.5, "SDS011", FLAG_TIME_BACKDATED)])
            first = readings_of(response, 11 if live.influxdb else 9)
        ids = [seq for seq, _ in first]
        assert ids == sorted(ids) and len(set(ids)) == len(first)
        if live.influxdb:
            # InfluxDB cannot tell a repeat from a new reading (the point overwrites itself),
            # so it is sent again: the same reading, at least once, never none.
            assert [r for _, r in first[5:7]] == [r for _, r in first[:2]]
            first = first[:5] + first[7:]
        got = [(r["node"], r["time"], r["value"]) for _, r in first]
        assert got[:5] == [("kit-1", f"2026-11-28T00:0{i}:00Z", float(i)) for i in range(5)]
        assert got[5:8] == [("kit-2", f"2026-11-28T00:0{i}:00Z", float(i)) for i in range(3)]
        assert got[8] == ("kit-1", "2026-11-27T00:00:00Z", 3.5)
        assert first[8][1]["flags"] == ["time_backdated"]
        assert first[0][1]["unit"] == "µg/m³" and first[0][1]["sensor"] == "SDS011"

        # Gone for a while: what is stored meanwhile comes on reconnecting, once each.
        writer.write(batch("kit-1", 10, 4))
        writer.write(batch("kit-2", 10, 2))
        with subscribe(client, live, headers={"Last-Event-ID": str(ids[-1])}) as response:
            writer.write(batch("kit-1", 20, 1))
            second = readings_of(response, 7)
        again = [seq for seq, _ in second]
        assert again == sorted(again) and len(set(again)) == 7 and again[0] > ids[-1]
        if not live.influxdb:  # SQLite's positions are consecutive; InfluxDB's nanoseconds
            assert again == list(range(ids[-1] + 1, ids[-1] + 8))
        assert [(r["node"], r["value"]) for _, r in second] == [
            *(("kit-1", float(10 + i)) for i in range(4)),
            *(("kit-2", float(10 + i)) for i in range(2)),
            ("kit-1", 20.0),
        ]
        # The query form, for clients without EventSource: the same readings again.
        with subscribe(client, live, f"?last_event_id={ids[-1]}") as response:
            assert readings_of(response, 7) == second


def test_a_new_subscriber_starts_at_the_newest_and_filters_by_node_and_quantity(
    live: Live, writer: Store
) -> None:
    with (
        httpx.Client(timeout=10) as client,
        subscribe(client, live, "?node=kit-2&quantity=pm25") as response,
    ):
        writer.write([*batch("kit-1", 0, 3), Reading("kit-2", "pm10", T0, 4.0, "SDS011")])
        writer.write(batch("kit-2", 0, 2))
        found = readings_of(response, 2)
    # Not the reading stored before it subscribed, nor kit-1's, nor kit-2's pm10.
    assert [(r["node"], r["quantity"], r["value"]) for _, r in found] == [
        ("kit-2", "pm25", 0.0),
        ("kit-2", "pm25", 1.0),
    ]


def test_the_subscriber_bound_refuses_clearly_and_a_leaving_one_frees_its_slot(
    live: Live,
) -> None:
    with httpx.Client(timeout=10) as client:
        held = [subscribe(client, live) for _ in range(MAX_CLIENTS)]
        answers = [stream.__enter__() for stream in held]
        assert all(answer.status_code == 200 for answer in answers)
        refused = client.get(f"{live.base}/v1/stream")
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "30"
        assert "max_stream_clients" in refused.json()["error"]["message"]
        # Streams do not count against the requests for readings (max_heavy_total = 2).
        assert client.get(f"{live.base}/v1/readings").status_code == 200
        held[0].__exit__(None, None, None)
        deadline = time.monotonic() + 5
        while True:
            with subscribe(client, live) as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the slot of a gone subscriber stayed taken"
            time.sleep(0.1)
        held[1].__exit__(None, None, None)


def test_a_stopping_server_ends_its_streams_promptly(live: Live) -> None:
    with httpx.Client(timeout=10) as client, subscribe(client, live) as response:
        assert response.status_code == 200
        next(response.iter_lines())  # the stream has begun
        began = time.monotonic()
        live.process.send_signal(signal.SIGTERM)
        live.process.wait(10)
        assert time.monotonic() - began < 5


@pytest.mark.parametrize(
    ("query", "headers", "status", "words"),
    [
        ("", {"Last-Event-ID": "x7"}, 400, "an event id this stream sent"),
        ("?last_event_id=-1", None, 400, "an event id this stream sent"),
        ("?last_event_id=%C2%B9", None, 400, "an event id this stream sent"),  # "¹": isdigit()
        ("", {"Last-Event-ID": "99999"}, 400, "not an event id of this stream"),
        ("?quantity=smog", None, 400, "unknown 'smog'"),
    ],
)
def test_bad_resumption_and_filters_are_refused_clearly(
    live: Live, query: str, headers: dict[str, str] | None, status: int, words: str
) -> None:
    answer = httpx.get(f"{live.base}/v1/stream{query}", headers=headers, timeout=10)
    assert answer.status_code == status
    assert words in answer.json()["error"]["message"]


@pytest.mark.influxdb
def test_influxdb_without_its_change_log_refuses_the_stream_and_says_why(
    influxdb: Any, tmp_path: Path
) -> None:
    url = f"influxdb://127.0.0.1:{influxdb.port}/nolog{next(_databases)}"
    writer = open_store(f"{url}?changes=off")
    writer.write(batch("kit-1", 0, 2))  # the gateway's store URL turned the log off
    writer.close()
    answers = []
    for served in (url, f"{url}?changes=off"):
        server = start_server(served, tmp_path)
        try:
            answers.append(httpx.get(f"{server.base}/v1/stream", timeout=10))
        finally:
            stop(server.process)
    assert [answer.status_code for answer in answers] == [501, 501]
    assert "changes=off" in answers[0].json()["error"]["message"]
    assert "says changes=off" in answers[1].json()["error"]["message"]
    assert all("poll /v1/readings" in a.json()["error"]["message"] for a in answers)


def test_a_position_older_than_the_change_log_is_refused_with_where_to_look(
    live: Live, writer: Store
) -> None:
    writer.write(batch("kit-1", 0, 3))
    writer.write(batch("kit-1", 3, 2))
    seqs = [seq for seq, _ in writer.changes(0, (), (), 10)[0]]
    assert len(seqs) == 6  # the reading stored before the server started, then these
    forget(live, seqs[3])
    answer = httpx.get(
        f"{live.base}/v1/stream", headers={"Last-Event-ID": str(seqs[1])}, timeout=10
    )
    assert answer.status_code == 410
    assert "fetch the gap from /v1/readings" in answer.json()["error"]["message"]
    with (
        httpx.Client(timeout=10) as client,
        subscribe(client, live, headers={"Last-Event-ID": str(seqs[3])}) as response,
    ):
        assert [seq for seq, _ in readings_of(response, 2)] == seqs[4:]


def forget(live: Live, upto: int) -> None:
    """Drop the change log's oldest positions, up to ``upto``, as the store does: SQLite's
    write path prunes it once it holds more than it keeps; InfluxDB's retention policy drops
    its oldest days, whole batches (``upto`` ends one)."""
    if live.influxdb:
        host, database = live.url.removeprefix("influxdb://").split("/")
        answer = httpx.post(
            f"http://{host}/query",
            data={"db": database, "q": f"DELETE FROM lm_change WHERE time <= {upto}"},
        )
        assert answer.status_code == 200 and "error" not in answer.text, answer.text
        return
    conn = sqlite3.connect(live.url.removeprefix("sqlite://"))
    with conn:
        conn.execute("DELETE FROM reading_change WHERE seq <= ?", (upto,))
    conn.close()


def test_the_heartbeat_moves_a_quiet_filtered_subscriber_to_the_newest_position(
    live: Live, writer: Store
) -> None:
    with httpx.Client(timeout=30) as client, subscribe(client, live, "?node=kit-9") as response:
        writer.write(batch("kit-1", 0, 3))  # none of them for this subscriber
        head = writer.change_head()
        beat = next(event for event in events(response) if "comment" in event)
    assert beat["comment"] == "heartbeat" and int(beat["id"]) == head
    assert "event" not in beat and "data" not in beat  # EventSource dispatches nothing
