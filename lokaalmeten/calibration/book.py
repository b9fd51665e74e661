"""The calibration book: a SQLite file (LM_CALIBRATION) of imported reference series and of
every co-location fit made, each fit versioned by a digest of its inputs::

    book = CalibrationBook(Path("/var/lib/lokaalmeten/calibration.db"))
    book.import_file(read_reference(Path("NL10636.json")))
    book.record(fit)            # False: this exact fit (same inputs) is already in the book
    book.current("kit-1", "pm25")

Fits are never changed or deleted: a fit over new data (or a revised reference value, or
another κ) has another digest and becomes a new version beside the old ones, and the newest
is the one the server applies. The readings store is not touched here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lokaalmeten.calibration.reference import ReferenceFile, Station
from lokaalmeten.store.sqlite import connect_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS station (
    number TEXT PRIMARY KEY, name TEXT NOT NULL, latitude REAL NOT NULL, longitude REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reference (
    station TEXT NOT NULL, quantity TEXT NOT NULL, hour INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (station, quantity, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fit (
    id INTEGER PRIMARY KEY,
    version TEXT NOT NULL UNIQUE,
    node TEXT NOT NULL, quantity TEXT NOT NULL, station TEXT NOT NULL, distance_m REAL NOT NULL,
    method TEXT NOT NULL, kappa REAL NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    slope REAL NOT NULL, "offset" REAL NOT NULL, n INTEGER NOT NULL, r2 REAL NOT NULL,
    rmse REAL NOT NULL, made INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fit_stream ON fit (node, quantity, id);
"""


class BookError(ValueError):
    """The calibration book cannot be used; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Fit:
    """reference = slope · (humidity-corrected kit hourly mean) + offset, over [start, end)."""

    version: str  # digest of the inputs (see fit.fit_version)
    node: str
    quantity: str
    station: str
    distance_m: float
    method: str  # the humidity correction and its version the kit values went through
    kappa: float
    start: int  # first paired hour
    end: int  # end of the last paired hour
    slope: float
    offset: float
    n: int  # paired hours
    r2: float
    rmse: float  # µg/m³, of the calibrated values against the reference
    made: int  # when the fit was first made, epoch seconds

    def apply(self, corrected: float) -> float:
        return self.slope * corrected + self.offset


@dataclass(frozen=True, slots=True)
class ImportCount:
    stations: int
    new: int  # values not in the book before
    changed: int  # values the source has revised (Luchtmeetnet validates after the fact)
    unchanged: int


_FIT_COLUMNS = ", ".join(f'"{name}"' for name in Fit.__dataclass_fields__)


class CalibrationBook:
    """The book, opened for writing (``read_only=False`` makes a missing file) or reading."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            if read_only:
                if not path.exists():
                    raise BookError(f"no calibration book at {path.absolute()}")
                self._conn = connect_file(path, "ro", timeout=10)
                self._conn.execute("PRAGMA query_only=1")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = connect_file(path, "rwc", timeout=10)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise BookError(f"cannot open the calibration book {path.absolute()}: {exc}") from None

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []  # a file not made as a book (yet): nothing in it
                raise BookError(f"cannot read the calibration book {self.path}: {exc}") from None
            except sqlite3.DatabaseError as exc:
                raise BookError(f"{self.path} is not a calibration book: {exc}") from None

    def import_file(self, reference: ReferenceFile) -> ImportCount:
        """Stations and values of one file, in one transaction; a repeated import changes
        nothing, a revised value replaces the old one (and later fits see it)."""
        new = changed = unchanged = 0
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for station in reference.stations:
                    conn.execute(
                        "INSERT INTO station VALUES (?, ?, ?, ?) ON CONFLICT (number) DO UPDATE "
                        "SET name = excluded.name, latitude = excluded.latitude, "
                        "longitude = excluded.longitude",
                        (station.number, station.name, station.latitude, station.longitude),
                    )
                for value in reference.values:
                    old = conn.execute(
                        "SELECT value FROM reference WHERE station = ? AND quantity = ? "
                        "AND hour = ?",
                        (value.station, value.quantity, value.hour),
                    ).fetchone()
                    if old is None:
                        new += 1
                    elif old[0] == value.value:
                        unchanged += 1
                        continue
                    else:
                        changed += 1
                    conn.execute(
                        "INSERT OR REPLACE INTO reference VALUES (?, ?, ?, ?)",
                        (value.station, value.quantity, value.hour, value.value),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return ImportCount(len(reference.stations), new, changed, unchanged)

    def stations(self) -> list[Station]:
        return [Station(*row) for row in self._rows("SELECT * FROM station ORDER BY number")]

    def series(self) -> list[tuple[str, str, int, int, int]]:
        """(station, quantity, first hour, last hour, hours) of every imported series."""
        return [
            (row[0], row[1], row[2], row[3], row[4])
            for row in self._rows(
                "SELECT station, quantity, MIN(hour), MAX(hour), COUNT(*) FROM reference "
                "GROUP BY station, quantity ORDER BY station, quantity"
            )
        ]

    def reference(self, station: str, quantity: str, start: int, end: int) -> dict[int, float]:
        """The station's hourly values by hour start, for hours in [start, end)."""
        rows = self._rows(
            "SELECT hour, value FROM reference WHERE station = ? AND quantity = ? "
            "AND hour >= ? AND hour < ? ORDER BY hour",
            (station, quantity, start, end),
        )
        return {hour: value for hour, value in rows}

    def record(self, fit: Fit) -> bool:
        """Keep a fit; False if a fit of the same version (the same inputs) is already kept."""
        fields = asdict(fit)
        with self._lock:
            cursor = self._conn.execute(
                f"INSERT OR IGNORE INTO fit ({_FIT_COLUMNS}) "
                f"VALUES ({', '.join('?' * len(fields))})",
                tuple(fields.values()),
            )
            return cursor.rowcount == 1

    def fits(self, node: str | None = None, quantity: str | None = None) -> list[Fit]:
        """Every version kept, oldest first, of one stream or of all."""
        where, params = [], []
        if node is not None:
            where.append("node = ?")
            params.append(node)
        if quantity is not None:
            where.append("quantity = ?")
            params.append(quantity)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return [
            Fit(*row)
            for row in self._rows(
                f"SELECT {_FIT_COLUMNS} FROM fit{clause} ORDER BY node, quantity, id", params
            )
        ]

    def fit(self, version: str) -> Fit | None:
        rows = self._rows(f"SELECT {_FIT_COLUMNS} FROM fit WHERE version = ?", (version,))
        return Fit(*rows[0]) if rows else None

    def current(self, node: str, quantity: str) -> Fit | None:
        """The newest fit of a stream: the one applied."""
        rows = self._rows(
            f"SELECT {_FIT_COLUMNS} FROM fit WHERE node = ? AND quantity = ? "
            "ORDER BY id DESC LIMIT 1",
            (node, quantity),
        )
        return Fit(*rows[0]) if rows else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
