"""The InfluxDB store's change log: what was stored, in the order it was stored.

InfluxDB 1.x orders points by their time only, and a reading's time says nothing of when it
arrived (a kit's backlog after an outage comes days late). So the writer records each batch
a second time, in retention policy :data:`POLICY`, as points of measurement ``lm_change``
whose *time* is the change position: nanoseconds the writer hands out, ``max(now, last + 1)``,
one per reading, so that they only grow, also across restarts (the writer goes on from the
newest position in the log) and a clock set back. Tags ``node`` and ``quantity`` (a
subscriber's filters use the index); fields ``value``, ``flags``, ``at`` (the reading's
time, seconds) and ``sensor``.

A batch's first point also carries ``prev``, the position before it. After each batch is
acknowledged the writer adds a head mark (measurement ``lm_change_head``, time: the batch's
last position, field ``n``: its size). A reader reads the newest mark first and never goes
past it: InfluxDB may show part of a batch while it is being written, but every batch up to
the mark is whole. Retention drops whole days of the log, oldest first, so the oldest change
kept says from where on the log is complete: from its ``prev`` when it begins a batch, else
from just before it (a batch whose first points were dropped).

Exact for one writer per database (the gateway's single store writer): with several writing
at once, one's mark can pass another's batch still in flight, which a reader may then skip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lokaalmeten.readings import Reading

POLICY = "lm_changes"
KEPT = "7 days"
_DURATION = "7d"
_CHANGES = f'"{POLICY}"."lm_change"'
_MARKS = f'"{POLICY}"."lm_change_head"'

TURNED_OFF = "this store's URL says changes=off: it keeps no change log"
NEVER_WRITTEN = (
    "no change log in this database: the gateway writing it keeps none (changes=off in its "
    "store URL) or has written nothing since it began to"
)

_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\="})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": r"\\"})


def create_policy(database: str) -> str:
    """The change log's retention policy; a no-op when it exists with these settings (an
    operator who changed its duration gets an error from InfluxDB, reported, not hidden)."""
    name = '"' + database.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f'CREATE RETENTION POLICY "{POLICY}" ON {name} DURATION {_DURATION} REPLICATION 1'


def lines(readings: Sequence[Reading], first: int, before: int) -> bytes:
    """The batch as change points at positions ``first``, ``first + 1``, ... (precision ns)."""
    rows = []
    for offset, r in enumerate(readings):
        tags = (
            f"node={r.node.translate(_TAG_ESCAPES)},quantity={r.quantity.translate(_TAG_ESCAPES)}"
        )
        fields = f"value={r.value!r},flags={r.flags}i,at={r.time}i"
        if r.sensor:
            fields += f',sensor="{r.sensor.translate(_STRING_ESCAPES)}"'
        if not offset:
            fields += f",prev={before}i"
        rows.append(f"lm_change,{tags} {fields} {first + offset}")
    return "\n".join(rows).encode()


def head_line(last: int, count: int) -> bytes:
    return f"lm_change_head n={count}i {last}".encode()


def newest_statements() -> list[str]:
    """The newest mark, and the newest change (its batch may lack a mark: a writer stopped
    between the two writes)."""
    return [f'SELECT last("n") FROM {_MARKS}', f'SELECT last("value") FROM {_CHANGES}']


def mark_statements() -> list[str]:
    """The newest mark (the head), then the oldest change kept with its ``prev``."""
    return [
        f'SELECT last("n") FROM {_MARKS}',
        f'SELECT "prev", "value" FROM {_CHANGES} ORDER BY time ASC LIMIT 1',
    ]


def complete_from(oldest: list[dict[str, Any]], head: int) -> int:
    """The position after which the log holds every change, from :func:`mark_statements`'
    oldest change (none: the log is empty, complete after the head)."""
    if not oldest:
        return head
    position, prev, _ = oldest[0]["values"][0]
    return int(prev) if prev is not None else int(position) - 1


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def at(position: int) -> str:
    """The change at ``position``, if there is one."""
    return f'SELECT "value" FROM {_CHANGES} WHERE time = {position}'


def select(after: int, nodes: Sequence[str], quantities: Sequence[str], limit: int) -> str:
    where = [f"time > {after}"]
    for key, wanted in (("node", nodes), ("quantity", quantities)):
        named = [n for n in wanted if "\x00" not in n] or ([""] if wanted else [])
        if named:
            where.append("(" + " OR ".join(f'"{key}" = {_literal(n)}' for n in named) + ")")
    return (
        f'SELECT "value", "flags", "at", "sensor", "node", "quantity" FROM {_CHANGES} '
        f"WHERE {' AND '.join(where)} ORDER BY time ASC LIMIT {limit}"
    )


def readings(series: list[dict[str, Any]]) -> list[tuple[int, Reading]]:
    """The rows of :func:`select` as (position, reading)."""
    return [
        (
            int(position),
            Reading(node, quantity, int(at), float(value), sensor or None, int(flags or 0)),
        )
        for one in series
        for position, value, flags, at, sensor, node, quantity in one["values"]
    ]
