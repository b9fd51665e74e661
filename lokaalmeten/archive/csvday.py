"""A day's readings as gzipped CSV: the export's own rows, compressed.

The rows come from the export's code (:func:`lokaalmeten.server.routes.export.csv_body` with
:class:`~lokaalmeten.server.csvfmt.CsvWriter`), so a day's file holds byte for byte what
``/v1/export/readings.csv`` answers for that day: one source for the columns and their
formatting. gzip, as Sensor.Community's archive publishes its CSV; pandas, R's
``read.csv`` and ``zcat`` read it as it is. The gzip header carries no time and no name,
so the same rows always make the same bytes.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from lokaalmeten.archive.files import Replacement
from lokaalmeten.archive.layout import DAY
from lokaalmeten.server.csvfmt import CsvWriter
from lokaalmeten.server.privacy import PublicPlace
from lokaalmeten.server.routes.export import csv_body
from lokaalmeten.store import ReadingQuery, Store

# Level 6 (gzip's own default): level 9 takes about twice the time for a few per cent.
LEVEL = 6


def write_day(store: Store, places: dict[str, PublicPlace], day: int, target: Path) -> Replacement:
    """The readings of the UTC day starting at ``day`` into ``target``; returns what was
    written (checksum, size, whether the file changed)."""
    writer = CsvWriter(places)
    with (
        Replacement(target) as out,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=out.stream, mtime=0, compresslevel=LEVEL
        ) as packed,
    ):
        for chunk in csv_body(store, ReadingQuery(day, day + DAY, 1), writer):
            packed.write(chunk)
    return out
