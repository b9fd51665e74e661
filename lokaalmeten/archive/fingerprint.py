"""Whether the store's readings of a day changed since the archive last wrote it.

A day's fingerprint is a hash of its daily aggregates per stream: readings counted, readings
left out (flagged), sum-based value, minimum and maximum. Both stores answer those from one
query per month (SQLite from its hourly roll-ups, InfluxDB with ``GROUP BY time(1d)``), so
a nightly run checks every archived day without reading a single raw row. A late reading
(stored afterwards with an old time) changes its day's count, so the day is rewritten;
InfluxDB's overwrite of a reading with a new value changes the value, minimum or maximum.
Change log positions would serve SQLite only: InfluxDB keeps no order of arrival.

What the fingerprint cannot see, a rebuild with ``--rebuild`` does: a changed sensor name on
an InfluxDB point with the same value, or a kit's place moved in the node directory (the
files carry the published place at the time they were written, as the export does).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from lokaalmeten.archive.layout import DAY, month_of, next_month
from lokaalmeten.store import AggregateQuery, Store

# (day start, quantity) -> (hex digest of that quantity's streams on that day, readings)
Fingerprints = dict[tuple[int, str], tuple[str, int]]


def fingerprints(store: Store, start: int, end: int) -> Fingerprints:
    """The fingerprint of every (day, quantity) with readings in the days ``[start, end)``."""
    parts: dict[tuple[int, str], list[str]] = defaultdict(list)
    counts: dict[tuple[int, str], int] = defaultdict(int)
    month = month_of(start)
    while month < end:
        query = AggregateQuery(max(start, month), min(end, next_month(month)), DAY)
        for row in store.aggregates(query):
            if row.readings == 0 and row.excluded == 0:
                continue
            counts[(row.start, row.quantity)] += row.readings + row.excluded
            # repr: the exact float, so that any change of a value shows.
            parts[(row.start, row.quantity)].append(
                f"{row.node}\t{row.readings}\t{row.excluded}\t{row.value!r}\t"
                f"{row.minimum!r}\t{row.maximum!r}"
            )
        month = next_month(month)
    return {
        key: (hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest(), counts[key])
        for key, lines in parts.items()
    }


def combined(parts: list[str]) -> str:
    """One fingerprint for several (a day's quantities, a month's days)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
