"""The node directory: everything known about each kit beyond its credentials, in one place.

It lives in the registry's SQLite file, next to the credentials (gateway/registry.py): name,
description, interval, location with the owner's exact/rounded choice, siting, sensor models,
firmware, the last status and the location history. The gateway writes it (the kits' retained
status, the sensor models of their readings), the operator edits it (``lokaalmeten places``)
and the server reads it, read-only, while the gateway writes (WAL)::

    directory = Directory(Path("/var/lib/lokaalmeten/registry.db"))
    directory.edit("esp32-0a1b2c", Edit(name="Balkon Lombok", location=(52.091234, 5.121987)))
    directory.report_status("esp32-0a1b2c", parse_status(payload), received_at, retained=False)
    directory.entries()["esp32-0a1b2c"].place      # Place(52.091234, 5.121987, exact=False, …)
    DirectoryReader(Path("/var/lib/lokaalmeten/registry.db")).entries()   # the server's view

Where a kit is: the operator's location when one is set, else the one the kit's own
configuration reports in its status. A change of that place closes the history row of the
old one (``until``) and opens a new one (``since``). The owner's consent to exact publication
(``exact``) belongs to one place: a kit that reports a new place is published rounded until the
operator confirms the consent again, and withdrawing it (``--no-exact``) covers the history too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.protocol.status import CounterValue, State, StatusReport
from lokaalmeten.store.sqlite import connect_file, immediate_transaction

if TYPE_CHECKING:
    from lokaalmeten.gateway.registry import Registry

# PRAGMA user_version of the registry file; 0: a registry without directory. 2 added the
# relays' claims, the owners' forwarding choices and the LoRaWAN devices' nodes; a file of
# version 1 is migrated by creating those tables.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kit (
    node TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    interval REAL,                      -- seconds between readings; NULL: the network's default
    latitude REAL,                      -- the operator's location; it wins over the kit's
    longitude REAL,
    exact INTEGER NOT NULL DEFAULT 0,   -- the owner's consent to publish the current place exactly
    kit_latitude REAL,                  -- the location the kit's configuration reports
    kit_longitude REAL,
    kit_precise INTEGER NOT NULL DEFAULT 0,  -- the kit sent it unrounded (its owner chose exact)
    indoor INTEGER,                     -- 1 indoor, 0 outdoor, NULL not said
    height_m REAL,                      -- above the ground
    notes TEXT NOT NULL DEFAULT '',     -- the operator's, never published
    sensors TEXT NOT NULL DEFAULT '',   -- sensor models seen in its readings, comma-separated
    firmware TEXT NOT NULL DEFAULT '',
    state TEXT,                         -- 'online' / 'offline' from its status; NULL: not heard
    state_since INTEGER,                -- when it changed to that state (the gateway's clock)
    status_heard INTEGER,               -- the last status published live (not a retained copy)
    counters TEXT NOT NULL DEFAULT '{}',
    updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS place (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    precise INTEGER NOT NULL,           -- coordinates as measured, not rounded by the kit
    exact INTEGER NOT NULL,             -- may be published exactly
    source TEXT NOT NULL,               -- 'operator' or 'kit'
    since INTEGER NOT NULL,
    until INTEGER                       -- NULL: where the kit is now
);
CREATE INDEX IF NOT EXISTS place_node ON place (node, since);
CREATE TABLE IF NOT EXISTS relay_claim (
    node TEXT PRIMARY KEY,              -- a kit whose readings a neighbourhood gateway relays
    relay TEXT NOT NULL,                -- that gateway: the first to relay the kit owns it
    since INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS forward (
    node TEXT NOT NULL,
    target TEXT NOT NULL,               -- a platform the owner chose: 'opensensemap', …
    options TEXT NOT NULL DEFAULT '{}', -- JSON: what that platform needs (ids, a token)
    since INTEGER NOT NULL,
    PRIMARY KEY (node, target)
);
CREATE TABLE IF NOT EXISTS lorawan_device (
    application TEXT NOT NULL,          -- The Things Stack's application id
    device TEXT NOT NULL,               -- its end device id
    node TEXT NOT NULL UNIQUE,          -- the node its uplinks are readings of
    since INTEGER NOT NULL,
    PRIMARY KEY (application, device)
);
"""
# Where an owner may choose to have their kit's readings sent, besides this gateway's store
# (docs/gateway.md, "Forwarding"); each is an output that reads the choices made for it.
TARGETS = ("opensensemap", "sensorcommunity", "homeassistant")

