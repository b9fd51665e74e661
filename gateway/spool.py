"""The spool: a durable SQLite outbox between ingest and the stores.

Ingest commits validated readings here (and refused input to the quarantine) before it
acknowledges anything upstream; one writer per store drains the spool through its own cursor,
and a reading leaves the spool only when every store has accepted it. A crash anywhere leaves
each reading either unacknowledged upstream (the broker or the kit still has it) or in the
spool (a writer sends it again; stores ignore repeats)::

    spool = Spool(Path("/var/lib/lokaalmeten/spool.db"), consumers=["sqlite:///..."])
    spool.put(readings, refused=[])                 # durable on return
    batch = spool.take("sqlite:///...", limit=5000)
    store.write([r for _, r in batch]); spool.done("sqlite:///...", batch[-1][0])

The size is bounded (``max_readings``). When full, policy ``block`` refuses new readings
(ingest stops acknowledging, so the broker keeps the messages and HTTP kits are told to retry);
policy ``drop_oldest`` deletes the oldest readings, counts them and says so loudly.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lokaalmeten.readings import Reading
from lokaalmeten.store.sqlite import immediate_transaction

log = logging.getLogger("lokaalmeten.gateway")

FullPolicy = Literal["block", "drop_oldest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    quantity TEXT NOT NULL,
    time INTEGER NOT NULL,
    value REAL NOT NULL,
    sensor TEXT,
    flags INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cursor (consumer TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# Columns the quarantine gained after its first release: migrate_quarantine adds them when a
# spool is opened, to new and older spools alike. A replay needs them; NULL in rows made
# before them:
# - context: what the ingest knew beside the payload and its source (JSON: the airRohr
#   X-Sensor header, the line protocol's precision);
# - spooled: identities of the payload's readings already committed to the spool (JSON list
#   of [node, quantity, time]), so that a replay does not send them again;
# - replayed_at: when a replay stored the payload (epoch seconds); NULL while it is refused.
QUARANTINE_COLUMNS = {"context": "TEXT", "spooled": "TEXT", "replayed_at": "INTEGER"}


class SpoolFull(Exception):
    """The spool holds ``max_readings`` and its policy is ``block``."""


Identity = tuple[str, str, int]  # a reading's (node, quantity, time)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Input that cannot be stored, kept in the quarantine with its reason."""

    source: str  # e.g. the MQTT topic or "http:/airrohr"
    reason: str
    detail: str
    payload: bytes
    received_at: int
    # What decoding the payload again needs beside it and its source (JSON text), if anything.
    context: str | None = None
    # Readings of the same payload that were accepted (values left out of a record, say).
    spooled: tuple[Identity, ...] = ()


