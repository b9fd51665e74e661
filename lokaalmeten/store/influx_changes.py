"""The InfluxDB store's change log: what was stored, in the order it was stored.

InfluxDB 1.x orders points by their time only, and a reading's time says nothing of when it
arrived (a kit's backlog after an outage comes days late). So the writer records each batch
a second time, in retention policy :data:`POLICY`, under change positions it hands out:
nanoseconds, ``max(now, last + 1)`` for a batch's first reading and one more for each next,
so that they only grow, also across restarts (the writer goes on from the newest position in
the log) and a clock set back.

A batch is one point of measurement ``lm_change`` (or a few, when it is larger than
:data:`CHUNK_BYTES`, each written and acknowledged before the next): its time the position
of its last reading, its one string field ``r`` a JSON array ``[prev, [reading, ...]]``,
``prev`` the position before its first reading, each reading ``[node, quantity, time,
value, flags, sensor]``. One point with one field, because InfluxDB may show some points
(and some fields) of a write before the others while it is being written, but never part of
a field's value: a reader sees a batch whole or not at all, so it never steps past a reading
it has not seen. And one point costs InfluxDB far less than a point per reading (measured
in docs/benchmarks.md, store_write). Filters are applied when reading.

Retention drops whole days of the log, oldest first, so the oldest point kept says from
where on the log is complete: after its ``prev``.

Exact for one writer per database (the gateway's single store writer): with several writing
at once, one's batch with higher positions can become visible before another's with lower
ones, which a reader that already passed them then skips.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from lokaalmeten.readings import Reading

POLICY = "lm_changes"
KEPT = "7 days"
_DURATION = "7d"
_CHANGES = f'"{POLICY}"."lm_change"'
# InfluxDB 1.x refuses a string field longer than 64 KiB; leave room for the escapes.
CHUNK_BYTES = 48_000
# Points read per look: FIRST_READ, then four times as many while the page is not full, at
# most MOST_READ in all (batches, whatever the filters).
FIRST_READ = 2
MOST_READ = 200

TURNED_OFF = "this store's URL says changes=off: it keeps no change log"
NEVER_WRITTEN = (
    "no change log in this database: the gateway writing it keeps none (changes=off in its "
    "store URL) or has written nothing since it began to"
)


def create_policy(database: str) -> str:
    """The change log's retention policy; a no-op when it exists with these settings (an
    operator who changed its duration gets an error from InfluxDB, reported, not hidden)."""
    name = '"' + database.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f'CREATE RETENTION POLICY "{POLICY}" ON {name} DURATION {_DURATION} REPLICATION 1'


def chunks(readings: Sequence[Reading], first: int, before: int) -> Iterator[bytes]:
    """The batch as change points (precision ns), its readings at positions ``first``,
    ``first + 1``, ..., each point at most :data:`CHUNK_BYTES` of JSON."""
    rows: list[str] = []
    size = 0
    prev = before
    position = first - 1
    for r in readings:
        row = json.dumps([r.node, r.quantity, r.time, r.value, r.flags, r.sensor])
        if rows and size + len(row) > CHUNK_BYTES:
            yield _point(prev, rows, position)
            prev, rows, size = position, [], 0
        rows.append(row)
        size += len(row) + 1
        position += 1
    if rows:
        yield _point(prev, rows, position)


def _point(prev: int, rows: list[str], last: int) -> bytes:
    text = f"[{prev},[{','.join(rows)}]]".replace("\\", "\\\\").replace('"', '\\"')
    return f'lm_change r="{text}" {last}'.encode()


def newest() -> str:
    """The newest point: its time is the head, the newest position handed out."""
    return f'SELECT "r" FROM {_CHANGES} ORDER BY time DESC LIMIT 1'


def oldest() -> str:
    return f'SELECT "r" FROM {_CHANGES} ORDER BY time ASC LIMIT 1'


def after(position: int, count: int) -> str:
    """The points holding positions after ``position`` (the first may hold it too)."""
    return f'SELECT "r" FROM {_CHANGES} WHERE time > {position} ORDER BY time ASC LIMIT {count}'


def holding(position: int) -> str:
    """The point that holds ``position``, if there is one (the first at or after it)."""
    return f'SELECT "r" FROM {_CHANGES} WHERE time >= {position} ORDER BY time ASC LIMIT 1'


def rows(series: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    """(last position, decoded [prev, readings]) of each point of a statement's answer."""
    return [(int(last), json.loads(text)) for one in series for last, text in one["values"]]


def head(series: list[dict[str, Any]]) -> int:
    """The newest position, from :func:`newest` (0 for an empty log)."""
    return int(series[0]["values"][0][0]) if series else 0


def complete_after(series: list[dict[str, Any]], newest: int) -> int:
    """The position after which the log holds every change, from :func:`oldest` (an empty
    log: after the head)."""
    found = rows(series)
    return int(found[0][1][0]) if found else newest


def first_position(last: int, batch: Any) -> int:
    return last - len(batch[1]) + 1


def readings(
    points: list[tuple[int, Any]], after: int, nodes: Sequence[str], quantities: Sequence[str]
) -> Iterator[tuple[int, Reading]]:
    """The readings of ``points`` past ``after`` that pass the filters, with positions."""
    for last, (_, found) in points:
        position = last - len(found)
        for node, quantity, moment, value, flags, sensor in found:
            position += 1
            if position <= after:
                continue
            if (nodes and node not in nodes) or (quantities and quantity not in quantities):
                continue
            yield position, Reading(node, quantity, moment, float(value), sensor, flags)