Source = Literal["operator", "kit"]
# How long the gateway trusts the relays' claims and the devices' nodes it has read: a
# change by the operator's command (another process) counts within this time.
CACHE_S = 5.0


class DirectoryError(ValueError):
    """A directory request that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class Place:
    latitude: float
    longitude: float
    exact: bool  # may be published exactly; else only rounded
    source: Source
    since: int
    until: int | None = None


@dataclass(frozen=True, slots=True)
class Siting:
    indoor: bool | None = None
    height_m: float | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class KitStatus:
    state: State
    since: int  # when the kit changed to this state
    heard: int | None  # its last live status; None: only a retained copy has been seen
    counters: Mapping[str, CounterValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KitEntry:
    node: str
    name: str = ""
    description: str = ""
    interval: float | None = None
    place: Place | None = None  # where it is now: the operator's location, else the kit's
    exact: bool = False  # the owner's consent for the current place
    operator_location: tuple[float, float] | None = None
    kit_location: tuple[float, float, bool] | None = None  # latitude, longitude, precise
    siting: Siting = Siting()
    sensors: tuple[str, ...] = ()
    firmware: str = ""
    status: KitStatus | None = None


def node_meta(entry: KitEntry) -> NodeMeta:
    place = entry.place
    return NodeMeta(
        entry.node,
        None if place is None else place.latitude,
        None if place is None else place.longitude,
        place is not None and place.exact,
        entry.name,
        entry.description,
        entry.interval,
        entry.siting.indoor,
        entry.siting.height_m,
        entry.sensors,
        entry.firmware,
        None if entry.status is None else entry.status.state,
        None if entry.status is None else entry.status.since,
    )


@dataclass(frozen=True, slots=True)
class Edit:
    """An operator's change; None leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    interval: float | None = None  # 0: back to the network's default
    location: tuple[float, float] | None = None  # its consent is ``exact`` (default: none)
    clear_location: bool = False  # the kit's own location counts again
    exact: bool | None = None
    indoor: bool | None = None
    height_m: float | None = None
    notes: str | None = None


_ENTRY = (
    "SELECT k.node, k.name, k.description, k.interval, k.exact, k.latitude, k.longitude, "
    "k.kit_latitude, k.kit_longitude, k.kit_precise, k.indoor, k.height_m, k.notes, "
    "k.sensors, k.firmware, k.state, k.state_since, k.status_heard, k.counters, "
    "p.latitude, p.longitude, p.exact, p.source, p.since "
    "FROM kit k LEFT JOIN place p ON p.node = k.node AND p.until IS NULL"
)
_PLACE = "SELECT node, latitude, longitude, exact, source, since, until FROM place"


def _entry(row: tuple[Any, ...]) -> KitEntry:
    (node, name, description, interval, exact, lat, lon, kit_lat, kit_lon, kit_precise) = row[:10]
    indoor, height, notes, sensors, firmware, state, since, heard, counters = row[10:19]
    place = None if row[19] is None else Place(row[19], row[20], bool(row[21]), row[22], row[23])
    return KitEntry(
        node=node,
        name=name,
        description=description,
        interval=interval,
        place=place,
        exact=bool(exact),
        operator_location=None if lat is None else (lat, lon),
        kit_location=None if kit_lat is None else (kit_lat, kit_lon, bool(kit_precise)),
        siting=Siting(None if indoor is None else bool(indoor), height, notes),
        sensors=tuple(s for s in sensors.split(",") if s),
        firmware=firmware,
        status=None if state is None else KitStatus(state, since, heard, json.loads(counters)),
    )


def _place(row: tuple[Any, ...]) -> Place:
    return Place(row[1], row[2], bool(row[3]), row[4], row[5], row[6])


