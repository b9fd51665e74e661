"""The alert book: open alerts, their events and the outbox of events still to deliver, in
SQLite, so that no alert and no event is lost across a restart::

    book = AlertBook(Path("/var/lib/lokaalmeten/registry.db"), sinks=("webhook", "mqtt"))
    event = book.raise_alert(AlertKey("offline", "esp32-0a1b2c", ""), "…", now)
    book.next_event("webhook")            # the oldest event the webhook has not accepted
    book.delivered("webhook", event.id)   # only after the receiver answered 2xx
    AlertReader(path).open_alerts()       # the server's view, read-only

The book lives in the registry file beside the node directory (gateway/directory.py): the
alerts are about the kits described there, the server already opens that file read-only
(LM_REGISTRY) and needs no new setting to find them, and one file to back up holds what is
known about the kits. Its tables are its own and are made if missing, so the directory's
schema version does not change and an older lokaalmeten ignores them.

Raising or resolving an alert writes the alert, its event and one outbox row per sink in one
transaction: an event is either in the outbox of every sink or was never made.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from lokaalmeten.readings import iso_utc
from lokaalmeten.store.sqlite import connect_file, immediate_transaction

Kind = Literal["offline", "dead_sensor", "stuck", "persistent_flags"]
KINDS: tuple[Kind, ...] = ("offline", "dead_sensor", "stuck", "persistent_flags")
Change = Literal["raised", "resolved"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    node TEXT NOT NULL,
    quantity TEXT NOT NULL,             -- '' for an alert about the whole kit
    opened INTEGER NOT NULL,
    resolved INTEGER,                   -- NULL: still open
    message TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS alert_open ON alert (kind, node, quantity)
    WHERE resolved IS NULL;
CREATE TABLE IF NOT EXISTS alert_event (
    id TEXT PRIMARY KEY,                -- the Idempotency-Key of its deliveries
    alert TEXT NOT NULL,
    change TEXT NOT NULL,               -- 'raised' or 'resolved'
    time INTEGER NOT NULL,
    body TEXT NOT NULL                  -- the JSON every sink delivers
);
CREATE TABLE IF NOT EXISTS alert_outbox (
    seq INTEGER PRIMARY KEY,            -- delivery order: the order the events were made
    sink TEXT NOT NULL,
    event TEXT NOT NULL,
    UNIQUE (sink, event)
);
CREATE TABLE IF NOT EXISTS alert_seen (
    node TEXT NOT NULL,
    quantity TEXT NOT NULL,             -- '' for the kit as a whole
    last REAL NOT NULL,                 -- the gateway's clock when a reading last arrived
    PRIMARY KEY (node, quantity)
);
"""
_ALERT = "SELECT id, kind, node, quantity, opened, resolved, message FROM alert"
_KEEP_EVENTS_S = 90 * 86400  # delivered events and resolved alerts older are dropped at start


class AlertBookError(RuntimeError):
    """The alert book cannot be opened or written; the message says why."""


class AlertKey(NamedTuple):
    """What an alert is about; at most one alert is open per key. A tuple: the rules make
    one per sensor at every judgement."""

    kind: Kind
    node: str
    quantity: str = ""  # '' for the kit as a whole (offline)


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    kind: Kind
    node: str
    quantity: str
    opened: int
    resolved: int | None
    message: str

    @property
    def key(self) -> AlertKey:
        return AlertKey(self.kind, self.node, self.quantity)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    id: str
    change: Change
    alert: Alert
    time: int

    def body(self) -> dict[str, Any]:
        """What the webhook receives and the MQTT topic carries."""
        a = self.alert
        return {
            "event": self.id,
            "change": self.change,
            "time": iso_utc(self.time),
            "alert": {
                "id": a.id,
                "kind": a.kind,
                "node": a.node,
                "quantity": a.quantity or None,
                "opened": iso_utc(a.opened),
                "resolved": None if a.resolved is None else iso_utc(a.resolved),
                "message": a.message,
            },
        }


def _alert(row: tuple[Any, ...]) -> Alert:
    return Alert(*row)


