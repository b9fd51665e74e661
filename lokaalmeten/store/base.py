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
from collections.abc import Generator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import NamedTuple

from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.protocol.quantities import QUANTITIES, Aggregation
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


class ChangesUnsupported(StoreError):
    """The backend keeps no change log, so it cannot say exactly what was stored since."""


class ChangesGone(StoreError):
    """The change position asked from is older than what the change log still holds."""


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
    descending: bool = False  # time order within a (node, quantity) stream; cursor follows it

    def window(self, node: str, quantity: str, start: int, end: int) -> tuple[int, int] | None:
        """The time span ``[start, end)`` of one (node, quantity) stream left after the cursor,
        or None when the whole stream lies before it: the keyset cursor, for every backend
        that reads stream by stream in identity order.

        >>> q = ReadingQuery(0, 100, 10, after=("kit-1", "pm25", 40))
        >>> q.window("kit-1", "pm10", 0, 100), q.window("kit-1", "pm25", 0, 100)
        (None, (41, 100))
        >>> q.window("kit-2", "pm10", 0, 100)
        (0, 100)
        """
        if self.after is None or (node, quantity) > self.after[:2]:
            return start, end
        if (node, quantity) < self.after[:2]:
            return None
        if self.descending:
            return start, min(end, self.after[2])
        return max(start, self.after[2] + 1), end


@dataclass(frozen=True, slots=True)
class AggregateQuery:
    """Windows of ``window`` seconds (3600 or 86400, UTC-aligned) between ``start`` and ``end``.

    A window's ``valid_hours`` counts its hours holding at least the node's threshold of
    readings (``thresholds`` by node, else ``default_threshold``).
    """

    start: int
    end: int
    window: int
    nodes: tuple[str, ...] = ()
    quantities: tuple[str, ...] = ()
    default_threshold: int = 19
    thresholds: Mapping[str, int] = field(default_factory=dict)
    # A keyset cursor, (node, quantity, window start) of the last window of the page before,
    # and at most ``limit`` windows (None: all): a deep page reads only its own windows.
    after: tuple[str, str, int] | None = None
    limit: int | None = None

    def threshold(self, node: str) -> int:
        return self.thresholds.get(node, self.default_threshold)

    def span(self, node: str, quantity: str) -> tuple[int, int] | None:
        """The window starts ``[start, end)`` of one stream left after the cursor, or None
        when the whole stream lies before it.

        >>> q = AggregateQuery(0, 86400, 3600, after=("kit-1", "pm25", 7200))
        >>> q.span("kit-1", "pm10"), q.span("kit-1", "pm25"), q.span("kit-2", "pm10")
        (None, (10800, 86400), (0, 86400))
        """
        if self.after is None or (node, quantity) > self.after[:2]:
            return self.start, self.end
        if (node, quantity) < self.after[:2]:
            return None
        # The next window's start: a store that groups by aligned windows (InfluxDB's GROUP
        # BY time) would make a part of the cursor's window from a start inside it.
        return max(self.start, self.after[2] + self.window), self.end


class Aggregate(NamedTuple):
    """One window (a tuple: stores build hundreds of thousands of them per request).

    Only readings without a flag in ``EXCLUDED_FROM_AGGREGATES`` count: ``readings``,
    ``value``, ``minimum``, ``maximum`` and ``valid_hours`` are of those; ``excluded`` says
    how many were left out. ``value`` is the window's value by the quantity's aggregation
    (:attr:`method`); None for a quantity without one, or when every reading was left out.
    """

    node: str
    quantity: str
    start: int  # window start, epoch seconds
    readings: int
    value: float | None
    minimum: float | None
    maximum: float | None
    valid_hours: int
    excluded: int = 0

    @property
    def method(self) -> Aggregation:
        return QUANTITIES[self.quantity].aggregation


class HourlyEnergy(NamedTuple):
    """A stream's hours from ``start`` on, dense (an hour without readings holds 0, 0.0):
    the readings counted in each hour and the sum of their energies 10^(L/10), from which
    any period's equivalent level is 10·log10(energy / readings)."""

    start: int  # the first hour, epoch seconds
    counts: list[int]
    energies: list[float]


class DaySpan(NamedTuple):
    """A day (say a local one) as UTC hours: its first hour (epoch seconds) and, per period,
    the (first, end) hour offsets from it that make the period up."""

    start: int
    periods: tuple[tuple[tuple[int, int], ...], ...]


# A node's day: (node, its index in the spans asked for, sums) where sums holds, per period
# one after the other, four numbers: readings counted, their energy sum, valid hours, and
# valid hours whose energy / readings is above the level asked for. A plain tuple: a year of
# 100 nodes is 36,500 of them.
DaySums = tuple[str, int, tuple[float, ...]]