class _Reading:
    """The queries the gateway, the operator's commands and the server share."""

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def entries(self) -> dict[str, KitEntry]:
        """Every kit the directory knows, by node id, in id order."""
        return {row[0]: _entry(row) for row in self._rows(f"{_ENTRY} ORDER BY k.node")}

    def metas(self) -> dict[str, NodeMeta]:
        """Every kit as the server publishes it, by node id."""
        return {node: node_meta(entry) for node, entry in self.entries().items()}

    def entry(self, node: str) -> KitEntry | None:
        rows = self._rows(f"{_ENTRY} WHERE k.node = ?", (node,))
        return _entry(rows[0]) if rows else None

    def history(self, node: str) -> list[Place]:
        """Where the kit has been, oldest first; the last row without ``until`` is now."""
        rows = self._rows(f"{_PLACE} WHERE node = ? ORDER BY since, id", (node,))
        return [_place(row) for row in rows]

    def histories(self) -> dict[str, list[Place]]:
        found: dict[str, list[Place]] = {}
        for row in self._rows(f"{_PLACE} ORDER BY node, since, id"):
            found.setdefault(row[0], []).append(_place(row))
        return found

    def forwarding(self, target: str) -> dict[str, dict[str, Any]]:
        """The kits whose owners chose ``target``, with its options, by node id."""
        rows = self._rows(
            "SELECT node, options FROM forward WHERE target = ? ORDER BY node", (target,)
        )
        return {node: json.loads(options) for node, options in rows}

    def devices(self) -> list[tuple[str, str, str, int]]:
        """Every LoRaWAN device with a node of its own: (application, device, node, since)."""
        rows = self._rows(
            "SELECT application, device, node, since FROM lorawan_device "
            "ORDER BY application, device"
        )
        return [(app, dev, node, since) for app, dev, node, since in rows]

    def forwards(self) -> list[tuple[str, str, dict[str, Any], int]]:
        """Every choice: (node, target, options, since), by node."""
        rows = self._rows("SELECT node, target, options, since FROM forward ORDER BY node, target")
        return [(node, target, json.loads(options), since) for node, target, options, since in rows]