class AlertBook:
    """The gateway's book (one writer); ``sinks``: where each new event must be delivered."""

    def __init__(self, path: Path, sinks: Iterable[str], now: float | None = None) -> None:
        self.path = path
        self.sinks = tuple(sinks)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
            if now is not None:
                with immediate_transaction(conn):
                    # History kept for a while, then dropped; never an undelivered event.
                    horizon = int(now) - _KEEP_EVENTS_S
                    conn.execute(
                        "DELETE FROM alert_event WHERE time < ? AND "
                        "id NOT IN (SELECT event FROM alert_outbox)",
                        (horizon,),
                    )
                    conn.execute("DELETE FROM alert WHERE resolved < ?", (horizon,))
        except (sqlite3.Error, OSError) as exc:
            raise AlertBookError(f"cannot open the alert book in {path}: {exc}") from exc
        self._conn = conn
        self._lock = threading.Lock()

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise AlertBookError(f"reading the alert book in {self.path}: {exc}") from exc

    def open_alerts(self) -> dict[AlertKey, Alert]:
        rows = self._rows(f"{_ALERT} WHERE resolved IS NULL ORDER BY opened, id")
        return {alert.key: alert for alert in map(_alert, rows)}

    def raise_alert(self, key: AlertKey, message: str, now: int) -> AlertEvent:
        return self.apply([(key, message)], [], now)[0]

    def resolve(self, alert: Alert, message: str, now: int) -> AlertEvent:
        """Close ``alert``; ``message`` says why it is over."""
        return self.apply([], [(alert, message)], now)[0]

    def apply(
        self,
        raises: Sequence[tuple[AlertKey, str]],
        resolves: Sequence[tuple[Alert, str]],
        now: int,
    ) -> list[AlertEvent]:
        """Open and close alerts in one transaction (one commit, however many a judgement
        changes); returns their events, resolutions first."""
        events = [
            AlertEvent(
                f"{alert.id}-resolved",
                "resolved",
                Alert(alert.id, alert.kind, alert.node, alert.quantity, alert.opened, now, why),
                now,
            )
            for alert, why in resolves
        ]
        for key, message in raises:
            alert_id = f"alert-{uuid.uuid4().hex[:16]}"
            alert = Alert(alert_id, key.kind, key.node, key.quantity, now, None, message)
            events.append(AlertEvent(f"{alert_id}-raised", "raised", alert, now))
        if not events:
            return events
        with self._lock:
            conn = self._conn
            try:
                with immediate_transaction(conn):
                    # The alert keeps the message it was raised with; its event says why
                    # it is over.
                    conn.executemany(
                        "UPDATE alert SET resolved = ? WHERE id = ?",
                        [(now, e.alert.id) for e in events[: len(resolves)]],
                    )
                    conn.executemany(
                        "INSERT INTO alert VALUES (?, ?, ?, ?, ?, NULL, ?)",
                        [
                            (a.id, a.kind, a.node, a.quantity, a.opened, a.message)
                            for a in (e.alert for e in events[len(resolves) :])
                        ],
                    )
                    conn.executemany(
                        "INSERT INTO alert_event VALUES (?, ?, ?, ?, ?)",
                        [(e.id, e.alert.id, e.change, now, json.dumps(e.body())) for e in events],
                    )
                    conn.executemany(
                        "INSERT INTO alert_outbox (sink, event) VALUES (?, ?)",
                        [(sink, e.id) for e in events for sink in self.sinks],
                    )
            except sqlite3.Error as exc:
                raise AlertBookError(f"writing the alert book in {self.path}: {exc}") from exc
        return events

    def next_event(self, sink: str) -> tuple[str, str] | None:
        """The oldest event ``sink`` has not accepted: (event id, JSON body), or None."""
        rows = self._rows(
            "SELECT e.id, e.body FROM alert_outbox o JOIN alert_event e ON e.id = o.event "
            "WHERE o.sink = ? ORDER BY o.seq LIMIT 1",
            (sink,),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def delivered(self, sink: str, event_id: str) -> None:
        """``sink`` accepted the event: it leaves that sink's outbox."""
        with self._lock:
            try:
                with immediate_transaction(self._conn):
                    self._conn.execute(
                        "DELETE FROM alert_outbox WHERE sink = ? AND event = ?", (sink, event_id)
                    )
            except sqlite3.Error as exc:
                raise AlertBookError(f"writing the alert book in {self.path}: {exc}") from exc

    def outbox_depth(self) -> dict[str, int]:
        """Events waiting per configured sink."""
        rows = dict(self._rows("SELECT sink, count(*) FROM alert_outbox GROUP BY sink"))
        return {sink: int(rows.get(sink, 0)) for sink in self.sinks}

    def seen(self) -> dict[tuple[str, str], float]:
        """When readings last arrived, per (node, quantity); quantity '' for the kit."""
        return {(n, q): last for n, q, last in self._rows("SELECT * FROM alert_seen")}

    def save_seen(self, seen: Mapping[tuple[str, str], float]) -> None:
        if not seen:
            return
        with self._lock:
            try:
                with immediate_transaction(self._conn):
                    self._conn.executemany(
                        "INSERT INTO alert_seen VALUES (?, ?, ?) ON CONFLICT (node, quantity) "
                        "DO UPDATE SET last = max(last, excluded.last)",
                        [(n, q, last) for (n, q), last in seen.items()],
                    )
            except sqlite3.Error as exc:
                raise AlertBookError(f"writing the alert book in {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class AlertReader:
    """The server's view: the registry file read-only; none there (yet) reads as no alerts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open_alerts(self) -> dict[str, list[Alert]]:
        """Open alerts by node, oldest first."""
        with self._lock:
            if self._conn is None:
                if not self.path.exists():
                    return {}
                self._conn = connect_file(self.path, "ro", timeout=10)
                self._conn.execute("PRAGMA query_only=1")
            try:
                rows = self._conn.execute(
                    f"{_ALERT} WHERE resolved IS NULL ORDER BY node, opened, id"
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                return {}  # a gateway from before the alerts, or not started yet
        found: dict[str, list[Alert]] = {}
        for alert in map(_alert, rows):
            found.setdefault(alert.node, []).append(alert)
        return found

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
