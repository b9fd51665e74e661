"""The InfluxDB store's change log against a real InfluxDB 1.6: positions that only grow
(across writers and a clock behind the log), paging within and across batches, a batch too
large for one point, filters, the log's own retention policy, and a store whose URL turns
it off."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lokaalmeten.readings import Reading
from lokaalmeten.store import (
    ChangesGone,
    ChangesUnsupported,
    StoreError,
    StoreRejected,
    open_store,
)
from lokaalmeten.store.influx_changes import CHUNK_BYTES, chunks, create_policy
from lokaalmeten.store.influxdb import InfluxDBStore

pytestmark = pytest.mark.influxdb

T0 = 1795824000  # 2026-11-28T00:00:00Z
_databases = itertools.count()


@pytest.fixture
def url(influxdb: Any) -> str:
    return f"influxdb://127.0.0.1:{influxdb.port}/changes{next(_databases)}"


@pytest.fixture
def store(url: str) -> Iterator[InfluxDBStore]:
    opened = open_store(url)
    assert isinstance(opened, InfluxDBStore)
    yield opened
    opened.close()


def query(store: InfluxDBStore, statement: str) -> Any:
    answer = httpx.post(
        f"{store.base_url}/query", data={"db": store.database, "q": statement, "epoch": "ns"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def write_raw(store: InfluxDBStore, body: str) -> None:
    """Points straight into the change log's policy, as another writer would send them."""
    answer = httpx.post(
        f"{store.base_url}/write",
        params={"db": store.database, "rp": "lm_changes", "precision": "ns"},
        content=body.encode(),
    )
    assert answer.status_code == 204, answer.text


def test_changes_page_in_stored_order_and_filter_without_losing_their_place(
    store: InfluxDBStore,
) -> None:
    assert store.change_head() == 0  # nothing written, not even the database
    assert store.changes(0, (), (), 10) == ([], 0)
    store.write([Reading("kit-1", "pm25", T0 + 60 * i, float(i), "SDS011") for i in range(5)])
    # Back-dated by a day (stored now, so it comes now), and a repeat, sent again.
    store.write([Reading("kit-2", "pm10", T0 - 86400, 9.0), Reading("kit-1", "pm25", T0, 0.0)])
    head = store.change_head()
    page, position = store.changes(0, (), (), 4)
    assert len(page) == 4 and position == page[-1][0]
    rest, position = store.changes(position, (), (), 4)
    assert [(r.node, r.time) for _, r in rest] == [
        ("kit-1", T0 + 240),
        ("kit-2", T0 - 86400),
        ("kit-1", T0),
    ]
    assert position == head == rest[-1][0]
    seqs = [seq for seq, _ in page + rest]
    assert seqs == sorted(seqs) and len(set(seqs)) == 7
    assert page[0][1] == Reading("kit-1", "pm25", T0, 0.0, "SDS011")
    assert store.changes(page[1][0], ("kit-3",), (), 100) == ([], head)
    only, _ = store.changes(0, ("kit-2",), ("pm10",), 100)
    assert [r for _, r in only] == [Reading("kit-2", "pm10", T0 - 86400, 9.0)]
    # Consecutive within a batch, nanoseconds of the clock apart between batches: a
    # position in between was never handed out.
    between = rest[0][0] + 1
    assert between < rest[1][0] and rest[0][0] == page[0][0] + 4
    assert store.change_known(page[2][0]) and not store.change_known(between)


def test_positions_only_grow_past_the_log_even_when_the_clock_is_behind(
    store: InfluxDBStore, url: str
) -> None:
    store.write([Reading("kit-1", "pm25", T0, 1.0)])
    # A writer whose clock ran an hour ahead left its batch in the log.
    ahead = time.time_ns() + 3600 * 10**9
    write_raw(store, b"".join(chunks([Reading("kit-1", "pm25", T0 + 1, 2.0)], ahead, 0)).decode())
    second = open_store(url)  # a restarted gateway, on this machine's clock
    try:
        second.write([Reading("kit-1", "pm25", T0 + 2, 3.0)])
        found, head = second.changes(0, (), (), 10)
    finally:
        second.close()
    assert [r.value for _, r in found] == [1.0, 2.0, 3.0]
    assert found[2][0] == ahead + 1 == head


