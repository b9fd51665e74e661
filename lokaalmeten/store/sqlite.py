"""SQLite store, the embedded default: one writer process, any number of reader processes.

WAL mode lets the gateway write while server processes read. A reading's identity
(node, quantity, time) is the table's primary key, so a re-sent reading is ignored; each
write keeps the hourly and daily roll-ups (count, sum, min, max, energy sum of the readings
that count, and the count left out for their flags; per day also the count and energy in
each hour) current in the same transaction, one statement per roll-up for the whole batch,
so that long-range aggregates and the noise indicators never scan raw rows::

    store = SQLiteStore("/var/lib/lokaalmeten/readings.db")
    store.write(batch)          # one transaction, durable on return (synchronous=FULL)
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import SplitResult, quote, unquote, urlsplit

from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.protocol.quantities import ENERGETIC, QUANTITIES
from lokaalmeten.readings import EXCLUDED_FROM_AGGREGATES, Reading
from lokaalmeten.store.base import (
    Aggregate,
    AggregateQuery,
    ChangesGone,
    DaySpan,
    DaySums,
    HourlyEnergy,
    NodeSummary,
    ReadingQuery,
    Store,
    StoreError,
    StreamBatch,
    Tag,
    WriteResult,
)

SCHEMA_VERSION = 6
# 2: node_meta (moved to the node directory since); 3: daily roll-up; 4: roll-ups count only
# readings without an excluded flag, keep the count left out and energy sums for
# energetic-mean quantities (per day also per hour), and the rule they follow (rollup_rule);
# 5: the change log (reading_change), added to an older store when opened; 6: the roll-ups
# and the change log are kept by the write path per batch, no longer by per-row triggers
# (dropped when an older store is opened; version 6 keeps an older lokaalmeten, whose
# writes would no longer roll up, from opening the store).

# The change log: every reading inserted gets the next position (seq), in the order stored,
# for the server's live stream. The reading table is WITHOUT ROWID and keyed by identity, and
# a reading's time says nothing of when it arrived (a back-dated one comes late), so only a
# position the write path hands out makes resuming exact. One writer at a time (IMMEDIATE
# transactions) commits positions in order: a reader that saw N never later finds one below.
# Only the newest _CHANGES_KEPT positions are kept (about 3 MB); the newest one always, so
# that max(seq) + 1, SQLite's next position, never goes back.
_CHANGES_KEPT = 100_000

_HOURS = [f"h{h:02d}" for h in range(24)]
_ENERGIES = [f"e{h:02d}" for h in range(24)]

# The rule the roll-ups were made by: the flag mask left out and the quantities summed as
# energy. A store whose rule differs from this code's (an older schema, a changed mask or
# quantity table) has its roll-ups rebuilt from the raw readings when opened.
_MASK = EXCLUDED_FROM_AGGREGATES
_ENERGETIC = ",".join(ENERGETIC)

_TABLES = [
    "CREATE TABLE IF NOT EXISTS node (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS quantity (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS sensor (id INTEGER PRIMARY KEY, model TEXT NOT NULL UNIQUE)",
    """CREATE TABLE IF NOT EXISTS reading (
        node_id INTEGER NOT NULL,
        quantity_id INTEGER NOT NULL,
        time INTEGER NOT NULL,
        value REAL NOT NULL,
        sensor_id INTEGER,
        flags INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (node_id, quantity_id, time)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS node_sensor (
        node_id INTEGER NOT NULL,
        quantity_id INTEGER NOT NULL,
        sensor_id INTEGER NOT NULL,
        PRIMARY KEY (node_id, quantity_id, sensor_id)
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS rollup_rule (mask INTEGER NOT NULL, energetic TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS reading_change (
        seq INTEGER PRIMARY KEY,
        node_id INTEGER NOT NULL,
        quantity_id INTEGER NOT NULL,
        time INTEGER NOT NULL
    )""",
]

_HOUR_COLUMNS = """node_id INTEGER NOT NULL,
        quantity_id INTEGER NOT NULL,
        hour INTEGER NOT NULL,
        n INTEGER NOT NULL,
        sum REAL NOT NULL,
        min REAL,
        max REAL,
        energy REAL NOT NULL,
        flagged INTEGER NOT NULL"""

# Roll-ups: n, sum, min and max of the readings that count (min and max NULL when none
# does), energy = the sum of their 10^(L/10) for an energetic-mean quantity (0 otherwise),
# flagged = the readings left out. The daily one adds the counted readings (h00 .. h23) and
# energies (e00 .. e23) of each hour, so that a day's valid hours (against any threshold)
# and its Lden periods read one row, not 24.
_ROLLUPS = [
    f"""CREATE TABLE hourly (
        {_HOUR_COLUMNS},
        PRIMARY KEY (node_id, quantity_id, hour)
    ) WITHOUT ROWID""",
    f"""CREATE TABLE daily (
        node_id INTEGER NOT NULL,
        quantity_id INTEGER NOT NULL,
        day INTEGER NOT NULL,
        n INTEGER NOT NULL,
        sum REAL NOT NULL,
        min REAL,
        max REAL,
        energy REAL NOT NULL,
        flagged INTEGER NOT NULL,
        {", ".join(f"{h} INTEGER NOT NULL" for h in _HOURS)},
        PRIMARY KEY (node_id, quantity_id, day)
    ) WITHOUT ROWID""",
    # Beside a day of an energetic-mean quantity with a counted reading: each hour's energy.
    # A table of its own, so that the other quantities' daily rows stay narrow (a wider row
    # is slower to update at every reading).
    f"""CREATE TABLE daily_energy (
        node_id INTEGER NOT NULL,
        quantity_id INTEGER NOT NULL,
        day INTEGER NOT NULL,
        {", ".join(f"{e} REAL NOT NULL" for e in _ENERGIES)},
        PRIMARY KEY (node_id, quantity_id, day)
    ) WITHOUT ROWID""",
]

# The ids of the energetic-mean quantities in this store (energetic_ids()), written into the
# roll-up statements in place of this.
_ENERGETIC_IDS = "@ENERGETIC_IDS@"

# What one raw reading adds to its hour: ok (it counts), its value, its energy if it counts
# and its quantity is an energetic-mean one.
_COUNTS = f"""
    SELECT (flags & {_MASK}) = 0 AS ok, value, time, time % 86400 / 3600 AS h,
        CASE WHEN (flags & {_MASK}) = 0 AND quantity_id IN ({_ENERGETIC_IDS})
        THEN pow(10.0, value / 10.0) ELSE 0.0 END AS en
"""
_MERGE_MIN_MAX = (
    "min = coalesce(min(min, excluded.min), min, excluded.min), "
    "max = coalesce(max(max, excluded.max), max, excluded.max)"
)


def _hour_sums(readings: str) -> str:
    """The hourly roll-up rows of the readings in table ``readings``."""
    return f"""SELECT node_id, quantity_id, time - time % 3600, sum(ok), total(ok * value),
        min(CASE WHEN ok THEN value END), max(CASE WHEN ok THEN value END), total(en),
        sum(1 - ok)
    FROM ({_COUNTS}, node_id, quantity_id FROM {readings}) WHERE true
    GROUP BY node_id, quantity_id, time - time % 3600"""


def _day_sums(hours: str) -> str:
    """The daily roll-up rows of the hourly rows in table ``hours``."""
    return f"""SELECT node_id, quantity_id, hour - hour % 86400, sum(n), total(sum), min(min),
        max(max), total(energy), sum(flagged),
        {", ".join(f"sum(n * (hour % 86400 / 3600 = {h}))" for h in range(24))}
    FROM {hours} WHERE true GROUP BY node_id, quantity_id, hour - hour % 86400"""


def _day_energies(hours: str) -> str:
    """Each hour's energy, per day of an energetic-mean quantity with a reading that counts,
    from the hourly rows in table ``hours``."""
    return f"""SELECT node_id, quantity_id, hour - hour % 86400,
        {", ".join(f"total(energy * (hour % 86400 / 3600 = {h}))" for h in range(24))}
    FROM {hours} WHERE quantity_id IN ({_ENERGETIC_IDS})
    GROUP BY node_id, quantity_id, hour - hour % 86400 HAVING sum(n) > 0"""


# What a write adds to the roll-ups, for the whole batch at once: SQLite runs a trigger's
# program once per row, which took 8 µs a reading, twice the insert itself. The readings
# really inserted (not repeats) are in temp.fresh; their hours are summed into
# temp.fresh_hour first, and the daily roll-ups are made from those hour sums, so that in a
# backlog (many readings per kit and hour in one batch) the 24 hour columns are computed per
# hour, not per reading. Each reading's energy (10^(L/10)) is summed only for an
# energetic-mean quantity that counts (never 0 * pow(...): an excluded absurd level could
# overflow to inf, and 0 * inf is NaN).
_FRESH_TABLES = [
    # rowid order is arrival order, which the change log keeps.
    """CREATE TEMP TABLE IF NOT EXISTS fresh (
        node_id INTEGER NOT NULL,
        quantity_id INTEGER NOT NULL,
        time INTEGER NOT NULL,
        value REAL NOT NULL,
        sensor_id INTEGER,
        flags INTEGER NOT NULL,
        UNIQUE (node_id, quantity_id, time)
    )""",
    f"CREATE TEMP TABLE IF NOT EXISTS fresh_hour ({_HOUR_COLUMNS})",
]
# Only what is new: a repeat of a stored identity (or of one earlier in the batch, which the
# insert into temp.fresh skipped) is no change, to the roll-ups nor to the log.
_DROP_REPEATS = """DELETE FROM temp.fresh WHERE EXISTS (SELECT 1 FROM reading r
    WHERE r.node_id = fresh.node_id AND r.quantity_id = fresh.quantity_id
    AND r.time = fresh.time)"""
_INSERT_NEW = (
    "INSERT INTO reading SELECT node_id, quantity_id, time, value, sensor_id, flags "
    "FROM temp.fresh ORDER BY rowid"
)
# Then, when anything was new: the roll-ups and the change log.
_AFTER_INSERT = [
    f"INSERT INTO temp.fresh_hour {_hour_sums('temp.fresh')}",
    f"""INSERT INTO hourly SELECT * FROM temp.fresh_hour WHERE true
    ON CONFLICT DO UPDATE SET n = n + excluded.n, sum = sum + excluded.sum, {_MERGE_MIN_MAX},
        energy = energy + excluded.energy, flagged = flagged + excluded.flagged""",
    f"""INSERT INTO daily {_day_sums("temp.fresh_hour")}
    ON CONFLICT DO UPDATE SET n = n + excluded.n, sum = sum + excluded.sum, {_MERGE_MIN_MAX},
        energy = energy + excluded.energy, flagged = flagged + excluded.flagged,
        {", ".join(f"{c} = {c} + excluded.{c}" for c in _HOURS)}""",
    f"""INSERT INTO daily_energy {_day_energies("temp.fresh_hour")}
    ON CONFLICT DO UPDATE SET {", ".join(f"{c} = {c} + excluded.{c}" for c in _ENERGIES)}""",
    "INSERT INTO reading_change (node_id, quantity_id, time) "
    "SELECT node_id, quantity_id, time FROM temp.fresh ORDER BY rowid",
]
_CLEAR_BATCH = ["DELETE FROM temp.fresh", "DELETE FROM temp.fresh_hour"]

# The per-row triggers of schema 5 and before, dropped when such a store is opened. Rebuilding
# the roll-ups from the raw readings (an older schema or another rule): hours from the
# readings, days from the hours, in the opener's one transaction.
_DROP_TRIGGERS = [
    "DROP TRIGGER IF EXISTS reading_hourly",
    "DROP TRIGGER IF EXISTS reading_daily",
    "DROP TRIGGER IF EXISTS reading_daily_energy",
    "DROP TRIGGER IF EXISTS reading_change_log",
]
_REBUILD = [
    *_DROP_TRIGGERS,
    "DROP TABLE IF EXISTS hourly",
    "DROP TABLE IF EXISTS daily",
    "DROP TABLE IF EXISTS daily_energy",
    *_ROLLUPS,
    f"INSERT INTO hourly {_hour_sums('reading')}",
    f"INSERT INTO daily {_day_sums('hourly')}",
    f"INSERT INTO daily_energy {_day_energies('hourly')}",
    "DELETE FROM rollup_rule",
    f"INSERT INTO rollup_rule VALUES ({_MASK}, '{_ENERGETIC}')",
]

# A window's value in SQL, by the quantity's aggregation (n = 0 gives NULL: x / 0 is NULL).
_VALUE = {
    "mean": "sum / n",
    "energetic_mean": "10.0 * log10(energy / n)",
    "max": "max",
    "min": "min",
    "none": "NULL",
}

_SYNCHRONOUS = ("off", "normal", "full", "extra")
_WRITE_CACHE_KIB = 16384  # the write connection's page cache; SQLite grows it only as used


_TAG_BASE = 2**32  # tag = sensor id * _TAG_BASE + flags


class _Tags(dict[int, Tag]):
    """Tags of SQLite rows, decoded on first sight: tag -> (sensor model, flags)."""

    def __init__(self, models: dict[int, str]) -> None:
        super().__init__()
        self.models = models

    def __missing__(self, tag: int) -> Tag:
        sensor_id, flags = divmod(tag, _TAG_BASE)
        decoded = (self.models.get(sensor_id), flags)
        self[tag] = decoded
        return decoded


class SQLiteStore(Store):
    """Readings in one SQLite file. ``read_only`` opens no write connection at all."""

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        synchronous: str = "full",
        query_timeout: float = 10.0,
    ) -> None:
        if synchronous not in _SYNCHRONOUS:
            raise StoreError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        self.path = Path(path)
        self.url = f"sqlite://{self.path.resolve()}"
        self.read_only = read_only
        self.query_timeout = query_timeout
        self._synchronous = synchronous
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        self._writer: sqlite3.Connection | None = None
        self._after_insert: list[str] = []  # _AFTER_INSERT with this store's energetic ids
        self._point_lock = threading.Lock()
        self._point_conn: sqlite3.Connection | None = None
        # Readers need the file and its WAL set up; creating them is harmless in a reader
        # process and lets the server start before the gateway's first write.
        self._create_schema()
        self._identity = self._file_identity()

    def _file_identity(self) -> tuple[int, int]:
        found = os.stat(self.path)
        return found.st_dev, found.st_ino

    # -- connections -------------------------------------------------------------------

    def _connect(self, uri_mode: str) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect_file(self.path, uri_mode, timeout=30)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        return conn

    def _create_schema(self) -> None:
        conn = self._connect("rwc")
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # Every statement is IF NOT EXISTS and the rule is looked at inside the write
            # transaction, so concurrent openers (gateway and server starting together)
            # cannot conflict: the second finds the first one's work done.
            with immediate_transaction(conn):
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path} was written by a newer lokaalmeten (schema {version}); "
                        "upgrade lokaalmeten to read it"
                    )
                for statement in _TABLES:
                    conn.execute(statement)
                for statement in _DROP_TRIGGERS:  # schema 5 and before kept roll-ups by them
                    conn.execute(statement)
                rule = conn.execute("SELECT mask, energetic FROM rollup_rule").fetchall()
                if rule != [(_MASK, _ENERGETIC)]:
                    rebuild_rollups(conn)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable SQLite store: {exc}") from exc
        finally:
            conn.close()

    def _write_conn(self) -> sqlite3.Connection:
        if self.read_only:
            raise StoreError("this store was opened read-only")
        if self._writer is None:
            conn = self._connect("rw")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA temp_store=MEMORY")
            # Each (node, quantity) appends to its own leaf page of the reading table: with
            # SQLite's default 2 MB cache a few hundred kits' leaves no longer fit and each
            # insert reads its page again (16 MB: 1.15 × the write rate at 200 kits).
            conn.execute(f"PRAGMA cache_size=-{_WRITE_CACHE_KIB}")
            for statement in _FRESH_TABLES:
                conn.execute(statement)
            with immediate_transaction(conn):
                ids = ",".join(map(str, energetic_ids(conn))) or "NULL"
            self._after_insert = [q.replace(_ENERGETIC_IDS, ids) for q in _AFTER_INSERT]
            self._writer = conn
        return self._writer

    def _read_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect("ro")
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
        return conn

    @contextmanager
    def _bounded(self) -> Iterator[sqlite3.Connection]:
        """A read connection that aborts a query running longer than ``query_timeout``."""
        conn = self._read_conn()
        deadline = time.monotonic() + self.query_timeout
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise StoreError(
                    f"query took longer than {self.query_timeout:g} s; ask for a shorter "
                    "time range or fewer nodes"
                ) from None
            raise
        finally:
            conn.set_progress_handler(None, 0)

    # -- writing -----------------------------------------------------------------------

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        if not readings:
            return WriteResult(0, 0)
        with self._write_lock:
            conn = self._write_conn()
            try:
                with immediate_transaction(conn):
                    rows = [
                        (
                            self._id(conn, "node", r.node),
                            self._id(conn, "quantity", r.quantity),
                            r.time,
                            r.value,
                            None if r.sensor is None else self._id(conn, "sensor", r.sensor),
                            r.flags,
                        )
                        for r in readings
                    ]
                    # The batch first into temp.fresh (a repeat within it is skipped; OR
                    # IGNORE would also skip a NULL value silently), then what is new into
                    # the readings, roll-ups and change log, a statement each.
                    for statement in _CLEAR_BATCH:
                        conn.execute(statement)
                    conn.executemany(
                        "INSERT INTO temp.fresh VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        rows,
                    )
                    conn.execute(_DROP_REPEATS)
                    stored = conn.execute(_INSERT_NEW).rowcount
                    if stored:
                        for statement in self._after_insert:
                            conn.execute(statement)
                        conn.execute(
                            "DELETE FROM reading_change WHERE seq <= "
                            "(SELECT max(seq) FROM reading_change) - ?",
                            (_CHANGES_KEPT,),
                        )
                    sensors = {(row[0], row[1], row[4]) for row in rows if row[4] is not None}
                    conn.executemany("INSERT OR IGNORE INTO node_sensor VALUES (?, ?, ?)", sensors)
            except sqlite3.Error as exc:
                self._ids.clear()  # ids made in the rolled-back transaction are gone
                raise StoreError(f"writing to {self.path} failed: {exc}") from exc
            except BaseException:
                self._ids.clear()
                raise
        return WriteResult(received=len(readings), stored=stored)

    def _id(self, conn: sqlite3.Connection, table: str, name: str) -> int:
        key = (table, name)
        found = self._ids.get(key)
        if found is not None:
            return found
        column = "model" if table == "sensor" else "name"
        conn.execute(f"INSERT OR IGNORE INTO {table} ({column}) VALUES (?)", (name,))
        row = conn.execute(f"SELECT id FROM {table} WHERE {column} = ?", (name,)).fetchone()
        self._ids[key] = row[0]
        return int(row[0])

    # -- reading -----------------------------------------------------------------------

    def nodes(self) -> list[NodeSummary]:
        with self._bounded() as conn:
            streams = conn.execute(
                """
                SELECT n.name, q.name, h.count,
                       (SELECT min(time) FROM reading
                        WHERE node_id = h.node_id AND quantity_id = h.quantity_id),
                       (SELECT max(time) FROM reading
                        WHERE node_id = h.node_id AND quantity_id = h.quantity_id)
                FROM (SELECT node_id, quantity_id, sum(n + flagged) AS count
                      FROM daily GROUP BY node_id, quantity_id) AS h
                JOIN node n ON n.id = h.node_id
                JOIN quantity q ON q.id = h.quantity_id
                ORDER BY n.name, q.id
                """
            ).fetchall()
            sensor_rows = conn.execute(
                """
                SELECT DISTINCT n.name, s.model FROM node_sensor ns
                JOIN node n ON n.id = ns.node_id JOIN sensor s ON s.id = ns.sensor_id
                ORDER BY n.name, s.model
                """
            ).fetchall()
        sensors: dict[str, list[str]] = {}
        for node, model in sensor_rows:
            sensors.setdefault(node, []).append(model)
        summaries: dict[str, NodeSummary] = {}
        for node, quantity, count, first, last in streams:
            known = summaries.get(node)
            if known is None:
                summaries[node] = NodeSummary(
                    node, (quantity,), tuple(sensors.get(node, ())), first, last, count
                )
            else:
                summaries[node] = NodeSummary(
                    node,
                    (*known.quantities, quantity),
                    known.sensors,
                    min(known.first_time, first),
                    max(known.last_time, last),
                    known.readings + count,
                )
        return list(summaries.values())

    def readings(self, query: ReadingQuery) -> list[Reading]:
        where = ["r.time >= ?", "r.time < ?"]
        params: list[object] = [query.start, query.end]
        if query.nodes:
            where.append(f"n.name IN ({','.join('?' * len(query.nodes))})")
            params.extend(query.nodes)
        if query.quantities:
            where.append(f"q.name IN ({','.join('?' * len(query.quantities))})")
            params.extend(query.quantities)
        if query.after is not None:
            node, quantity, moment = query.after
            later = "<" if query.descending else ">"
            where.append(
                f"((n.name, q.name) > (?, ?) OR (n.name = ? AND q.name = ? AND r.time {later} ?))"
            )
            params.extend((node, quantity, node, quantity, moment))
        order = "DESC" if query.descending else ""
        sql = f"""
            SELECT n.name, q.name, r.time, r.value, s.model, r.flags
            FROM reading r
            JOIN node n ON n.id = r.node_id
            JOIN quantity q ON q.id = r.quantity_id
            LEFT JOIN sensor s ON s.id = r.sensor_id
            WHERE {" AND ".join(where)}
            ORDER BY n.name, q.name, r.time {order}
            LIMIT ?
        """
        params.append(query.limit)
        with self._bounded() as conn:
            return [Reading(*row) for row in conn.execute(sql, params)]

    def _streams(
        self, conn: sqlite3.Connection, nodes: tuple[str, ...], quantities: tuple[str, ...]
    ) -> list[tuple[int, int, str, str]]:
        """(node id, quantity id, node, quantity) of every stream, in name order."""
        # Index seeks per (node, quantity) pair; the tables of names are small.
        found: list[tuple[int, int, str, str]] = conn.execute(
            "SELECT n.id, q.id, n.name, q.name FROM node n, quantity q WHERE EXISTS "
            "(SELECT 1 FROM hourly h WHERE h.node_id = n.id AND h.quantity_id = q.id) "
            "ORDER BY n.name, q.name"
        ).fetchall()
        return [
            s
            for s in found
            if (not nodes or s[2] in nodes) and (not quantities or s[3] in quantities)
        ]

    def spans(self, nodes: tuple[str, ...] = ()) -> dict[tuple[str, str], tuple[int, int]]:
        # Two index seeks per stream (one min() and one max() each use the key).
        with self._bounded() as conn:
            return {
                (node, quantity): conn.execute(
                    "SELECT (SELECT min(time) FROM reading WHERE node_id = ?1 AND "
                    "quantity_id = ?2), (SELECT max(time) FROM reading WHERE node_id = ?1 "
                    "AND quantity_id = ?2)",
                    (node_id, quantity_id),
                ).fetchone()
                for node_id, quantity_id, node, quantity in self._streams(conn, nodes, ())
            }

    def count(self, query: ReadingQuery) -> int:
        with self._bounded() as conn:
            return sum(
                conn.execute(
                    "SELECT count(*) FROM reading WHERE node_id = ? AND quantity_id = ? "
                    "AND time >= ? AND time < ?",
                    (node_id, quantity_id, query.start, query.end),
                ).fetchone()[0]
                for node_id, quantity_id, _, _ in self._streams(conn, query.nodes, query.quantities)
            )

    def estimate(self, query: ReadingQuery) -> int:
        # The hourly roll-up's counts of the hours the range touches: one row per hour (8,760
        # for a year) instead of one per reading, and exact for ranges on whole hours.
        with self._bounded() as conn:
            return sum(
                conn.execute(
                    "SELECT coalesce(sum(n + flagged), 0) FROM hourly WHERE node_id = ? AND "
                    "quantity_id = ? AND hour >= ? AND hour < ?",
                    (node_id, quantity_id, query.start - query.start % 3600, query.end),
                ).fetchone()[0]
                for node_id, quantity_id, _, _ in self._streams(conn, query.nodes, query.quantities)
            )

    def streams(
        self, nodes: tuple[str, ...] = (), quantities: tuple[str, ...] = ()
    ) -> list[tuple[str, str]]:
        with self._bounded() as conn:
            return [(s[2], s[3]) for s in self._streams(conn, nodes, quantities)]

    def stream(
        self, query: ReadingQuery, batch: int = 10_000
    ) -> Generator[StreamBatch, None, None]:
        # Stream by stream along the primary key: no sort, no temporary table, whatever the
        # size. Three narrow columns: a row's sensor and flags travel as one integer tag.
        with self._bounded() as conn:
            streams = self._streams(conn, query.nodes, query.quantities)
            models: dict[int, str] = dict(conn.execute("SELECT id, model FROM sensor"))
        tags = _Tags(models)
        order = "DESC" if query.descending else ""
        sql = f"""
            SELECT time, value, coalesce(sensor_id, 0) * {_TAG_BASE} + flags FROM reading
            WHERE node_id = ? AND quantity_id = ? AND time >= ? AND time < ?
            ORDER BY time {order}
        """
        # A connection of its own: a long export must not share another request's time limit.
        conn = self._connect("ro")
        try:
            for node_id, quantity_id, node, quantity in streams:
                window = query.window(node, quantity, query.start, query.end)
                if window is None:
                    continue
                start, end = window
                cursor = conn.execute(sql, (node_id, quantity_id, start, end))
                while rows := cursor.fetchmany(batch):
                    yield StreamBatch(node, quantity, rows, tags)
        finally:
            conn.close()

    def aggregates(self, query: AggregateQuery) -> list[Aggregate]:
        # Windows of a day read the daily roll-up, hours the hourly one: one roll-up row is
        # one window, and no raw reading is read. One query per stream walks the primary key
        # in order, so nothing is sorted and each node's threshold is a constant.
        if query.window not in (3600, 86400):
            raise StoreError(f"window must be 3600 or 86400 seconds, not {query.window}")
        table, column = ("daily", "day") if query.window == 86400 else ("hourly", "hour")
        counts = _HOURS if table == "daily" else ["n"]
        found: list[Aggregate] = []
        with self._bounded() as conn:
            for node_id, quantity_id, node, quantity in self._streams(
                conn, query.nodes, query.quantities
            ):
                span = query.span(node, quantity)
                left = -1 if query.limit is None else query.limit - len(found)
                if left == 0:
                    break
                if span is None:
                    continue
                threshold = int(query.threshold(node))
                valid = " + ".join(f"({count} >= {threshold})" for count in counts)
                value = _VALUE[QUANTITIES[quantity].aggregation]
                rows = conn.execute(
                    f"SELECT {column}, n, {value}, min, max, {valid}, flagged FROM {table} "
                    f"WHERE node_id = ? AND quantity_id = ? AND {column} >= ? AND {column} < ? "
                    f"ORDER BY {column} LIMIT ?",
                    (node_id, quantity_id, *span, left),
                ).fetchall()
                found += [Aggregate(node, quantity, *row) for row in rows]
        return found

    def hourly_energy(
        self, nodes: tuple[str, ...], quantity: str, start: int, end: int
    ) -> dict[str, HourlyEnergy]:
        # From the daily roll-up: one row per day carries its 24 hours' counts and energies,
        # so a year of one node is 366 rows, laid out by slices (no per-hour Python work).
        first = start - start % 86400
        last = end + (-end) % 86400
        hours = (last - first) // 3600
        found: dict[str, HourlyEnergy] = {}
        with self._bounded() as conn:
            for node_id, quantity_id, node, _ in self._streams(conn, nodes, (quantity,)):
                counts = [0] * hours
                energies = [0.0] * hours
                key = (node_id, quantity_id, first, last)
                where = "WHERE node_id = ? AND quantity_id = ? AND day >= ? AND day < ?"
                for row in conn.execute(f"SELECT day, {', '.join(_HOURS)} FROM daily {where}", key):
                    at = (row[0] - first) // 3600
                    counts[at : at + 24] = row[1:25]
                for row in conn.execute(
                    f"SELECT day, {', '.join(_ENERGIES)} FROM daily_energy {where}", key
                ):
                    at = (row[0] - first) // 3600
                    energies[at : at + 24] = row[1:25]
                found[node] = HourlyEnergy(first, counts, energies)
        cut = (start - start % 3600 - first) // 3600
        stop = (end + (-end) % 3600 - first) // 3600
        return {
            node: HourlyEnergy(first + cut * 3600, h.counts[cut:stop], h.energies[cut:stop])
            for node, h in found.items()
        }

    def day_sums(
        self,
        nodes: tuple[str, ...],
        quantity: str,
        days: Sequence[DaySpan],
        thresholds: Mapping[str, int],
        default_threshold: int,
        above: float,
    ) -> list[DaySums]:
        # In SQL, from the daily roll-up: a day of up to 48 hours starting within UTC day D-1
        # reads two rows (D-1 and D), and its periods' sums are column expressions, so a
        # year of 100 nodes is 36,500 rows of 12 numbers, not 876,000 hours in Python. One
        # statement per shape of day (its start hour and periods: a winter day, a summer
        # day, each change day) and node threshold.
        shapes: dict[tuple[int, tuple[tuple[tuple[int, int], ...], ...]], list[int]] = {}
        for index, span in enumerate(days):
            if span.start % 3600:
                raise StoreError("a day must start on a whole UTC hour")
            shapes.setdefault((span.start % 86400 // 3600, span.periods), []).append(index)
        found: list[DaySums] = []
        with self._bounded() as conn:
            streams = self._streams(conn, nodes, (quantity,))
            by_threshold: dict[int, list[int]] = {}
            names = {}
            for node_id, _, node, _ in streams:
                names[node_id] = node
                by_threshold.setdefault(int(thresholds.get(node, default_threshold)), []).append(
                    node_id
                )
            if not streams:
                return []
            quantity_id = streams[0][1]
            for (hour, periods), indices in shapes.items():
                if hour + max(b for period in periods for _, b in period) > 48:
                    raise StoreError("a day must end within the UTC day after its start")
                at = {(days[i].start - hour * 3600) + 86400: i for i in indices}  # row D's day
                for threshold, ids in by_threshold.items():
                    sql = _day_sums_sql(hour, periods, threshold, above, len(ids), len(at))
                    params = [quantity_id, *ids, *at, quantity_id, *ids, *at]
                    found += [
                        (names[row[0]], at[row[1]], row[2:]) for row in conn.execute(sql, params)
                    ]
        found.sort(key=lambda d: (d[0], d[1]))
        return found

    def latest(self, nodes: tuple[str, ...] = ()) -> list[Reading]:
        # One statement: every (node, quantity) pair of the small name tables, its newest
        # time an index seek on the key (a pair without readings has none), then that row.
        # Materialized: flattened, SQLite scans the readings instead (400 times slower).
        where = f"WHERE n.name IN ({','.join('?' * len(nodes))})" if nodes else ""
        with self._bounded() as conn:
            rows = conn.execute(
                f"""
                WITH newest AS MATERIALIZED (
                    SELECT n.id AS node_id, q.id AS quantity_id, n.name AS node,
                        q.name AS quantity, (SELECT max(time) FROM reading
                            WHERE node_id = n.id AND quantity_id = q.id) AS time
                    FROM node n CROSS JOIN quantity q {where})
                SELECT newest.node, newest.quantity, r.time, r.value, s.model, r.flags
                FROM newest
                JOIN reading r ON r.node_id = newest.node_id
                    AND r.quantity_id = newest.quantity_id AND r.time = newest.time
                LEFT JOIN sensor s ON s.id = r.sensor_id
                ORDER BY newest.node, newest.quantity
                """,
                nodes,
            ).fetchall()
        return [Reading(*row) for row in rows]

    change_point_local = True

    def change_point(self) -> int:
        # PRAGMA data_version moves whenever another connection (the gateway's, any
        # process) commits, whatever it changed, and is only comparable within one
        # connection: one of its own, never used for anything else.
        with self._point_lock:
            if self._point_conn is None:
                self._point_conn = self._connect("ro")
            version: int = self._point_conn.execute("PRAGMA data_version").fetchone()[0]
        return version

    def changes(
        self, after: int, nodes: tuple[str, ...], quantities: tuple[str, ...], limit: int
    ) -> tuple[list[tuple[int, Reading]], int]:
        where = ["c.seq > ?", "c.seq <= ?"]
        with self._bounded() as conn:
            # One snapshot: the head and the rows up to it read the same state.
            conn.execute("BEGIN")
            try:
                first, head = conn.execute(
                    "SELECT min(seq), coalesce(max(seq), 0) FROM reading_change"
                ).fetchone()
                if first is not None and after < first - 1:
                    raise ChangesGone(
                        f"position {after} is older than the change log, which starts at "
                        f"{first} (it keeps the newest {_CHANGES_KEPT} readings)"
                    )
                params: list[object] = [after, head]
                if nodes:
                    where.append(f"n.name IN ({','.join('?' * len(nodes))})")
                    params.extend(nodes)
                if quantities:
                    where.append(f"q.name IN ({','.join('?' * len(quantities))})")
                    params.extend(quantities)
                params.append(limit)
                rows = conn.execute(
                    f"""
                    SELECT c.seq, n.name, q.name, r.time, r.value, s.model, r.flags
                    FROM reading_change c
                    JOIN reading r ON r.node_id = c.node_id AND r.quantity_id = c.quantity_id
                        AND r.time = c.time
                    JOIN node n ON n.id = c.node_id
                    JOIN quantity q ON q.id = c.quantity_id
                    LEFT JOIN sensor s ON s.id = r.sensor_id
                    WHERE {" AND ".join(where)}
                    ORDER BY c.seq LIMIT ?
                    """,
                    params,
                ).fetchall()
            finally:
                conn.execute("COMMIT")
        found = [(row[0], Reading(*row[1:])) for row in rows]
        # A full page stops at its last row; a short one has seen everything up to the head.
        return found, (found[-1][0] if len(found) == limit else max(head, after))

    def change_head(self) -> int:
        with self._bounded() as conn:
            head: int = conn.execute("SELECT coalesce(max(seq), 0) FROM reading_change").fetchone()[
                0
            ]
        return head

    def legacy_node_meta(self) -> dict[str, NodeMeta]:
        with self._bounded() as conn:
            if not _has_table(conn, "node_meta"):
                return {}
            rows = conn.execute(
                "SELECT node, latitude, longitude, exact, name, description, interval "
                "FROM node_meta ORDER BY node"
            ).fetchall()
        return {
            row[0]: NodeMeta(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6])
            for row in rows
        }

    def forget_legacy_node_meta(self) -> None:
        with self._write_lock:
            try:
                self._write_conn().execute("DROP TABLE IF EXISTS node_meta")
            except sqlite3.Error as exc:
                raise StoreError(
                    f"dropping old node metadata in {self.path} failed: {exc}"
                ) from exc

    def ping(self) -> None:
        """Raise StoreError when the file opened at start is no longer the one at its path
        (deleted, moved or replaced: the open connections go on with the old file and never
        see another's readings) or cannot be read."""
        try:
            identity = self._file_identity()
        except OSError as exc:
            raise StoreError(
                f"{self.path} is gone ({exc.strerror}): deleted or moved while open; put it "
                "back, or restart to open the one the gateway writes"
            ) from None
        if identity != self._identity:
            raise StoreError(
                f"{self.path} was replaced by another file while open; restart to read it"
            )
        try:
            with self._bounded() as conn:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path} cannot be read: {exc}") from exc

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        with self._point_lock:
            if self._point_conn is not None:
                self._point_conn.close()
                self._point_conn = None
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def energetic_ids(conn: sqlite3.Connection) -> list[int]:
    """The ids of the energetic-mean quantities, made if missing (in the caller's
    transaction): the roll-up statements name them, as looking each reading's quantity up by
    name would halve the write rate."""
    conn.executemany(
        "INSERT OR IGNORE INTO quantity (name) VALUES (?)", [(name,) for name in ENERGETIC]
    )
    return [
        conn.execute("SELECT id FROM quantity WHERE name = ?", (name,)).fetchone()[0]
        for name in ENERGETIC
    ]


def rebuild_rollups(conn: sqlite3.Connection) -> None:
    """Make the roll-ups anew from the raw readings, under this code's rule, in the caller's
    transaction (a store's migration; a benchmark that loads its readings into the reading
    table directly, which keeps no roll-ups)."""
    ids = ",".join(map(str, energetic_ids(conn))) or "NULL"
    for statement in _REBUILD:
        conn.execute(statement.replace(_ENERGETIC_IDS, ids))


def _day_sums_sql(
    hour: int,
    periods: tuple[tuple[tuple[int, int], ...], ...],
    threshold: int,
    above: float,
    nodes: int,
    days: int,
) -> str:
    """The statement behind :meth:`SQLiteStore.day_sums` for one shape of day: rows
    (node id, day D, then per period: readings, energy, valid hours, hours above). Hour k of
    the day is UTC hour ``hour + k`` from the start of day D-1 (row p), else of D (row d)."""

    def hours_of(period: tuple[tuple[int, int], ...]) -> dict[str, list[int]]:
        """The period's UTC hours by row: p (day D-1) and d (day D)."""
        rows: dict[str, list[int]] = {"p": [], "d": []}
        for first, end in period:
            for k in range(first, end):
                utc = hour + k
                rows["p" if utc < 24 else "d"].append(utc % 24)
        return rows

    def total(rows: dict[str, list[int]], term: str, empty: str) -> str:
        # One ifnull per row, not per hour: a missing row (no readings that UTC day) makes
        # its whole part NULL.
        found = [
            f"ifnull({' + '.join(term.format(r=row, h=f'{h:02d}') for h in hours)}, {empty})"
            for row, hours in rows.items()
            if hours
        ]
        return " + ".join(found) or empty

    parts = []
    for period in periods:
        rows = hours_of(period)
        parts += [
            total(rows, "{r}.h{h}", "0"),
            total(rows, "{r}e.e{h}", "0.0"),  # pe, de: the days' daily_energy rows
            total(rows, f"({{r}}.h{{h}} >= {threshold})", "0"),
            # Without an energy row (no counted reading that UTC day) every hour's count is
            # 0, below any threshold, so the NULL energy never decides.
            total(
                rows,
                f"({{r}}.h{{h}} >= {threshold} AND {{r}}e.e{{h}} > {{r}}.h{{h}} * {above!r})",
                "0",
            ),
        ]
    node_list = ", ".join("?" * nodes)
    day_list = ", ".join("?" * days)
    # Days with no counted reading (only flagged ones, or none in the hours of the day) are
    # left out, as from the generic day_sums.
    readings = " + ".join(f"c{4 * k}" for k in range(len(periods)))
    named = ", ".join(f"{part} AS c{k}" for k, part in enumerate(parts))
    return f"""
        SELECT * FROM (WITH k(node_id, day) AS (
            SELECT node_id, day FROM daily WHERE quantity_id = ? AND node_id IN ({node_list})
                AND day IN ({day_list})
            UNION
            SELECT node_id, day + 86400 FROM daily WHERE quantity_id = ?
                AND node_id IN ({node_list}) AND day + 86400 IN ({day_list}))
        SELECT k.node_id, k.day, {named}
        FROM k
        LEFT JOIN daily d ON d.node_id = k.node_id AND d.quantity_id = ?1 AND d.day = k.day
        LEFT JOIN daily p ON p.node_id = k.node_id AND p.quantity_id = ?1
            AND p.day = k.day - 86400
        LEFT JOIN daily_energy de ON de.node_id = k.node_id AND de.quantity_id = ?1
            AND de.day = k.day
        LEFT JOIN daily_energy pe ON pe.node_id = k.node_id AND pe.quantity_id = ?1
            AND pe.day = k.day - 86400) WHERE {readings} > 0
    """


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""
    # BEGIN IMMEDIATE takes the write lock up front, so a busy reader never turns a
    # half-done write transaction into SQLITE_BUSY.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return found.fetchone() is not None


def connect_file(path: Path, mode: str, timeout: float) -> sqlite3.Connection:
    """A connection in autocommit (transactions are opened by hand) that any thread may use,
    to ``path`` opened in URI ``mode``: ``ro`` never makes nor changes the file, ``rw`` never
    makes it, ``rwc`` does."""
    return sqlite3.connect(
        f"file:{quote(str(path.resolve()))}?mode={mode}",
        uri=True,
        timeout=timeout,
        isolation_level=None,
        check_same_thread=False,
    )


def _sqlite_path(url: str, part: str) -> str:
    path = unquote(part)
    if path.startswith("//"):  # sqlite:////abs/path.db, as SQLAlchemy writes it
        path = "/" + path.lstrip("/")
    if not path or path == "/":
        raise StoreError(f"{url!r}: name the database file, e.g. sqlite:///var/lib/lm.db")
    return path


def sqlite_file(url: str) -> str | None:
    """The file a ``sqlite:`` URL names, else None."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc:
        return None
    return _sqlite_path(url, parts.path)


def open_url(url: str, parts: SplitResult, options: dict[str, str], read_only: bool) -> SQLiteStore:
    """``sqlite:///absolute/path.db`` or ``sqlite:relative/path.db`` (see lokaalmeten.store)."""
    if parts.netloc:
        raise StoreError(
            f"{url!r}: a sqlite URL has no host; write sqlite:///absolute/path.db "
            "or sqlite:relative/path.db"
        )
    path = _sqlite_path(url, parts.path)
    unknown = set(options) - {"synchronous", "timeout"}
    if unknown:
        raise StoreError(
            f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}; "
            "sqlite URLs take synchronous and timeout"
        )
    try:
        timeout = float(options.get("timeout", "10"))
    except ValueError:
        raise StoreError(f"{url!r}: timeout must be a number of seconds") from None
    return SQLiteStore(
        path,
        read_only=read_only,
        synchronous=options.get("synchronous", "full").lower(),
        query_timeout=timeout,
    )
