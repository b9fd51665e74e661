"""Stores, named by URL; the gateway writes to one, the server reads from one.

    >>> store = open_store("sqlite:///tmp/lokaalmeten-doc.db")
    >>> type(store).__name__
    'SQLiteStore'

URL forms:

- ``sqlite:///absolute/path.db`` or ``sqlite:relative/path.db``; query options
  ``synchronous=full|normal`` (default full) and ``timeout=SECONDS`` (query time limit).
- ``influxdb://[user[:password]@]host[:port]/database`` (InfluxDB 1.x, and 2.x/3 through
  their v1 API); ``influxdbs://`` for HTTPS; options ``timeout=SECONDS`` and
  ``changes=on|off`` (default on: keep the live stream's change log). The password may
  come from ``LM_INFLUXDB_PASSWORD`` instead of the URL.

A backend is one module with an ``open_url(url, parts, options, read_only)`` function, and one
line in :data:`BACKENDS` naming it under its URL scheme(s).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lokaalmeten.store.base import (
    Aggregate,
    AggregateQuery,
    ChangesGone,
    ChangesUnsupported,
    DaySpan,
    DaySums,
    HourlyEnergy,
    NodeSummary,
    ReadingQuery,
    Store,
    StoreError,
    StoreRejected,
    StoreTooLarge,
    StreamBatch,
    StreamRow,
    Tag,
    WriteResult,
)
from lokaalmeten.store.sqlite import SQLiteStore, sqlite_file

__all__ = [
    "Aggregate",
    "AggregateQuery",
    "ChangesGone",
    "ChangesUnsupported",
    "DaySpan",
    "DaySums",
    "HourlyEnergy",
    "NodeSummary",
    "ReadingQuery",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreRejected",
    "StoreTooLarge",
    "StreamBatch",
    "StreamRow",
    "Tag",
    "WriteResult",
    "missing_store",
    "open_store",
    "sqlite_file",
]

# URL scheme -> the module that opens it. Imported only when a URL names it, so that a
# gateway on SQLite never loads the InfluxDB client.
BACKENDS: dict[str, str] = {
    "sqlite": "lokaalmeten.store.sqlite",
    "influxdb": "lokaalmeten.store.influxdb",
    "influxdbs": "lokaalmeten.store.influxdb",
}


def missing_store(url: str) -> str | None:
    """The file a ``sqlite:`` URL names when it does not exist yet, else None (a server
    then refuses to start on it rather than serve an empty map from a typo)."""
    path = sqlite_file(url)
    return None if path is None or Path(path).exists() else path


def open_store(url: str, *, read_only: bool = False) -> Store:
    """Open the store a URL names; raises :class:`StoreError` with a fix for a bad URL."""
    parts = urlsplit(url)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    module = BACKENDS.get(parts.scheme)
    if module is None:
        raise StoreError(
            f"{url!r}: unknown store; use sqlite:///path/to/file.db or "
            "influxdb://host:8086/database"
        )
    opened: Store = importlib.import_module(module).open_url(url, parts, options, read_only)
    return opened
