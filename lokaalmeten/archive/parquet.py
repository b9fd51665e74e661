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
from lokaalmeten.store import ReadingQuery, Store

ROW_GROUP = 250_000
_TEXT = pa.dictionary(pa.int32(), pa.string())
SCHEMA = pa.schema(
    [
        # Parquet has no unit of seconds (milliseconds, micro- and nanoseconds): the least.
        ("time", pa.timestamp("ms", tz="UTC")),
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


class _Columns:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.time: list[int] = []
        self.node: list[str] = []
        self.latitude: list[float | None] = []
        self.longitude: list[float | None] = []
        self.value: list[float] = []
        self.sensor: list[str | None] = []
        self.flags: list[int] = []

    def table(self, quantity: str) -> pa.Table:
        rows = len(self.time)

        def text(values: list[str | None] | list[str]) -> pa.Array:
            return pa.array(values, pa.string()).dictionary_encode()

        return pa.Table.from_arrays(
            [
                pa.array(self.time, SCHEMA.field("time").type),
                text(self.node),
                pa.array(self.latitude, pa.float64()),
                pa.array(self.longitude, pa.float64()),
                text([quantity] * rows),
                pa.array(self.value, pa.float64()),
                text([QUANTITIES[quantity].unit] * rows),
                text(self.sensor),
                pa.array(self.flags, pa.int32()),
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
    columns = _Columns()
    until = next_month(month) if end is None else min(end, next_month(month))
    query = ReadingQuery(month, until, 1, quantities=(quantity,))
    with (
        Replacement(target) as out,
        pq.ParquetWriter(out.stream, SCHEMA, compression="zstd") as writer,
    ):
        for batch in store.stream(query):
            place = places.get(batch.node)
            latitude = None if place is None else place.latitude
            longitude = None if place is None else place.longitude
            count = len(batch.rows)
            columns.node += [batch.node] * count
            columns.latitude += [latitude] * count
            columns.longitude += [longitude] * count
            for moment, value, tag in batch.rows:
                sensor, flags = batch.tags[tag]
                columns.time.append(moment * 1000)
                columns.value.append(value)
                columns.sensor.append(sensor)
                columns.flags.append(flags)
            if len(columns.time) >= ROW_GROUP:
                writer.write_table(columns.table(quantity))
                columns.clear()
        if columns.time:
            writer.write_table(columns.table(quantity))
    return out
