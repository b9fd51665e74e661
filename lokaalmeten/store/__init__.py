"""Stores, named by URL; the gateway writes to one, the server reads from one.

    >>> store = open_store("sqlite:///tmp/lokaalmeten-doc.db")
    >>> type(store).__name__
    'SQLiteStore'

URL forms:

- ``sqlite:///absolute/path.db`` or ``sqlite:relative/path.db``; query options
  ``synchronous=full|normal`` (default full) and ``timeout=SECONDS`` (query time limit).
- ``influxdb://user:pass@host:8086/database`` (InfluxDB 1.x): not yet available.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from lokaalmeten.store.base import NodeSummary, ReadingQuery, Store, StoreError, WriteResult
from lokaalmeten.store.sqlite import SQLiteStore

__all__ = [
    "NodeSummary",
    "ReadingQuery",
    "SQLiteStore",
    "Store",
    "StoreError",
    "WriteResult",
    "open_store",
]


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
        path = unquote(parts.path)
        if path.startswith("//"):  # sqlite:////abs/path.db, as SQLAlchemy writes it
            path = "/" + path.lstrip("/")
        if not path or path == "/":
            raise StoreError(f"{url!r}: name the database file, e.g. sqlite:///var/lib/lm.db")
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
    if parts.scheme in ("influxdb", "influxdb2"):
        raise StoreError(f"{url!r}: the InfluxDB stores are not available in this version yet")
    raise StoreError(
        f"{url!r}: unknown store; use sqlite:///path/to/file.db "
        "(InfluxDB follows as influxdb://host:8086/database)"
    )