class Directory(_Reading):
    """The directory for writing (the gateway, the operator's commands); makes or migrates
    the tables in the registry file, which keeps working for older lokaalmeten versions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DirectoryError(
                    f"{path} was written by a newer lokaalmeten (directory schema {version}); "
                    "upgrade lokaalmeten to use it"
                )
            conn.executescript(
                f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
            )
        except (sqlite3.Error, OSError) as exc:
            raise DirectoryError(f"cannot open the node directory in {path}: {exc}") from exc
        self._conn = conn
        self._lock = threading.Lock()
        self._claims: dict[str, str] = {}  # node -> its relay, as read or written here
        self._claims_read = time.monotonic()
        self._devices: dict[tuple[str, str], str] = {}  # (application, device) -> node
        self._devices_read = -CACHE_S
        self.cache_s = CACHE_S

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    @contextmanager
    def _changing(self, node: str, now: int) -> Iterator[sqlite3.Connection]:
        """One write transaction on a node's row, made first if the node is new."""
        with self._lock:
            conn = self._conn
            try:
                with immediate_transaction(conn):
                    conn.execute(
                        "INSERT INTO kit (node, updated) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        (node, now),
                    )
                    yield conn
                    conn.execute("UPDATE kit SET updated = ? WHERE node = ?", (now, node))
            except sqlite3.Error as exc:
                raise DirectoryError(
                    f"writing the node directory in {self.path} failed: {exc}"
                ) from exc

    # -- the operator ----------------------------------------------------------------------

    def edit(self, node: str, edit: Edit, now: int | None = None) -> KitEntry:
        """Apply an operator's change; returns the entry as it is now."""
        _check(edit)
        now = int(time.time()) if now is None else now
        with self._changing(node, now) as conn:
            for column in ("name", "description", "notes"):
                value = getattr(edit, column)
                if value is not None:
                    conn.execute(f"UPDATE kit SET {column} = ? WHERE node = ?", (value, node))
            if edit.interval is not None:
                conn.execute(
                    "UPDATE kit SET interval = ? WHERE node = ?", (edit.interval or None, node)
                )
            if edit.indoor is not None:
                conn.execute("UPDATE kit SET indoor = ? WHERE node = ?", (int(edit.indoor), node))
            if edit.height_m is not None:
                conn.execute("UPDATE kit SET height_m = ? WHERE node = ?", (edit.height_m, node))
            if edit.location is not None or edit.clear_location:
                consent = bool(edit.exact)
                lat, lon = edit.location if edit.location is not None else (None, None)
                conn.execute(
                    "UPDATE kit SET latitude = ?, longitude = ?, exact = ? WHERE node = ?",
                    (lat, lon, int(consent), node),
                )
                if lat is not None and lon is not None:
                    _move(conn, node, (lat, lon, True, "operator"), consent, now)
                else:
                    _move(conn, node, _kit_place(conn, node), consent, now)
            elif edit.exact is not None:
                conn.execute("UPDATE kit SET exact = ? WHERE node = ?", (int(edit.exact), node))
                conn.execute(
                    "UPDATE place SET exact = precise * ? WHERE node = ? AND until IS NULL",
                    (int(edit.exact), node),
                )
            if edit.exact is False:  # a withdrawn consent covers where the kit has been, too
                conn.execute("UPDATE place SET exact = 0 WHERE node = ?", (node,))
        entry = self.entry(node)
        if entry is None:
            raise DirectoryError(f"{node} vanished from the directory while it was edited")
        return entry

    # -- the gateway -----------------------------------------------------------------------

    def report_status(
        self, node: str, report: StatusReport, received_at: int, retained: bool
    ) -> None:
        """A kit's status arrived. ``retained``: a copy the broker kept, of unknown age (sent
        at subscription), so it says the state but not that the kit was heard just now."""
        with self._changing(node, received_at) as conn:
            state, since, heard = conn.execute(
                "SELECT state, state_since, status_heard FROM kit WHERE node = ?", (node,)
            ).fetchone()
            if state != report.state:
                since = received_at
            conn.execute(
                "UPDATE kit SET state = ?, state_since = ?, status_heard = ? WHERE node = ?",
                (report.state, since, heard if retained else received_at, node),
            )
            if report.firmware is not None:
                conn.execute("UPDATE kit SET firmware = ? WHERE node = ?", (report.firmware, node))
            if report.counters:
                conn.execute(
                    "UPDATE kit SET counters = ? WHERE node = ?",
                    (json.dumps(dict(report.counters)), node),
                )
            if report.state == "online":  # the Last Will carries no location
                self._kit_reports(conn, node, report.location, received_at)

    def _kit_reports(
        self,
        conn: sqlite3.Connection,
        node: str,
        location: tuple[float, float, bool] | None,
        now: int,
    ) -> None:
        lat, lon, precise = location if location is not None else (None, None, False)
        conn.execute(
            "UPDATE kit SET kit_latitude = ?, kit_longitude = ?, kit_precise = ? WHERE node = ?",
            (lat, lon, int(precise), node),
        )
        operator, consent = conn.execute(
            "SELECT latitude, exact FROM kit WHERE node = ?", (node,)
        ).fetchone()
        if operator is not None:  # the operator's location wins; the kit's is kept beside it
            return
        current = conn.execute(
            "SELECT latitude, longitude FROM place WHERE node = ? AND until IS NULL", (node,)
        ).fetchone()
        if current is not None and location is not None and current != (lat, lon):
            # The kit moved: the consent given for its old place is not one for the new.
            consent = 0
            conn.execute("UPDATE kit SET exact = 0 WHERE node = ?", (node,))
        _move(conn, node, _kit_place(conn, node), bool(consent), now)

    def saw_sensors(self, node: str, models: Iterable[str]) -> None:
        """Sensor models seen in a kit's readings (added to those seen before)."""
        now = int(time.time())
        with self._changing(node, now) as conn:
            (known,) = conn.execute("SELECT sensors FROM kit WHERE node = ?", (node,)).fetchone()
            merged = sorted({*known.split(","), *models} - {""})
            conn.execute("UPDATE kit SET sensors = ? WHERE node = ?", (",".join(merged), node))

    def forget_status(self, node: str) -> None:
        """Drop a kit's last status (it was removed from the registry): a retained "online"
        of a kit no longer heard must not keep it online."""
        with self._changing(node, int(time.time())) as conn:
            conn.execute(
                "UPDATE kit SET state = NULL, state_since = NULL, status_heard = NULL "
                "WHERE node = ?",
                (node,),
            )

    def adopt(self, metas: Iterable[NodeMeta], now: int | None = None) -> list[str]:
        """Take node metadata an older lokaalmeten kept in the readings store. A kit the
        operator has already described here keeps what it has. Returns the nodes taken."""
        taken = []
        for meta in metas:
            entry = self.entry(meta.node)
            if entry is not None and (
                entry.name or entry.description or entry.operator_location is not None
            ):
                continue
            location = (
                None
                if meta.latitude is None or meta.longitude is None
                else (
                    meta.latitude,
                    meta.longitude,
                )
            )
            edit = Edit(
                name=meta.name,
                description=meta.description,
                interval=meta.interval,
                location=location,
                exact=meta.exact if location is not None else None,
            )
            self.edit(meta.node, edit, now)
            taken.append(meta.node)
        return taken

    # -- forwarding ------------------------------------------------------------------------

    def forward(
        self, node: str, target: str, options: Mapping[str, Any], now: int | None = None
    ) -> None:
        """The owner of ``node`` chose to have its readings sent to ``target`` (replacing an
        earlier choice of the same target)."""
        if target not in TARGETS:
            raise DirectoryError(f"no forwarding to {target!r}; choose from {', '.join(TARGETS)}")
        when = int(time.time()) if now is None else now
        with self._lock, immediate_transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO forward (node, target, options, since) VALUES (?, ?, ?, ?)",
                (node, target, json.dumps(dict(options), sort_keys=True), when),
            )

    def stop_forwarding(self, node: str, target: str) -> None:
        with self._lock, immediate_transaction(self._conn):
            gone = self._conn.execute(
                "DELETE FROM forward WHERE node = ? AND target = ?", (node, target)
            ).rowcount
        if not gone:
            raise DirectoryError(f"{node} is not forwarded to {target}")

    # -- LoRaWAN devices ---------------------------------------------------------------------

    def map_device(self, application: str, device: str, node: str, now: int | None = None) -> None:
        """The uplinks of The Things Stack's ``application``/``device`` are readings of
        ``node`` from now on (a kit that kept its id when it got a LoRa radio; two
        applications with a device of the same id). One device per node."""
        when = int(time.time()) if now is None else now
        try:
            with self._lock, immediate_transaction(self._conn):
                self._conn.execute(
                    # A node that is another device's fails on its UNIQUE, never replaced.
                    "INSERT INTO lorawan_device (application, device, node, since) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (application, device) "
                    "DO UPDATE SET node = excluded.node, since = excluded.since",
                    (application, device, node, when),
                )
        except sqlite3.IntegrityError:
            (other,) = self._rows(
                "SELECT application || '/' || device FROM lorawan_device WHERE node = ?", (node,)
            )[0]
            raise DirectoryError(f"{node} is the node of {other} already") from None
        self._devices.clear()

    def unmap_device(self, application: str, device: str) -> str:
        """Forget a device's node (its uplinks are the device id's again); returns it."""
        with self._lock, immediate_transaction(self._conn):
            row = self._conn.execute(
                "SELECT node FROM lorawan_device WHERE application = ? AND device = ?",
                (application, device),
            ).fetchone()
            if row is None:
                raise DirectoryError(f"{application}/{device} has no node of its own")
            self._conn.execute(
                "DELETE FROM lorawan_device WHERE application = ? AND device = ?",
                (application, device),
            )
        self._devices.clear()
        return str(row[0])

    def device_node(self, application: str, device: str) -> str:
        """The node of a device's uplinks: the one mapped to it, else its device id."""
        if time.monotonic() - self._devices_read > self.cache_s:
            rows = self._rows("SELECT application, device, node FROM lorawan_device")
            self._devices = {(app, dev): node for app, dev, node in rows}
            self._devices_read = time.monotonic()
        return self._devices.get((application, device), device)

    # -- relays' claims --------------------------------------------------------------------

    def claim(self, relay: str, nodes: Iterable[str], now: int | None = None) -> dict[str, str]:
        """The first relay to send a kit's readings owns the kit here, so that two
        neighbourhood gateways cannot both speak for one node id. Claims the unclaimed
        ``nodes`` for ``relay``; returns those another relay owns, with their owner."""
        if time.monotonic() - self._claims_read > self.cache_s:
            self._claims, self._claims_read = {}, time.monotonic()  # a release elsewhere
        wanted = [node for node in nodes if self._claims.get(node) != relay]
        if wanted:
            when = int(time.time()) if now is None else now
            with self._lock, immediate_transaction(self._conn):
                conn = self._conn
                conn.executemany(
                    "INSERT OR IGNORE INTO relay_claim (node, relay, since) VALUES (?, ?, ?)",
                    [(node, relay, when) for node in wanted],
                )
                marks = ",".join("?" * len(wanted))
                self._claims.update(
                    conn.execute(
                        f"SELECT node, relay FROM relay_claim WHERE node IN ({marks})", wanted
                    ).fetchall()
                )
        return {node: self._claims[node] for node in wanted if self._claims[node] != relay}

    def claims(self) -> dict[str, tuple[str, int]]:
        """Every relayed kit: node -> (its relay, claimed since)."""
        rows = self._rows("SELECT node, relay, since FROM relay_claim ORDER BY relay, node")
        return {node: (relay, since) for node, relay, since in rows}

    def release(self, node: str) -> str:
        """Drop a kit's claim (it moved to another neighbourhood); returns its old relay.
        The next relay to send the kit owns it."""
        with self._lock, immediate_transaction(self._conn):
            conn = self._conn
            row = conn.execute("SELECT relay FROM relay_claim WHERE node = ?", (node,)).fetchone()
            if row is None:
                raise DirectoryError(f"no relay speaks for {node}")
            conn.execute("DELETE FROM relay_claim WHERE node = ?", (node,))
        self._claims.pop(node, None)
        return str(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def relay_claims(
    directory: Directory, registry: Registry | None
) -> Callable[[str, set[str], int], dict[str, str]]:
    """The nodes of a relay's batch it may not speak for, with who does: a kit registered
    here (in ``registry``, when the gateway checks kits), or one another relay sent first."""

    def claim(relay: str, nodes: set[str], now: int) -> dict[str, str]:
        here = {n: "a kit registered here" for n in nodes if registry and registry.known(n)}
        return here | directory.claim(relay, nodes - here.keys(), now)

    return claim


class DirectoryReader(_Reading):
    """The server's view: opens the file read-only (``mode=ro``), never makes or changes it.

    A file that is not there (yet), or a registry from before the directory, reads as an
    empty directory; :attr:`problem` says why, for the server's log.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.problem: str | None = None

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._conn is None:
                if not self.path.exists():
                    self.problem = f"no node directory: {self.path} does not exist"
                    return []
                self._conn = self._open()
            try:
                rows = self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                self.problem = f"no node directory in {self.path} yet (the gateway makes it)"
                return []
            self.problem = None
            return rows

    def change_point(self) -> int | None:
        """A number that moves with every commit of another connection (the gateway's) to
        the directory, so that an answer made from it may be kept while it stays; None
        while there is no directory file."""
        with self._lock:
            if self._conn is None:
                if not self.path.exists():
                    return None
                self._conn = self._open()
            # Comparable only within one connection: this reader's, which never writes.
            version: int = self._conn.execute("PRAGMA data_version").fetchone()[0]
            return version

    def _open(self) -> sqlite3.Connection:
        conn = connect_file(self.path, "ro", timeout=10)
        conn.execute("PRAGMA query_only=1")
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _check(edit: Edit) -> None:
    if edit.location is not None and edit.clear_location:
        raise DirectoryError("give a location or clear it, not both")
    if edit.location is not None:
        lat, lon = edit.location
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise DirectoryError(f"{lat},{lon}: latitude -90..90 and longitude -180..180")
    if edit.interval is not None and edit.interval < 0:
        raise DirectoryError("the interval is a number of seconds (0: the network's default)")
    if edit.height_m is not None and not -100 <= edit.height_m <= 1000:
        raise DirectoryError(f"height {edit.height_m} m: give metres above the ground, -100..1000")


def _kit_place(conn: sqlite3.Connection, node: str) -> tuple[float, float, bool, Source] | None:
    lat, lon, precise = conn.execute(
        "SELECT kit_latitude, kit_longitude, kit_precise FROM kit WHERE node = ?", (node,)
    ).fetchone()
    return None if lat is None else (lat, lon, bool(precise), "kit")


def _move(
    conn: sqlite3.Connection,
    node: str,
    new: tuple[float, float, bool, Source] | None,
    consent: bool,
    now: int,
) -> None:
    """Make ``new`` the node's current place (None: it has none), published exactly if
    ``consent`` and its coordinates are precise. The same coordinates keep their history row;
    others close it and open one."""
    current = conn.execute(
        "SELECT id, latitude, longitude, source FROM place WHERE node = ? AND until IS NULL",
        (node,),
    ).fetchone()
    if new is None:
        if current is not None:
            conn.execute("UPDATE place SET until = ? WHERE id = ?", (now, current[0]))
        return
    lat, lon, precise, source = new
    exact = int(consent and precise)
    if current is not None and (current[1], current[2]) == (lat, lon):
        conn.execute(
            "UPDATE place SET precise = ?, exact = ?, source = ? WHERE id = ?",
            (int(precise), exact, source, current[0]),
        )
        return
    if current is not None:
        conn.execute("UPDATE place SET until = ? WHERE id = ?", (now, current[0]))
    conn.execute(
        "INSERT INTO place (node, latitude, longitude, precise, exact, source, since) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (node, lat, lon, int(precise), exact, source, now),
    )
