"""The SQLite store: idempotent writes, roll-ups that match the raw rows, bounded reads."""

from __future__ import annotations

import math
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lokaalmeten.readings import Reading
from lokaalmeten.store import ReadingQuery, SQLiteStore, StoreError, open_store

T0 = 1795824000  # 2026-11-28T00:00:00Z, on an hour boundary


def all_readings(store: SQLiteStore) -> list[Reading]:
    return store.readings(ReadingQuery(start=0, end=2**40, limit=10**9))


def test_written_readings_read_back_in_identity_order(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lm.db")
    batch = [
        Reading("kit-2", "pm25", T0, 5.0, "SDS011"),
        Reading("kit-1", "pm25", T0 + 60, 7.25, "SDS011", 1),
        Reading("kit-1", "pm25", T0, 7.0, None),
        Reading("kit-1", "humidity", T0, 80.5, "BME280"),
    ]
    result = store.write(batch)
    assert (result.received, result.stored) == (4, 4)
    assert all_readings(store) == [
        Reading("kit-1", "humidity", T0, 80.5, "BME280", 0),
        Reading("kit-1", "pm25", T0, 7.0, None, 0),
        Reading("kit-1", "pm25", T0 + 60, 7.25, "SDS011", 1),
        Reading("kit-2", "pm25", T0, 5.0, "SDS011", 0),
    ]


def test_repeats_are_stored_once_and_counted(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lm.db")
    reading = Reading("kit-1", "pm25", T0, 7.0, "SDS011")
    assert store.write([reading]).stored == 1
    again = store.write([reading, reading, Reading("kit-1", "pm10", T0, 9.0)])
    assert (again.received, again.stored) == (3, 1)
    assert len(all_readings(store)) == 2
    hourly = sqlite3.connect(tmp_path / "lm.db").execute("SELECT sum(n) FROM hourly").fetchone()
    assert hourly == (2,)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["kit-1", "kit-2"]),
            st.sampled_from(["pm25", "temperature"]),
            st.integers(min_value=0, max_value=4 * 3600),
            st.floats(min_value=-40, max_value=1000, allow_nan=False),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(min_value=1, max_value=7),
)
def test_hourly_rollups_equal_aggregates_of_the_stored_rows(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[str, str, int, float]],
    batches: int,
) -> None:
    path = tmp_path_factory.mktemp("rollup") / "lm.db"
    store = SQLiteStore(path)
    readings = [Reading(n, q, T0 + dt, v) for n, q, dt, v in rows]
    for i in range(batches):  # overlapping batches: every repeat must leave roll-ups alone
        store.write(readings[i::batches] + readings[: len(readings) // 2])
    db = sqlite3.connect(path)
    expected = db.execute(
        "SELECT node_id, quantity_id, time - time % 3600, count(*), sum(value), min(value), "
        "max(value) FROM reading GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ).fetchall()
    actual = db.execute("SELECT * FROM hourly ORDER BY 1, 2, 3").fetchall()
    assert [row[:4] for row in actual] == [row[:4] for row in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got[4] == pytest.approx(want[4]) and got[5:7] == want[5:]
        assert got[8] == 0  # none left out: no reading here has a flag
    assert len(all_readings(store)) == len({(n, q, dt) for n, q, dt, _ in rows})


def test_keyset_paging_returns_every_reading_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lm.db")
    batch = [
        Reading(f"kit-{k}", q, T0 + 10 * i, float(i))
        for k in range(3)
        for q in ("pm10", "pm25")
        for i in range(25)
    ]
    store.write(batch)
    seen: list[Reading] = []
    after = None
    while True:
        page = store.readings(ReadingQuery(start=T0, end=T0 + 10**6, limit=7, after=after))
        seen.extend(page)
        if len(page) < 7:
            break
        after = page[-1].identity
    assert sorted(seen) == sorted(Reading(*r[:4], None, 0) for r in batch)
    assert len(seen) == len(set(seen))


def test_filters_by_node_quantity_and_half_open_time_range(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lm.db")
    store.write([Reading(f"kit-{k}", "pm25", T0 + t, 1.0) for k in (1, 2) for t in (0, 60, 120)])
    store.write([Reading("kit-1", "pm10", T0, 1.0)])
    found = store.readings(
        ReadingQuery(start=T0 + 60, end=T0 + 120, limit=100, nodes=("kit-1",), quantities=("pm25",))
    )
    assert [(r.node, r.quantity, r.time) for r in found] == [("kit-1", "pm25", T0 + 60)]


def test_nodes_summarise_quantities_sensors_and_times(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lm.db")
    store.write(
        [
            Reading("kit-1", "pm25", T0 + 7200, 7.0, "SDS011"),
            Reading("kit-1", "temperature", T0 + 30, 9.0, "BME280"),
            Reading("kit-1", "pm25", T0 + 45, 8.0, "SDS011"),
        ]
    )
    (summary,) = store.nodes()
    assert summary.node == "kit-1"
    assert set(summary.quantities) == {"pm25", "temperature"}
    assert summary.sensors == ("BME280", "SDS011")
    assert (summary.first_time, summary.last_time, summary.readings) == (T0 + 30, T0 + 7200, 3)


def test_a_failed_batch_stores_nothing_and_the_next_one_works(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lm.db")
    bad = [Reading("new-kit", "pm25", T0, 1.0), Reading("new-kit", "pm10", T0, None)]  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="writing to"):
        store.write(bad)
    assert all_readings(store) == []
    # The node id made inside the rolled-back transaction must not be reused from a cache.
    store.write([Reading("new-kit", "pm25", T0, 1.0)])
    assert [s.node for s in store.nodes()] == ["new-kit"]


def test_reader_in_another_process_sees_committed_writes(tmp_path: Path) -> None:
    path = tmp_path / "lm.db"
    writer = SQLiteStore(path)
    writer.write([Reading("kit-1", "pm25", T0, 7.0)])
    script = (
        "import sys; from lokaalmeten.store import SQLiteStore, ReadingQuery\n"
        "s = SQLiteStore(sys.argv[1], read_only=True)\n"
        "print(len(s.readings(ReadingQuery(0, 2**40, 100))))\n"
    )
    # The writer keeps its connection open, as the gateway does, while the reader reads.
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "1"


def test_read_only_store_refuses_writes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lm.db", read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        store.write([Reading("kit-1", "pm25", T0, 7.0)])


def test_long_query_is_stopped_with_a_clear_message(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lm.db", query_timeout=1e-6)
    store.write([Reading("kit-1", "pm25", T0 + i, 1.0) for i in range(50_000)])
    with pytest.raises(StoreError, match="shorter time range"):
        store.readings(ReadingQuery(start=0, end=2**40, limit=10**9))


def test_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lm.db"
    sqlite3.connect(path).execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="newer lokaalmeten"):
        SQLiteStore(path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lm.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite store"):
        SQLiteStore(path)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://host/lm.db", "has no host"),
        ("sqlite://", "name the database file"),
        ("sqlite:lm.db?fsync=yes", "unknown option"),
        ("sqlite:lm.db?synchronous=sometimes", "synchronous must be"),
        ("sqlite:lm.db?timeout=soon", "timeout must be a number"),
        ("postgres://localhost/lm", "unknown store"),
        ("influxdb://localhost:8086/", "influxdb://[user[:password]@]host"),
        ("influxdb://localhost:8086/a/b", "influxdb://[user[:password]@]host"),
        ("influxdb://localhost:8086/lm?retention=1d", "unknown option"),
        ("influxdb://localhost:notaport/lm", "must be numbers"),
    ],
)
def test_bad_store_urls_say_what_to_fix(
    url: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=re.escape(message)):
        open_store(url)


def test_url_forms_absolute_and_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:data/lm.db?synchronous=normal")
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
    assert (tmp_path / "data" / "lm.db").exists()
    assert (tmp_path / "abs.db").exists()
    assert absolute.url == f"sqlite://{tmp_path}/abs.db"
    relative.close()
    absolute.close()


def test_a_schema_3_store_is_migrated_with_its_rollups_rebuilt(tmp_path: Path) -> None:
    """tests/store/schema3.sql was made by lokaalmeten before schema 4 (f064bf3): its roll-ups
    counted every reading. Opened now, they are rebuilt from the raw readings in the rule of
    today: the clipped noise reading and the high-humidity PM reading are left out."""
    from lokaalmeten.store import AggregateQuery
    from lokaalmeten.store.sqlite import SCHEMA_VERSION

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript((Path(__file__).parent / "schema3.sql").read_text())
    assert old.execute("PRAGMA user_version").fetchone()[0] == 3
    old.close()
    store = SQLiteStore(path)
    assert len(all_readings(store)) == 20  # no raw reading is touched
    query = AggregateQuery(T0, T0 + 2 * 86400, 86400, default_threshold=1)
    days = {(a.node, a.quantity): a for a in store.aggregates(query)}
    noise = days[("kit-1", "noise_laeq")]
    assert (noise.readings, noise.excluded, noise.valid_hours) == (12, 1, 2)
    assert noise.value == pytest.approx(10 * math.log10((10**5 + 10**7) / 2))
    pm = days[("kit-1", "pm25")]
    assert (pm.readings, pm.excluded, pm.value, pm.maximum) == (5, 1, 2.0, 4.0)
    assert days[("kit-2", "temperature")].readings == 1  # a time flag does not exclude
    assert store.nodes()[0].readings == 19  # summaries count every stored reading
    store.write([Reading("kit-1", "noise_laeq", T0 + 7200 + 60, 60.0)])  # and rolled up
    (hour,) = store.aggregates(AggregateQuery(T0 + 7200, T0 + 10800, 3600, ("kit-1",)))
    assert (hour.readings, hour.excluded) == (1, 1)
    assert hour.value == pytest.approx(60.0)
    store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()


def test_a_schema_5_store_loses_its_row_triggers_so_nothing_is_counted_twice(
    tmp_path: Path,
) -> None:
    """Schema 5 kept the roll-ups and the change log by per-row triggers. Opened now, with the
    same roll-up rule (no rebuild), the triggers are dropped: the write path adds each new
    reading once, and a repeat not at all."""
    from lokaalmeten.store import AggregateQuery
    from lokaalmeten.store.sqlite import SCHEMA_VERSION

    path = tmp_path / "five.db"
    SQLiteStore(path).close()
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TRIGGER reading_hourly AFTER INSERT ON reading BEGIN
        INSERT INTO hourly VALUES (NEW.node_id, NEW.quantity_id, NEW.time - NEW.time % 3600,
            1, NEW.value, NEW.value, NEW.value, 0.0, 0)
        ON CONFLICT DO UPDATE SET n = n + 1, sum = sum + excluded.sum;
        END;
        CREATE TRIGGER reading_change_log AFTER INSERT ON reading BEGIN
        INSERT INTO reading_change (node_id, quantity_id, time)
        VALUES (NEW.node_id, NEW.quantity_id, NEW.time);
        END;
        PRAGMA user_version=5;
        """
    )
    old.close()
    store = SQLiteStore(path)
    first = [Reading("kit-1", "pm25", T0 + 60 * i, 2.0 * i) for i in range(3)]
    store.write(first)
    store.write([*first[:2], Reading("kit-1", "pm25", T0 + 180, 6.0)])  # 2 repeats, 1 new
    (hour,) = store.aggregates(AggregateQuery(T0, T0 + 3600, 3600, ("kit-1",)))
    assert hour.readings == 4 and hour.value == pytest.approx(3.0)
    assert store.change_head() == 4
    store.close()
    check = sqlite3.connect(path)
    triggers = check.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    assert triggers == []
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    check.close()


def test_the_change_log_pages_in_stored_order_and_filters_without_losing_its_place(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "lm.db")
    assert store.change_head() == 0
    store.write([Reading("kit-1", "pm25", T0 + 60 * i, float(i)) for i in range(5)])
    # Back-dated by a day, and a repeat that is no change.
    store.write([Reading("kit-2", "pm10", T0 - 86400, 9.0), Reading("kit-1", "pm25", T0, 0.0)])
    head = store.change_head()
    assert head == 6
    page, position = store.changes(0, (), (), 4)
    assert [seq for seq, _ in page] == [1, 2, 3, 4] and position == 4
    rest, position = store.changes(position, (), (), 4)
    assert [(seq, r.node, r.time) for seq, r in rest] == [
        (5, "kit-1", T0 + 240),
        (6, "kit-2", T0 - 86400),
    ]
    assert position == head
    # Nothing of kit-3: the place still moves to the head, so the next look starts there.
    assert store.changes(2, ("kit-3",), (), 100) == ([], head)
    only, _ = store.changes(0, ("kit-2",), ("pm10",), 100)
    assert [r for _, r in only] == [Reading("kit-2", "pm10", T0 - 86400, 9.0)]
    store.close()


def test_the_change_log_keeps_the_newest_and_says_when_a_position_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lokaalmeten.store import ChangesGone
    from lokaalmeten.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "_CHANGES_KEPT", 10)
    store = SQLiteStore(tmp_path / "lm.db")
    for start in (0, 10, 20):
        store.write([Reading("kit-1", "pm25", T0 + 60 * (start + i), 1.0) for i in range(10)])
    conn = sqlite3.connect(tmp_path / "lm.db")
    kept = conn.execute("SELECT min(seq), max(seq) FROM reading_change").fetchone()
    conn.close()
    assert kept == (21, 30)
    with pytest.raises(ChangesGone, match="older than the change log, which starts at 21"):
        store.changes(5, (), (), 100)
    found, _ = store.changes(20, (), (), 100)
    assert [seq for seq, _ in found] == list(range(21, 31))
    store.close()


def test_a_store_from_before_the_change_log_gets_one_for_readings_from_then_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript((Path(__file__).parent / "schema3.sql").read_text())
    old.close()
    store = SQLiteStore(path)
    assert store.change_head() == 0  # the readings stored before are not news
    store.write([Reading("kit-9", "pm25", T0, 3.0)])
    found, head = store.changes(0, (), (), 100)
    assert [r for _, r in found] == [Reading("kit-9", "pm25", T0, 3.0)] and head == 1
    store.close()
