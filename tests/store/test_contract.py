"""One contract, every store: the same writes give the same answers on SQLite and InfluxDB."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.readings import Reading
from lokaalmeten.store import (
    Aggregate,
    AggregateQuery,
    ReadingQuery,
    Store,
    StoreError,
    StoreRejected,
    open_store,
)
from lokaalmeten.store.influxdb import InfluxDBStore
from lokaalmeten.store.sqlite import SQLiteStore

T0 = 1795824000


BATCH = [
    Reading("kit-2", "pm25", T0, 5.0, "SDS011"),
    Reading("kit-1", "pm25", T0 + 60, 7.25, "SDS011", 1),
    Reading("kit-1", "pm25", T0, 7.0, "SDS011"),
    Reading("kit-1", "temperature", T0, -3.5, None),
    Reading("kit 3,odd=name", "pm10", T0, 2.0, "A B"),
]


def everything(store: Store, **kwargs: object) -> list[Reading]:
    return store.readings(ReadingQuery(start=0, end=2**34, limit=1000, **kwargs))  # type: ignore[arg-type]


def test_reads_back_in_identity_order(store: Store) -> None:
    store.write(BATCH)
    assert everything(store) == sorted(BATCH, key=lambda r: (r.node, r.quantity, r.time))


def test_a_repeat_is_one_reading(store: Store) -> None:
    store.write(BATCH)
    store.write(BATCH[:2])
    assert len(everything(store)) == len(BATCH)


def test_filters_and_keyset_paging(store: Store) -> None:
    store.write(BATCH)
    only = everything(store, nodes=("kit-1",), quantities=("pm25",))
    assert [r.time for r in only] == [T0, T0 + 60]
    pages: list[Reading] = []
    after = None
    while True:
        page = store.readings(ReadingQuery(0, 2**34, 2, after=after))
        pages += page
        if len(page) < 2:
            break
        after = page[-1].identity
    assert pages == everything(store)


def test_half_open_time_range(store: Store) -> None:
    store.write(BATCH)
    found = store.readings(ReadingQuery(start=T0 + 1, end=T0 + 61, limit=10))
    assert [(r.node, r.time) for r in found] == [("kit-1", T0 + 60)]


def test_node_summaries(store: Store) -> None:
    store.write(BATCH)
    summaries = {s.node: s for s in store.nodes()}
    assert sorted(summaries) == ["kit 3,odd=name", "kit-1", "kit-2"]
    kit1 = summaries["kit-1"]
    assert kit1.quantities == ("pm25", "temperature")
    assert kit1.sensors == ("SDS011",)
    assert (kit1.first_time, kit1.last_time, kit1.readings) == (T0, T0 + 60, 3)


def test_an_empty_store_answers_empty(store: Store) -> None:
    assert everything(store) == []
    assert store.nodes() == []


@pytest.mark.influxdb
def test_influxdb_down_is_a_passing_error_and_a_type_conflict_is_a_rejection(
    influxdb: object, tmp_path: Path
) -> None:
    from lokaalmeten.services.ports import free_port

    nowhere = open_store(f"influxdb://127.0.0.1:{free_port()}/lm")
    with pytest.raises(StoreError, match="cannot reach InfluxDB") as caught:
        nowhere.write(BATCH)
    assert not isinstance(caught.value, StoreRejected)
    port = influxdb.port  # type: ignore[attr-defined]
    store = open_store(f"influxdb://127.0.0.1:{port}/conflict")
    store.write([Reading("kit-1", "pm25", T0, 1.0)])
    # Someone else's tool wrote a string into our 'value' field: InfluxDB refuses the type.
    import httpx

    httpx.post(
        f"http://127.0.0.1:{port}/write",
        params={"db": "conflict", "precision": "s"},
        content=b'co2,node=kit-1 value="high" 1795824000',
    )
    with pytest.raises(StoreRejected, match="400"):
        store.write([Reading("kit-1", "co2", T0 + 1, 400.0)])


def test_descending_pages_walk_back_in_time(store: Store) -> None:
    store.write(BATCH)
    first = store.readings(ReadingQuery(0, 2**34, 1, ("kit-1",), ("pm25",), descending=True))
    assert [r.time for r in first] == [T0 + 60]
    rest = store.readings(
        ReadingQuery(0, 2**34, 5, ("kit-1",), ("pm25",), first[0].identity, descending=True)
    )
    assert [r.time for r in rest] == [T0]


def test_streams_and_stream_batches(store: Store) -> None:
    store.write(BATCH)
    assert store.streams() == [
        ("kit 3,odd=name", "pm10"),
        ("kit-1", "pm25"),
        ("kit-1", "temperature"),
        ("kit-2", "pm25"),
    ]
    assert store.streams(("kit-1",), ("temperature",)) == [("kit-1", "temperature")]
    batches = list(store.stream(ReadingQuery(0, 2**34, 1000), batch=1))
    assert [(b.node, b.quantity, len(b.rows)) for b in batches] == [
        ("kit 3,odd=name", "pm10", 1),
        ("kit-1", "pm25", 1),
        ("kit-1", "pm25", 1),
        ("kit-1", "temperature", 1),
        ("kit-2", "pm25", 1),
    ]
    readings = [
        Reading(b.node, b.quantity, t, v, *b.tags[tag]) for b in batches for t, v, tag in b.rows
    ]
    assert readings == everything(store)
    assert readings[2] == Reading("kit-1", "pm25", T0 + 60, 7.25, "SDS011", 1)
    back = store.stream(ReadingQuery(0, 2**34, 1, ("kit-1",), ("pm25",), descending=True))
    assert [t for b in back for t, _, _ in b.rows] == [T0 + 60, T0]


def test_spans(store: Store) -> None:
    store.write(BATCH)
    assert store.spans() == {
        ("kit 3,odd=name", "pm10"): (T0, T0),
        ("kit-1", "pm25"): (T0, T0 + 60),
        ("kit-1", "temperature"): (T0, T0),
        ("kit-2", "pm25"): (T0, T0),
    }
    assert list(store.spans(("kit-2",))) == [("kit-2", "pm25")]


def test_count(store: Store) -> None:
    store.write(BATCH)
    assert store.count(ReadingQuery(0, 2**34, 1)) == 5
    assert store.count(ReadingQuery(T0 + 1, 2**34, 1, ("kit-1",))) == 1
    assert store.count(ReadingQuery(0, 2**34, 1, (), ("pm25",))) == 3
    assert store.count(ReadingQuery(0, T0, 1)) == 0


def test_estimate_bounds_the_count_and_is_exact_on_whole_hours(store: Store) -> None:
    store.write(BATCH + [Reading("kit-1", "pm25", T0 + 3600 + 60 * i, 1.0) for i in range(30)])
    queries = [
        ReadingQuery(0, 2**34, 1),
        ReadingQuery(T0 + 1, T0 + 3600 + 600, 1, ("kit-1",)),
        ReadingQuery(T0 + 3600 + 61, T0 + 3600 + 62, 1, (), ("pm25",)),
        ReadingQuery(0, T0, 1),
    ]
    for query in queries:
        assert store.estimate(query) >= store.count(query), query
    whole = ReadingQuery(T0, T0 + 7200, 1, ("kit-1",), ("pm25",))
    assert store.estimate(whole) == store.count(whole) == 32
    assert store.estimate(ReadingQuery(T0 + 7200, 2**34, 1)) == 0


def test_latest_per_stream(store: Store) -> None:
    store.write(BATCH)
    assert store.latest(("kit-1",)) == [
        Reading("kit-1", "pm25", T0 + 60, 7.25, "SDS011", 1),
        Reading("kit-1", "temperature", T0, -3.5, None),
    ]
    assert len(store.latest()) == 4


def test_aggregates_count_valid_hours_per_node_threshold(store: Store) -> None:
    hour = [Reading("a", "pm25", T0 + 600 * k, float(k), None) for k in range(6)]
    store.write([*hour, *(r._replace(node="b") for r in hour[:3])])
    query = AggregateQuery(T0, T0 + 86400, 86400, default_threshold=4, thresholds={"b": 3})
    assert store.aggregates(query) == [
        Aggregate("a", "pm25", T0, 6, 2.5, 0.0, 5.0, 1),
        Aggregate("b", "pm25", T0, 3, 1.0, 0.0, 2.0, 1),
    ]
    strict = AggregateQuery(T0, T0 + 3600, 3600, ("b",), ("pm25",), default_threshold=4)
    assert store.aggregates(strict) == [Aggregate("b", "pm25", T0, 3, 1.0, 0.0, 2.0, 0)]


def test_each_quantity_aggregates_by_its_method(store: Store) -> None:
    """By hand: the energetic mean of 50 and 70 dB is 10·log10((10^5 + 10^7) / 2) = 67.03;
    the arithmetic mean would be 60. LAFmax takes the max, LAFmin the min, LAF10 no value."""
    levels = [50.0, 70.0, 50.0, 70.0]
    store.write(
        [
            Reading("n", quantity, T0 + 900 * k, level + offset)
            for quantity, offset in (
                ("noise_laeq", 0.0),
                ("noise_lamax", 10.0),
                ("noise_lamin", -10.0),
                ("noise_la10", 3.0),
                ("pm25", -45.0),
            )
            for k, level in enumerate(levels)
        ]
    )
    for window in (3600, 86400):
        found = {a.quantity: a for a in store.aggregates(AggregateQuery(T0, T0 + 86400, window))}
        assert found["noise_laeq"].method == "energetic_mean"
        assert round(found["noise_laeq"].value or 0, 1) == 67.0
        assert found["noise_laeq"].value == pytest.approx(67.0329, abs=1e-4)
        assert (found["noise_lamax"].method, found["noise_lamax"].value) == ("max", 80.0)
        assert (found["noise_lamin"].method, found["noise_lamin"].value) == ("min", 40.0)
        la10 = found["noise_la10"]
        assert (la10.method, la10.value, la10.readings) == ("none", None, 4)
        assert (la10.minimum, la10.maximum) == (53.0, 73.0)
        assert (found["pm25"].method, found["pm25"].value) == ("mean", 15.0)


def test_flagged_readings_are_left_out_and_lower_the_coverage(store: Store) -> None:
    from lokaalmeten.readings import FLAG_CLIPPED, FLAG_SPIKE, FLAG_TIME_ESTIMATED

    hour = [Reading("a", "noise_laeq", T0 + 600 * k, 50.0) for k in range(6)]
    hour[1] = hour[1]._replace(value=70.0, flags=FLAG_TIME_ESTIMATED)  # a time flag counts
    hour[2] = hour[2]._replace(value=120.0, flags=FLAG_CLIPPED)
    hour[3] = hour[3]._replace(value=20.0, flags=FLAG_SPIKE | FLAG_TIME_ESTIMATED)
    # An hour whose one reading is left out is listed, with nothing to aggregate.
    store.write([*hour, Reading("a", "noise_laeq", T0 + 7200, 99.0, None, FLAG_CLIPPED)])
    query = AggregateQuery(T0, T0 + 3 * 3600, 3600, default_threshold=4)
    first, third = store.aggregates(query)
    assert (first.readings, first.excluded, first.valid_hours) == (4, 2, 1)
    assert first.value == pytest.approx(10 * math.log10((3 * 10**5 + 10**7) / 4))
    assert (first.minimum, first.maximum) == (50.0, 70.0)
    assert third == Aggregate("a", "noise_laeq", T0 + 7200, 0, None, None, None, 0, 1)
    strict = AggregateQuery(T0, T0 + 86400, 86400, default_threshold=5)
    (day,) = store.aggregates(strict)
    assert (day.readings, day.excluded, day.valid_hours) == (4, 3, 0)  # 4 of 5 needed


def test_hourly_energy_is_dense_and_leaves_out_flagged_readings(store: Store) -> None:
    store.write(
        [
            Reading("a", "noise_laeq", T0 - 3600 + 60, 60.0),
            Reading("a", "noise_laeq", T0 + 3600 + 60, 50.0),
            Reading("a", "noise_laeq", T0 + 3600 + 120, 70.0),
            Reading("a", "noise_laeq", T0 + 3600 + 180, 90.0, None, 32),
            Reading("b", "pm25", T0, 5.0),
        ]
    )
    found = store.hourly_energy(("a", "b"), "noise_laeq", T0 - 3600 + 5, T0 + 3 * 3600 - 5)
    assert list(found) == ["a"]
    assert found["a"].start == T0 - 3600
    assert found["a"].counts == [1, 0, 2, 0]
    assert found["a"].energies == pytest.approx([10**6, 0.0, 10**5 + 10**7, 0.0])


def write_old_node_meta(store: Store) -> None:
    """Node metadata as lokaalmeten 0.1 kept it in each backend."""
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path)
        conn.execute(
            "CREATE TABLE node_meta (node TEXT PRIMARY KEY, latitude REAL, longitude REAL, "
            "exact INTEGER NOT NULL DEFAULT 0, name TEXT NOT NULL DEFAULT '', "
            "description TEXT NOT NULL DEFAULT '', interval REAL)"
        )
        conn.execute(
            "INSERT INTO node_meta VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("kit-1", 52.1, 5.1, 1, 'Dak "Oost"', "op, het dak", 60),
        )
        conn.execute("INSERT INTO node_meta (node, name) VALUES ('kit-2', 'no place yet')")
        conn.commit()
        conn.close()
    else:
        assert isinstance(store, InfluxDBStore)
        store._write_lines(
            b'lm_node_meta,node=kit-1 exact=true,name="Dak \\"Oost\\"",'
            b'description="op, het dak",latitude=52.1,longitude=5.1,interval=60.0 0\n'
            b'lm_node_meta,node=kit-2 exact=false,name="no place yet",description="" 0'
        )


def test_node_metadata_of_an_older_version_is_read_once_and_then_forgotten(store: Store) -> None:
    assert store.legacy_node_meta() == {}  # a store made now keeps none
    write_old_node_meta(store)
    store.write(BATCH)
    assert store.legacy_node_meta() == {
        "kit-1": NodeMeta("kit-1", 52.1, 5.1, True, 'Dak "Oost"', "op, het dak", 60.0),
        "kit-2": NodeMeta("kit-2", name="no place yet"),
    }
    store.forget_legacy_node_meta()
    assert store.legacy_node_meta() == {}
    assert everything(store) == sorted(BATCH, key=lambda r: (r.node, r.quantity, r.time))


def test_sqlite_rollups_kept_by_the_writes_equal_the_rebuild(tmp_path: Path) -> None:
    """Each write keeps the roll-ups; a store from before schema 4 (or of another rule) has
    them rebuilt from the raw readings when first opened: the same rows either way."""
    import sqlite3

    from lokaalmeten.store.sqlite import SCHEMA_VERSION

    path = tmp_path / "lm.db"
    store = open_store(f"sqlite:///{path}")
    store.write(
        [
            Reading("a", "noise_laeq", T0 + 37 * k - 7200, 40.0 + k % 13, None, 2 * (k % 7 == 0))
            for k in range(9000)
        ]
        + [Reading("b", "co2", T0 + 3600 * k, 400.0 + k, None, 8 * (k == 3)) for k in range(30)]
    )
    store.close()
    conn = sqlite3.connect(path)
    tables = ("hourly", "daily", "daily_energy")
    by_writes = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in tables}
    daily = by_writes["daily"]
    assert sum(row[3] + row[8] for row in daily) == 9030
    assert sum(row[8] for row in daily) == 1286 + 1
    assert all(row[3] == sum(row[9:33]) for row in daily)
    energies = {row[:3]: sum(row[3:]) for row in by_writes["daily_energy"]}
    assert len(energies) == 5  # the five UTC days of noise; none for co2
    assert all(row[7] == pytest.approx(energies.get(row[:3], 0.0)) for row in daily)
    conn.execute("UPDATE rollup_rule SET mask = 0")  # as if made under another rule
    conn.commit()
    open_store(f"sqlite:///{path}").close()
    for table in tables:
        rebuilt = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
        assert len(rebuilt) == len(by_writes[table])
        for row, expected in zip(rebuilt, by_writes[table], strict=True):
            assert all(
                math.isclose(a, b, rel_tol=1e-12) if isinstance(a, float) else a == b
                for a, b in zip(row, expected, strict=True)
            ), (row, expected)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_the_change_point_moves_with_a_write_from_elsewhere(store: Store) -> None:
    # A server keeps answers while the point stays: it must move with a write by another
    # store object (the gateway's), and stay while nothing is written.
    store.write([Reading("kit-1", "pm25", 1000, 1.0)])
    writer = open_store(store.url)
    try:
        before = store.change_point()
        assert before is not None
        assert store.change_point() == before
        writer.write([Reading("kit-1", "pm25", 1060, 2.0)])
        after = store.change_point()
        assert after != before
        assert store.latest()[-1].value == 2.0
        assert store.change_point() == after
    finally:
        writer.close()
