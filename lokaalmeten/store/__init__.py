"""Stores, named by URL; the gateway writes to one, the server reads from one.

    >>> store = open_store("sqlite:///tmp/lokaalmeten-doc.db")
    >>> type(store).__name__
    'SQLiteStore'

URL forms:

- ``sqlite:///absolute/path.db`` or ``sqlite:relative/path.db``; query options
  ``synchronous=full|normal`` (default full) and ``timeout=SECONDS`` (query time limit).
- ``influxdb://[user[:password]@]host[:port]/database`` (InfluxDB 1.x, and 2.x/3 through
  their v1 API); ``influxdbs://`` for HTTPS; option ``timeout=SECONDS``. The password may
  come from ``LM_INFLUXDB_PASSWORD`` instead of the URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from lokaalmeten.store.base import (
    Aggregate,
    AggregateQuery,
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
from lokaalmeten.store.sqlite import SQLiteStore

__all__ = [
    "Aggregate",
    "AggregateQuery",
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
]


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


def missing_store(url: str) -> str | None:
    """The file a ``sqlite:`` URL names when it does not exist yet, else None (a server
    then refuses to start on it rather than serve an empty map from a typo)."""
    path = sqlite_file(url)
    return None if path is None or Path(path).exists() else path


def open_store(url: str, *, read_only: bool = False) -> Store:
    """Open the store a URL names; raises :class:`StoreError` with a fix for a bad URL."""
    parts = urlsplit(url)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if parts.scheme == "sqlite":
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
    if parts.scheme in ("influxdb", "influxdbs"):
        return _open_influxdb(url, parts, options)
    raise StoreError(
        f"{url!r}: unknown store; use sqlite:///path/to/file.db or influxdb://host:8086/database"
    )


def _open_influxdb(url: str, parts: SplitResult, options: dict[str, str]) -> Store:
    from lokaalmeten.store.influxdb import InfluxDBStore

    database = unquote(parts.path.strip("/"))
    if not parts.hostname or not database or "/" in database:
        raise StoreError(
            f"{url!r}: write influxdb://[user[:password]@]host[:port]/database, "
            "e.g. influxdb://127.0.0.1:8086/lokaalmeten"
        )
    unknown = set(options) - {"timeout"}
    if unknown:
        raise StoreError(
            f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}; influxdb URLs take timeout"
        )
    try:
        port = parts.port or 8086
        timeout = float(options.get("timeout", "30"))
    except ValueError:
        raise StoreError(f"{url!r}: the port and timeout must be numbers") from None
    scheme = "https" if parts.scheme == "influxdbs" else "http"
    password = unquote(parts.password) if parts.password else os.environ.get("LM_INFLUXDB_PASSWORD")
    return InfluxDBStore(
        f"{scheme}://{parts.hostname}:{port}",
        database,
        username=unquote(parts.username) if parts.username else None,
        password=password,
        timeout=timeout,
    )