def migrate_quarantine(conn: sqlite3.Connection) -> None:
    """Add the quarantine's newer columns to a spool made before them (in a transaction)."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(quarantine)")}
    for name, kind in QUARANTINE_COLUMNS.items():
        if name not in present:
            conn.execute(f"ALTER TABLE quarantine ADD COLUMN {name} {kind}")


def quarantine_rows(refused: Sequence[Refusal]) -> list[tuple[object, ...]]:
    """Refusals as values for ``INSERT INTO quarantine`` with :data:`QUARANTINE_INSERT`."""
    return [
        (
            r.received_at,
            r.source,
            r.reason,
            r.detail,
            r.payload,
            r.context,
            json.dumps(r.spooled) if r.spooled else None,
        )
        for r in refused
    ]


QUARANTINE_INSERT = (
    "INSERT INTO quarantine (received_at, source, reason, detail, payload, context, spooled)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def spool_readings(
    conn: sqlite3.Connection,
    readings: Sequence[Reading],
    *,
    max_readings: int,
    full_policy: FullPolicy,
    path: Path,
) -> None:
    """Add readings inside the caller's write transaction, keeping the spool's bound.

    Raises :class:`SpoolFull` when policy ``block`` has no room for all of them.
    """
    if not readings:
        return
    room = max_readings - _depth(conn)
    if len(readings) > room:
        if full_policy == "block":
            raise SpoolFull(
                f"spool {path} holds {max_readings} readings "
                "(spool_max_readings); waiting for the stores to drain it"
            )
        _drop_oldest(conn, len(readings) - room, max_readings)
    conn.executemany(
        "INSERT INTO spool (node, quantity, time, value, sensor, flags) VALUES (?, ?, ?, ?, ?, ?)",
        readings,
    )


def _depth(conn: sqlite3.Connection) -> int:
    # Ids only grow and rows are deleted only below the lowest cursor, so the rows
    # between the lowest cursor and the highest id are all present.
    high, low = conn.execute(
        "SELECT coalesce((SELECT max(id) FROM spool), 0), (SELECT min(last_id) FROM cursor)"
    ).fetchone()
    return max(0, int(high) - int(low))


def _drop_oldest(conn: sqlite3.Connection, count: int, max_readings: int) -> None:
    lowest = conn.execute("SELECT min(id) FROM spool").fetchone()[0]
    if lowest is None:
        return
    cut = lowest + count - 1
    dropped = conn.execute("DELETE FROM spool WHERE id <= ?", (cut,)).rowcount
    conn.execute("UPDATE cursor SET last_id = max(last_id, ?)", (cut,))
    conn.execute(
        "INSERT INTO counter VALUES ('dropped_spool_full', ?) "
        "ON CONFLICT DO UPDATE SET value = value + excluded.value",
        (dropped,),
    )
    log.error(
        "SPOOL FULL: dropped the %d oldest readings (policy drop_oldest, %d max); "
        "the stores are not keeping up or are down",
        dropped,
        max_readings,
    )


class Spool:
    def __init__(
        self,
        path: Path,
        consumers: Sequence[str],
        *,
        max_readings: int = 5_000_000,
        full_policy: FullPolicy = "block",
        synchronous: str = "full",
    ) -> None:
        if not consumers:
            raise ValueError("a spool needs at least one consumer (store)")
        self.path = path
        self.max_readings = max_readings
        self.full_policy = full_policy
        self._synchronous = synchronous
        self._local = threading.local()
        self._arrived = threading.Condition()
        # Told after each put of readings: writers in other processes (writer_process.py).
        self.listeners: list[Callable[[], None]] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
        with immediate_transaction(conn):
            migrate_quarantine(conn)
            # A store added to the configuration starts before the oldest spooled reading,
            # so it receives everything still queued; a removed store stops holding rows back.
            start = conn.execute("SELECT coalesce(min(id) - 1, 0) FROM spool").fetchone()[0]
            conn.executemany(
                "INSERT OR IGNORE INTO cursor VALUES (?, ?)", [(c, start) for c in consumers]
            )
            conn.execute(
                f"DELETE FROM cursor WHERE consumer NOT IN ({','.join('?' * len(consumers))})",
                list(consumers),
            )
        self.consumers = tuple(consumers)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._local.conn = conn
        return conn

    # -- ingest side ---------------------------------------------------------------------

    def put(self, readings: Sequence[Reading], refused: Sequence[Refusal] = ()) -> None:
        """Commit readings and refusals in one durable transaction.

        Raises :class:`SpoolFull` (with nothing written) when policy ``block`` has no room.
        """
        conn = self._conn()
        with immediate_transaction(conn):
            spool_readings(
                conn,
                readings,
                max_readings=self.max_readings,
                full_policy=self.full_policy,
                path=self.path,
            )
            if refused:
                conn.executemany(QUARANTINE_INSERT, quarantine_rows(refused))
        if readings:
            with self._arrived:
                self._arrived.notify_all()
            for listener in self.listeners:
                listener()

    # -- writer side ---------------------------------------------------------------------

    def take(self, consumer: str, limit: int) -> list[tuple[int, Reading]]:
        """The oldest readings this consumer has not yet confirmed, with their spool ids."""
        rows = self._conn().execute(
            "SELECT id, node, quantity, time, value, sensor, flags FROM spool "
            "WHERE id > (SELECT last_id FROM cursor WHERE consumer = ?) ORDER BY id LIMIT ?",
            (consumer, limit),
        )
        return [(row[0], Reading(*row[1:])) for row in rows]

    def done(self, consumer: str, last_id: int) -> None:
        """The consumer's store accepted everything up to ``last_id``."""
        conn = self._conn()
        with immediate_transaction(conn):
            conn.execute(
                "UPDATE cursor SET last_id = max(last_id, ?) WHERE consumer = ?",
                (last_id, consumer),
            )
            floor = conn.execute("SELECT min(last_id) FROM cursor").fetchone()[0]
            conn.execute("DELETE FROM spool WHERE id <= ?", (floor,))

    def wait_for_readings(self, timeout: float) -> None:
        """Sleep until ``put`` adds readings (in this process), :meth:`wake` is called or
        ``timeout`` passes."""
        with self._arrived:
            self._arrived.wait(timeout)

    def wake(self) -> None:
        """End every wait_for_readings() now (at stop; not from a signal handler)."""
        with self._arrived:
            self._arrived.notify_all()

    # -- state ---------------------------------------------------------------------------

    def depth(self, consumer: str | None = None) -> int:
        """Readings waiting for ``consumer`` (or for the slowest consumer)."""
        conn = self._conn()
        if consumer is None:
            return _depth(conn)
        row = conn.execute(
            "SELECT coalesce((SELECT max(id) FROM spool), 0) - last_id FROM cursor"
            " WHERE consumer = ?",
            (consumer,),
        ).fetchone()
        return max(0, int(row[0])) if row else 0

    def room(self) -> int:
        """How many more readings fit before the spool is full."""
        return max(0, self.max_readings - _depth(self._conn()))

    def dropped(self) -> int:
        row = (
            self._conn()
            .execute("SELECT value FROM counter WHERE name = 'dropped_spool_full'")
            .fetchone()
        )
        return int(row[0]) if row else 0

    def quarantined(self, limit: int = 100) -> list[Refusal]:
        rows = self._conn().execute(
            "SELECT source, reason, detail, payload, received_at FROM quarantine "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [Refusal(s, r, d, bytes(p), t) for s, r, d, p, t in rows]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