# One reading of a stream: (time, value, tag); the tag stands for a (sensor model, flags)
# pair, which hardly ever changes within a stream, so exports format it once, not per row.
StreamRow = tuple[int, float, int]
Tag = tuple[str | None, int]


class StreamBatch(NamedTuple):
    """Consecutive readings of one (node, quantity) stream, in time order."""

    node: str
    quantity: str
    rows: list[StreamRow]
    tags: Mapping[int, Tag]  # every tag in rows -> (sensor model or None, flags)


@dataclass(frozen=True, slots=True)
class WriteResult:
    received: int  # readings in the batch
    stored: int  # readings new to the store (the rest were repeats of stored ones)


class Store(ABC):
    """A place readings are kept. Backends: SQLite and InfluxDB 1.x, each registered by its
    URL scheme in :mod:`lokaalmeten.store`."""

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
    def spans(self, nodes: tuple[str, ...] = ()) -> dict[tuple[str, str], tuple[int, int]]:
        """(first, last) reading time of every (node, quantity) stream."""

    @abstractmethod
    def count(self, query: ReadingQuery) -> int:
        """How many readings the query matches (its limit and cursor ignored)."""

    def estimate(self, query: ReadingQuery) -> int:
        """At least as many readings as the query matches (its limit and cursor ignored),
        cheaply: a backend answers from its roll-ups or index, never by reading the rows, so
        that a caller can refuse a scan before it starts. Exact by default."""
        return self.count(query)

    @abstractmethod
    def streams(
        self, nodes: tuple[str, ...] = (), quantities: tuple[str, ...] = ()
    ) -> list[tuple[str, str]]:
        """Every (node, quantity) with readings, in that order; empty filters match all."""

    @abstractmethod
    def aggregates(self, query: AggregateQuery) -> list[Aggregate]:
        """Count, value (by the quantity's aggregation), min, max, valid hours and readings
        excluded per window, ordered by node, quantity, start, after the query's cursor and
        at most its limit. A window whose readings were all excluded is listed with no
        value."""

    @abstractmethod
    def hourly_energy(
        self, nodes: tuple[str, ...], quantity: str, start: int, end: int
    ) -> dict[str, HourlyEnergy]:
        """The hourly counts and energy sums of ``quantity`` (an energetic-mean one) for each
        of ``nodes`` that has readings of it, over the whole UTC hours from ``start``
        (rounded down to an hour) to ``end`` (exclusive, rounded up); flagged readings left
        out as in :meth:`aggregates`."""

    def day_sums(
        self,
        nodes: tuple[str, ...],
        quantity: str,
        days: Sequence[DaySpan],
        thresholds: Mapping[str, int],
        default_threshold: int,
        above: float,
    ) -> list[DaySums]:
        """Per node (of ``nodes``; all when empty) and day with a counted reading, by node then
        day: each period's sums from the hourly counts and energies. An hour is valid with
        its node's threshold of readings; it is above when its energy / readings exceeds
        ``above``. By default from :meth:`hourly_energy`; a backend may answer faster."""
        if not days:
            return []
        last = max(days, key=lambda d: d.start)
        end = last.start + 3600 * max(b for period in last.periods for _, b in period)
        found: list[DaySums] = []
        for node, hourly in sorted(
            self.hourly_energy(nodes, quantity, min(d.start for d in days), end).items()
        ):
            found += _day_sums(node, hourly, days, thresholds.get(node, default_threshold), above)
        return found

    @abstractmethod
    def latest(self, nodes: tuple[str, ...] = ()) -> list[Reading]:
        """The newest reading of every (node, quantity), in identity order."""

    def stream(
        self, query: ReadingQuery, batch: int = 10_000
    ) -> Generator[StreamBatch, None, None]:
        """Every reading the query matches (its limit ignored), in identity order, as
        batches of at most ``batch`` readings: memory stays bounded whatever the total."""
        after = query.after
        tags: dict[int, Tag] = {}
        codes: dict[Tag, int] = {}
        while True:
            page = self.readings(
                ReadingQuery(
                    query.start,
                    query.end,
                    batch,
                    query.nodes,
                    query.quantities,
                    after,
                    query.descending,
                )
            )
            if not page:
                return
            key = (page[0].node, page[0].quantity)
            run: list[StreamRow] = []
            for reading in page:
                if (reading.node, reading.quantity) != key:
                    yield StreamBatch(key[0], key[1], run, tags)
                    key, run = (reading.node, reading.quantity), []
                tag = codes.get((reading.sensor, reading.flags))
                if tag is None:
                    tag = codes[(reading.sensor, reading.flags)] = len(codes)
                    tags[tag] = (reading.sensor, reading.flags)
                run.append((reading.time, reading.value, tag))
            yield StreamBatch(key[0], key[1], run, tags)
            if len(page) < batch:
                return
            after = page[-1].identity

    def stream_each(
        self,
        streams: Sequence[tuple[str, str]],
        query: ReadingQuery,
        batch: int = 10_000,
        each: int | None = None,
    ) -> Generator[StreamBatch, None, None]:
        """The readings of each of ``streams`` (node, quantity) in the query's range, after
        its cursor, one stream after the other in the order given (its node and quantity
        filters and limit ignored), at most ``each`` per stream when given: a page over many
        streams in one call. By default one :meth:`stream` per stream; a backend with round
        trips (InfluxDB) answers in one."""
        for node, quantity in streams:
            left = each
            one = replace(query, nodes=(node,), quantities=(quantity,))
            with closing(self.stream(one, batch if each is None else min(batch, each))) as chunks:
                for chunk in chunks:
                    if left is None:
                        yield chunk
                        continue
                    if chunk.rows[:left]:
                        yield chunk._replace(rows=chunk.rows[:left])
                    left -= len(chunk.rows)
                    if left <= 0:
                        break

    def counts(self, query: ReadingQuery) -> dict[tuple[str, str], int]:
        """How many readings the query matches in each (node, quantity) stream with any (its
        limit and cursor ignored), by stream. By default one :meth:`count` per stream."""
        found = {
            (node, quantity): self.count(replace(query, nodes=(node,), quantities=(quantity,)))
            for node, quantity in self.streams(query.nodes, query.quantities)
        }
        return {key: n for key, n in found.items() if n}

    def changes(
        self, after: int, nodes: tuple[str, ...], quantities: tuple[str, ...], limit: int
    ) -> tuple[list[tuple[int, Reading]], int]:
        """Readings stored after change position ``after``, in the order they were stored
        (not by their time: a back-dated reading stored now comes now), with their positions;
        at most ``limit`` of them, and the position to ask from next. Positions only grow, so
        asking again from the last one seen misses and repeats nothing. A ``after`` older
        than the change log still holds raises :class:`ChangesGone`; a backend without a
        change log raises :class:`ChangesUnsupported`."""
        raise ChangesUnsupported(f"{type(self).__name__} keeps no change log")

    def change_head(self) -> int:
        """The position of the newest change: a new subscriber starts here."""
        raise ChangesUnsupported(f"{type(self).__name__} keeps no change log")

    # Whether change_point() answers from this machine at once (a local file), so that an
    # event loop may ask it; else it waits on the network (a thread must ask).
    change_point_local = False

    def change_point(self) -> object | None:
        """A value that differs from any earlier one once a write has changed what this store
        answers (equal values: nothing visible changed in between), cheaply, so that a
        caller may keep an answer made after reading it while it stays the same; None when
        the backend cannot tell (nothing may be kept)."""
        return None

    def change_known(self, position: int) -> bool:
        """Whether ``position`` (at most the head, and not older than the log holds) is one
        this store handed out. True by default: a backend whose positions are consecutive
        handed out every one up to its head."""
        return True

    @abstractmethod
    def legacy_node_meta(self) -> dict[str, NodeMeta]:
        """Node metadata an older lokaalmeten kept in this store (the node directory holds it
        now; the gateway moves it there once), by node id; none in a store made since."""

    @abstractmethod
    def forget_legacy_node_meta(self) -> None:
        """Delete that old node metadata, once the node directory has it."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    def ping(self) -> None:
        """Raise StoreError when the store cannot be reached (a server's store can be down
        while nothing is written; a file opened at start has nothing more to check)."""
        return None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _day_sums(
    node: str, hourly: HourlyEnergy, days: Sequence[DaySpan], threshold: int, above: float
) -> list[DaySums]:
    """Each day's period sums from running totals: a period's sum is two look-ups."""
    counts, energies = hourly.counts, hourly.energies
    valid = [n >= threshold for n in counts]
    loud = [ok and e > n * above for ok, n, e in zip(valid, counts, energies, strict=True)]
    totals = [
        [0, *accumulate(column)] for column in (counts, energies, valid, loud)
    ]  # totals[k][i]: the sum of column k's first i hours
    found = []
    for index, day in enumerate(days):
        base = (day.start - hourly.start) // 3600
        sums: list[float] = []
        for period in day.periods:
            sums += (sum(total[base + b] - total[base + f] for f, b in period) for total in totals)
        if any(sums[0::4]):
            found.append((node, index, tuple(sums)))
    return found
