"""The spool's quarantine as an operator sees it: refused input by reason, one entry at a time.

Opened beside a running gateway (SQLite WAL: readers never wait; a write waits for the
gateway's short transactions), never created: a path without a spool is an error. The
gateway's stores and their cursors are left as they are::

    quarantine = Quarantine(Path("/var/lib/lokaalmeten/spool.db"))
    quarantine.counts()                       # {"unknown_node": 3}
    [entry] = quarantine.entries(limit=1)
    entry.source, entry.reason, entry.payload

Replaying entries is :mod:`lokaalmeten.gateway.replay`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lokaalmeten.gateway.decode import HTTP_SOURCES
from lokaalmeten.gateway.spool import QUARANTINE_COLUMNS, Identity, migrate_quarantine
from lokaalmeten.store.sqlite import immediate_transaction

Via = Literal["mqtt", "http", "store"]
_VIAS: dict[str, Via] = {"mqtt": "mqtt", "http": "http", "store": "store"}
_BASE_COLUMNS = ("id", "received_at", "source", "reason", "detail", "payload")


class QuarantineError(Exception):
    """The spool cannot be opened or read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the quarantine."""

    id: int
    received_at: int
    source: str
    reason: str
    detail: str
    payload: bytes
    context: dict[str, Any] = field(default_factory=dict)
    spooled: frozenset[Identity] = frozenset()
    replayed_at: int | None = None

    @property
    def via(self) -> Via:
        """How it arrived: an MQTT message (source: its topic), an HTTP request (source:
        http:<path>), or a reading a store refused (source: the store's URL)."""
        stated = _VIAS.get(str(self.context.get("via")))
        if stated is not None:
            return stated
        if self.reason == "store_rejected":
            return "store"
        return "http" if self.source in HTTP_SOURCES else "mqtt"

    @property
    def replay_key(self) -> tuple[str, int, str, str]:
        """Entries with one key came from one message or request (one refusal per reason),
        and are replayed together, once."""
        digest = hashlib.sha256(self.payload).hexdigest()
        context = json.dumps({**self.context, "via": self.via}, sort_keys=True)
        return (self.source, self.received_at, digest, context)


def _entry(row: sqlite3.Row) -> Entry:
    try:
        context = json.loads(row["context"]) if row["context"] else {}
        spooled = json.loads(row["spooled"]) if row["spooled"] else []
    except json.JSONDecodeError:
        context, spooled = {}, []
    return Entry(
        id=row["id"],
        received_at=row["received_at"],
        source=row["source"],
        reason=row["reason"],
        detail=row["detail"],
        payload=bytes(row["payload"]),
        context=context if isinstance(context, dict) else {},
        spooled=frozenset((str(n), str(q), int(t)) for n, q, t in spooled),
        replayed_at=row["replayed_at"],
    )


class Quarantine:
    def __init__(self, path: Path, *, synchronous: str = "full") -> None:
        if not path.exists():
            raise QuarantineError(
                f"no spool at {path.absolute()}; the gateway makes it when it starts. "
                "Check --spool / LM_SPOOL"
            )
        if not path.is_file():
            raise QuarantineError(f"{path.absolute()} is not a file; --spool names the spool file")
        self.path = path
        try:
            # mode=rw: an existing file only, never a new one.
            conn = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=60, isolation_level=None
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA synchronous={synchronous}")
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "quarantine" not in tables:
                conn.close()
                raise QuarantineError(
                    f"{path.absolute()} is not a gateway spool (it has no quarantine table); "
                    "--spool / LM_SPOOL names the spool, not the store"
                )
            self.columns = {row[1] for row in conn.execute("PRAGMA table_info(quarantine)")}
        except sqlite3.Error as exc:
            raise QuarantineError(f"cannot read the spool {path.absolute()}: {exc}") from None
        self.conn = conn

    def _select(self) -> str:
        """The columns of an entry; those an older spool lacks read as NULL."""
        newer = [c if c in self.columns else f"NULL AS {c}" for c in QUARANTINE_COLUMNS]
        return f"SELECT {', '.join([*_BASE_COLUMNS, *newer])} FROM quarantine"

    def _where(
        self, reason: str | None, source: str | None, replayed: bool
    ) -> tuple[str, list[Any]]:
        terms = ["replayed_at IS NOT NULL" if replayed else "replayed_at IS NULL"]
        if "replayed_at" not in self.columns:
            terms = ["0" if replayed else "1"]
        values: list[Any] = []
        if reason is not None:
            terms.append("reason = ?")
            values.append(reason)
        if source is not None:
            terms.append("instr(source, ?) > 0")
            values.append(source)
        return " WHERE " + " AND ".join(terms), values

    def counts(
        self, reason: str | None = None, source: str | None = None, replayed: bool = False
    ) -> dict[str, int]:
        """Entries per reason, most first: those waiting, or those replayed."""
        where, values = self._where(reason, source, replayed)
        rows = self.conn.execute(
            f"SELECT reason, count(*) AS n FROM quarantine{where} GROUP BY reason "
            "ORDER BY n DESC, reason",
            values,
        )
        return {row[0]: row[1] for row in rows}

    def entries(
        self,
        reason: str | None = None,
        source: str | None = None,
        limit: int = 50,
        replayed: bool = False,
    ) -> list[Entry]:
        """The newest ``limit`` matching entries, oldest first."""
        where, values = self._where(reason, source, replayed)
        rows = self.conn.execute(
            f"SELECT * FROM ({self._select()}{where} ORDER BY id DESC LIMIT ?) ORDER BY id",
            [*values, limit],
        )
        return [_entry(row) for row in rows]

    def get(self, entry_id: int) -> Entry | None:
        row = self.conn.execute(f"{self._select()} WHERE id = ?", (entry_id,)).fetchone()
        return None if row is None else _entry(row)

    def waiting(self, reason: str | None = None) -> Iterator[Entry]:
        """Every entry not yet replayed (with ``reason``), oldest first."""
        where, values = self._where(reason, None, False)
        for row in self.conn.execute(f"{self._select()}{where} ORDER BY id", values):
            yield _entry(row)

    def with_mates(self, entries: Sequence[Entry]) -> list[list[Entry]]:
        """The entries in replay groups: each with the other waiting entries of its message
        or request (refused for another reason), oldest first."""
        keys = {entry.replay_key for entry in entries}
        groups: dict[tuple[str, int, str, str], list[Entry]] = {key: [] for key in keys}
        sources = {entry.source for entry in entries}
        for entry in self.waiting():
            if entry.source in sources and entry.replay_key in groups:
                groups[entry.replay_key].append(entry)
        return sorted((group for group in groups.values() if group), key=lambda g: g[0].id)

    def migrate(self) -> None:
        """Give an older spool the columns a replay writes (the gateway does it too)."""
        if set(QUARANTINE_COLUMNS) <= self.columns:
            return
        try:
            with immediate_transaction(self.conn):
                migrate_quarantine(self.conn)
        except sqlite3.Error as exc:
            raise QuarantineError(
                f"cannot update the spool {self.path.absolute()}: {exc}"
            ) from None
        self.columns |= set(QUARANTINE_COLUMNS)

    def close(self) -> None:
        self.conn.close()