def test_a_large_batch_is_split_into_points_and_paged_through_in_order(
    store: InfluxDBStore,
) -> None:
    # 6000 readings with long sensor names: several points (a string field holds 64 KiB).
    batch = [
        Reading(f"kit-{i % 7}", "pm25", T0 + i, i / 8, "S" * 30 + str(i % 3), i % 2)
        for i in range(6000)
    ]
    store.write(batch)
    points = query(store, 'SELECT count("r") FROM "lm_changes"."lm_change"')
    assert points["series"][0]["values"][0][1] >= 6000 * 60 // CHUNK_BYTES
    found: list[tuple[int, Reading]] = []
    position = 0
    while True:
        page, position = store.changes(position, (), (), 700)  # pages end inside points
        found += page
        if len(page) < 700:
            break
    assert [r for _, r in found] == batch
    seqs = [seq for seq, _ in found]
    assert seqs == list(range(seqs[0], seqs[0] + 6000)) and position == store.change_head()
    kit3, _ = store.changes(0, ("kit-3",), (), 10_000)
    assert [r for _, r in kit3] == [r for r in batch if r.node == "kit-3"]
    assert store.change_known(seqs[4321]) and not store.change_known(seqs[-1] + 1)


def test_the_log_has_a_retention_policy_of_its_own_also_in_an_older_database(
    store: InfluxDBStore,
) -> None:
    query(store, f'CREATE DATABASE "{store.database}"')  # made by a version without the log
    with pytest.raises(ChangesUnsupported, match="no change log in this database"):
        store.change_head()
    store.write([Reading("kit-1", "pm25", T0, 1.0)])
    policies = {
        row[0]: row[1] for row in query(store, "SHOW RETENTION POLICIES")["series"][0]["values"]
    }
    assert policies["lm_changes"] == "168h0m0s" and policies["autogen"] == "0s"
    # The readings stay in the default policy: the log's retention drops none of them.
    assert "series" not in query(store, 'SELECT * FROM "lm_changes"."pm25"')
    assert len(store.changes(0, (), (), 10)[0]) == 1


def test_a_resume_from_before_what_retention_kept_is_gone(store: InfluxDBStore) -> None:
    for start in (0, 10, 20):
        store.write([Reading("kit-1", "pm25", T0 + start + i, 1.0) for i in range(3)])
    seqs = [seq for seq, _ in store.changes(0, (), (), 10)[0]]
    # Retention drops whole days: here the first batch.
    query(store, f"DELETE FROM lm_change WHERE time <= {seqs[2]}")
    with pytest.raises(ChangesGone, match="older than the change log"):
        store.changes(seqs[1], (), (), 10)
    assert [seq for seq, _ in store.changes(seqs[2], (), (), 10)[0]] == seqs[3:]
    assert store.change_known(seqs[2]) and not store.change_known(seqs[1])


def test_changes_off_keeps_no_log_and_says_so(url: str) -> None:
    quiet = open_store(f"{url}?changes=off")
    try:
        quiet.write([Reading("kit-1", "pm25", T0, 1.0)])
        with pytest.raises(ChangesUnsupported, match="changes=off"):
            quiet.change_head()
    finally:
        quiet.close()
    reader = open_store(url)
    try:
        with pytest.raises(ChangesUnsupported, match="no change log in this database"):
            reader.changes(0, (), (), 10)
    finally:
        reader.close()
    with pytest.raises(StoreError, match="changes is on"):
        open_store(f"{url}?changes=maybe")


def test_a_refused_change_log_write_is_retried_not_quarantined(store: InfluxDBStore) -> None:
    query(store, f'CREATE DATABASE "{store.database}"')
    query(store, create_policy(store.database))
    # Someone wrote "r" as an integer into today's shard: InfluxDB refuses ours with a 400.
    write_raw(store, f"lm_change r=1i {time.time_ns()}")
    with pytest.raises(StoreError, match="the change log refused a write") as refused:
        store.write([Reading("kit-1", "pm25", T0 + 60, 2.0)])
    # A plain StoreError: the gateway retries the batch; a StoreRejected would quarantine
    # readings that are stored already.
    assert not isinstance(refused.value, StoreRejected)
    assert [r.value for r in store.latest()] == [2.0]  # stored all the same


def test_many_small_batches_fill_a_page_and_a_filtered_look_stays_bounded(
    store: InfluxDBStore,
) -> None:
    for i in range(250):  # a kit at a time, as a quiet gateway writes
        store.write([Reading("kit-1" if i < 249 else "kit-2", "pm25", T0 + i, float(i))])
    page, position = store.changes(0, (), (), 100)
    assert [r.value for _, r in page] == [float(i) for i in range(100)]
    assert position == page[-1][0]
    # kit-2's one reading is the 250th: the first look reads 200 batches, finds none of
    # it and moves its place past them; the next finds it.
    none, place = store.changes(0, ("kit-2",), (), 100)
    assert none == [] and place == store.changes(0, (), (), 200)[0][-1][0]
    found, head = store.changes(place, ("kit-2",), (), 100)
    assert [r.node for _, r in found] == ["kit-2"] and head == store.change_head()
