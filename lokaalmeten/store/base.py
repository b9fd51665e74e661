"""The store interface: what the gateway writes through and the server reads from.

A backend is chosen by URL (see :func:`lokaalmeten.store.open_store`). The gateway calls
:meth:`Store.write` with batches; it returns only once the batch is durable, so that the
caller may then acknowledge it upstream. The server calls the query methods, which are
always bounded::

    store = open_store("sqlite:///var/lib/lokaalmeten/readings.db")
    store.write([Reading("kit-1", "pm25", 1764324000, 7.5, "SDS011")])
    rows = store.readings(ReadingQuery(start=1764320000, end=1764327600, limit=100))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from lokaalmeten.readings import Reading


class StoreError(Exception):
    """The store could not carry out a request; the message says what to fix.

    Plain StoreErrors are taken as passing (the store is down, busy, out of disk): the
    gateway retries the same batch with back-off. The subclasses say otherwise.
    """


class StoreRejected(StoreError):
    """The store refused the data itself (e.g. InfluxDB's 400); sending it again won't help."""


class StoreTooLarge(StoreError):
    """The batch is larger than the store accepts in one request (e.g. HTTP 413)."""


@dataclass(frozen=True, slots=True)
class NodeSummary:
    node: str
    quantities: tuple[str, ...]
    sensors: tuple[str, ...]
    first_time: int
    last_time: int
    readings: int


@dataclass(frozen=True, slots=True)
class ReadingQuery:
    """A bounded request for raw readings, ordered by (node, quantity, time).

    ``start`` is inclusive and ``end`` exclusive (epoch seconds). ``after`` is a keyset
    cursor: the identity of the last reading of the previous page.
    """

    start: int
    end: int
    limit: int
    nodes: tuple[str, ...] = ()
    quantities: tuple[str, ...] = ()
    after: tuple[str, str, int] | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    received: int  # readings in the batch
    stored: int  # readings new to the store (the rest were repeats of stored ones)


class Store(ABC):
    """A place readings are kept. Backends: SQLite now; InfluxDB follows."""

    url: str

    @abstractmethod
    def write(self, readings: Sequence[Reading]) -> WriteResult:
        """Store a batch atomically and durably; repeats of stored readings are ignored."""

    @abstractmethod
    def nodes(self) -> list[NodeSummary]:
        """Every node with at least one reading."""

    @abstractmethod
    def readings(self, query: ReadingQuery) -> list[Reading]:
        """At most ``query.limit`` readings matching the query, in identity order."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
