"""A month of one quantity as Parquet, typed: what a researcher loads with pandas, R's
arrow, DuckDB or Spark without parsing text.

Columns as the CSV's, with their types: ``time`` timestamp[ms, UTC]; ``node``, ``quantity``,
``unit`` and ``sensor`` dictionary-encoded strings (a handful of values repeated millions of
times); ``latitude``, ``longitude`` and ``value`` float64 (the exact values the CSV writes
with repr); ``flags`` int32, the reading's flag bits (the CSV writes their names,
:func:`lokaalmeten.readings.flag_names`). Rows in the export's order (node, time), written in
row groups of at most :data:`ROW_GROUP` as they stream from the store, so memory stays
bounded whatever the month holds. zstd: smaller than snappy at a similar speed, and read by
every Parquet reader in use.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lokaalmeten.archive.files import Replacement
from lokaalmeten.archive.layout import next_month
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.server.privacy import PublicPlace
from lokaalmeten.store import ReadingQuery, Store, StreamBatch

ROW_GROUP = 250_000
_TEXT = pa.dictionary(pa.int32(), pa.string())
SCHEMA = pa.schema(
    [
        # Seconds, as the store keeps them; the writer stores milliseconds (coerce_timestamps),
        # the least Parquet has.
        ("time", pa.timestamp("s", tz="UTC")),
        ("node", _TEXT),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("quantity", _TEXT),
        ("value", pa.float64()),
        ("unit", _TEXT),
        ("sensor", _TEXT),
        ("flags", pa.int32()),
    ]
)


def _repeated(text: str | None, count: int) -> pa.Array:
    """``count`` times the same string (or null), as a one-entry dictionary."""
    if text is None:
        return pa.nulls(count, _TEXT)
    return pa.DictionaryArray.from_arrays(pa.array([0] * count, pa.int32()), [text])


def _batch(batch: StreamBatch, place: PublicPlace | None) -> pa.RecordBatch:
    """One stream batch as Arrow columns, built from whole lists (no Python loop per row
    beyond unzipping): a batch is one node and quantity, and almost always one tag."""
    count = len(batch.rows)
    times, values, tags = zip(*batch.rows, strict=True)
    codes = sorted(set(tags))
    sensors = [batch.tags[code][0] for code in codes]
    flag_bits = [batch.tags[code][1] for code in codes]
    if len(codes) == 1:
        sensor = _repeated(sensors[0], count)
        flags = pa.array([flag_bits[0]] * count, pa.int32())
    else:
        position = {code: i for i, code in enumerate(codes)}
        local = [position[tag] for tag in tags]
        known = [None if sensors[i] is None else i for i in local]
        sensor = pa.DictionaryArray.from_arrays(
            pa.array(known, pa.int32()), [name or "" for name in sensors]
        )
        flags = pa.array([flag_bits[i] for i in local], pa.int32())
    if place is None:
        latitude, longitude = pa.nulls(count, pa.float64()), pa.nulls(count, pa.float64())
    else:
        latitude = pa.array([place.latitude] * count, pa.float64())
        longitude = pa.array([place.longitude] * count, pa.float64())
    return pa.RecordBatch.from_arrays(
        [
            pa.array(times, SCHEMA.field("time").type),
            _repeated(batch.node, count),
            latitude,
            longitude,
            _repeated(batch.quantity, count),
            pa.array(values, pa.float64()),
            _repeated(QUANTITIES[batch.quantity].unit, count),
            sensor,
            flags,
        ],
        schema=SCHEMA,
    )


def write_month(
    store: Store,
    places: dict[str, PublicPlace],
    month: int,
    quantity: str,
    target: Path,
    end: int | None = None,
) -> Replacement:
    """``quantity``'s readings of the UTC month starting at ``month`` (up to ``end`` when the
    month is not over) into ``target``."""
    until = next_month(month) if end is None else min(end, next_month(month))
    query = ReadingQuery(month, until, 1, quantities=(quantity,))
    pending: list[pa.RecordBatch] = []
    rows = 0

    def flush(writer: pq.ParquetWriter) -> None:
        # One row group of the batches so far, their dictionaries merged into one each.
        writer.write_table(pa.Table.from_batches(pending, SCHEMA).unify_dictionaries())
        pending.clear()

    with (
        Replacement(target) as out,
        pq.ParquetWriter(out.stream, SCHEMA, compression="zstd", coerce_timestamps="ms") as writer,
    ):
        for batch in store.stream(query):
            pending.append(_batch(batch, places.get(batch.node)))
            rows += len(batch.rows)
            if rows >= ROW_GROUP:
                flush(writer)
                rows = 0
        if pending:
            flush(writer)
    return out
