"""Fast RFC 4180 CSV of readings: the per-row work is two table look-ups and one f-string.

Everything that repeats is formatted once: a stream's node, place and quantity (the row
prefix), a (quantity, sensor, flags) suffix, the date part of a time per day and its
``HH:MM:SS`` part from a table of the 86,400 seconds of a day::

    writer = CsvWriter(places, semicolon=False)
    body = writer.header() + writer.rows(
        StreamBatch("kit-1", "pm25", [(1795824000, 7.5, 0)], {0: ("SDS011", 0)})
    )
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Annotated

from fastapi import Query

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import flag_names
from lokaalmeten.server.privacy import PublicPlace
from lokaalmeten.server.routes.metadata import LICENCES
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import StreamBatch


class Delimiter(StrEnum):
    comma = "comma"
    semicolon = "semicolon"


# Every CSV route offers the same choice, described once.
DelimiterParam = Annotated[
    Delimiter, Query(description="comma (RFC 4180) or semicolon (with decimal comma).")
]

# Excel opens a CSV without a byte-order mark in the system's code page (Windows-1252 in the
# Netherlands), so µg/m³ and °C turn into mojibake; the three bytes EF BB BF make it read
# UTF-8. Off by default: RFC 4180 readers (pandas, R) would otherwise see them in the first
# column's name unless told encoding="utf-8-sig".
UTF8_BOM = "\ufeff".encode()
BomParam = Annotated[
    bool,
    Query(description="true: start with the UTF-8 byte-order mark, so that Excel reads UTF-8."),
]


def csv_headers(settings: ServerSettings, filename: str) -> dict[str, str]:
    """A CSV export's headers: its file name, and its licence and metadata as Link headers
    (RFC 8288). A comment line above the header row would not be CSV any more, so the
    licence travels beside the file: ``rel="license"`` to the licence itself,
    ``rel="describedby"`` to the DCAT metadata that names the publisher to attribute."""
    licence = LICENCES[settings.licence][1]
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Link": f'<{licence}>; rel="license", '
        '</v1/dataset>; rel="describedby"; type="application/ld+json"',
    }


def bom_bytes(wanted: bool) -> bytes:
    """What a CSV body starts with: the byte-order mark when asked for, else nothing."""
    return UTF8_BOM if wanted else b""


COLUMNS = ("time", "node", "latitude", "longitude", "quantity", "value", "unit", "sensor", "flags")


@cache
def _seconds_of_day() -> tuple[str, ...]:
    return tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(86400))


class _Days(dict[int, str]):
    def __missing__(self, day: int) -> str:
        text = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
        self[day] = text
        return text


class CsvWriter:
    """``semicolon``: ``;`` between fields and a decimal comma, for Dutch spreadsheets."""

    def __init__(self, places: dict[str, PublicPlace], semicolon: bool = False) -> None:
        self.places = places
        self.sep = ";" if semicolon else ","
        self.decimal_comma = semicolon
        self._days = _Days()
        # per (quantity, tag table): tag -> ",unit,sensor,flags\r\n"
        self._suffixes: dict[tuple[str, int], dict[int, str]] = {}

    def field(self, text: str) -> str:
        if any(c in text for c in (self.sep, '"', "\r", "\n")):
            return '"' + text.replace('"', '""') + '"'
        return text

    def number(self, value: float) -> str:
        text = repr(value)
        return text.replace(".", ",") if self.decimal_comma else text

    def header(self) -> str:
        return self.sep.join(COLUMNS) + "\r\n"

    def rows(self, batch: StreamBatch) -> str:
        sep = self.sep
        place = self.places.get(batch.node)
        where = (
            f"{self.number(place.latitude)}{sep}{self.number(place.longitude)}"
            if place is not None
            else sep
        )
        prefix = f"{sep}{self.field(batch.node)}{sep}{where}{sep}{batch.quantity}{sep}"
        unit = QUANTITIES[batch.quantity].unit
        suffixes = self._suffixes.setdefault((batch.quantity, id(batch.tags)), {})
        for tag in {row[2] for row in batch.rows} - suffixes.keys():
            sensor, flags = batch.tags[tag]
            # The names, not the bits, so that a spreadsheet reads them without the table;
            # '|' needs no quoting in either variant. Made once per tag, so free per row.
            names = "|".join(flag_names(flags))
            suffixes[tag] = f"{sep}{unit}{sep}{self.field(sensor or '')}{sep}{names}\r\n"
        days, hms = self._days, _seconds_of_day()
        if self.decimal_comma:
            return "".join(
                [
                    f"{days[t // 86400]}{hms[t % 86400]}{prefix}"
                    f"{repr(v).replace('.', ',')}{suffixes[tag]}"
                    for t, v, tag in batch.rows
                ]
            )
        return "".join(
            [
                f"{days[t // 86400]}{hms[t % 86400]}{prefix}{v!r}{suffixes[tag]}"
                for t, v, tag in batch.rows
            ]
        )
