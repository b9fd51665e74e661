"""Fast RFC 4180 CSV of readings: the per-row work is two table look-ups and one f-string.

Everything that repeats is formatted once: a stream's node, place and quantity (the row
prefix), a (quantity, sensor, flags) suffix, the date part of a time per day and its
``HH:MM:SS`` part from a table of the 86,400 seconds of a day::

    writer = CsvWriter(places, semicolon=False)
    body = writer.header() + writer.rows("kit-1", "pm25", [(1795824000, 7.5, "SDS011", 0)])
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.server.privacy import PublicPlace
from lokaalmeten.store import StreamRow

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
        self._suffixes: dict[tuple[str, str | None, int], str] = {}

    def field(self, text: str) -> str:
        if any(c in text for c in (self.sep, '"', "\r", "\n")):
            return '"' + text.replace('"', '""') + '"'
        return text

    def number(self, value: float) -> str:
        text = repr(value)
        return text.replace(".", ",") if self.decimal_comma else text

    def header(self) -> str:
        return self.sep.join(COLUMNS) + "\r\n"

    def rows(self, node: str, quantity: str, rows: list[StreamRow]) -> str:
        sep = self.sep
        place = self.places.get(node)
        where = (
            f"{self.number(place.latitude)}{sep}{self.number(place.longitude)}"
            if place is not None
            else sep
        )
        prefix = f"{sep}{self.field(node)}{sep}{where}{sep}{quantity}{sep}"
        suffixes = self._suffixes
        unit = QUANTITIES[quantity].unit
        days = self._days
        hms = _seconds_of_day()
        out = []
        for t, value, sensor, flags in rows:
            key = (quantity, sensor, flags)
            suffix = suffixes.get(key)
            if suffix is None:
                suffix = f"{sep}{unit}{sep}{self.field(sensor or '')}{sep}{flags}\r\n"
                suffixes[key] = suffix
            text = repr(value)
            if self.decimal_comma:
                text = text.replace(".", ",")
            out.append(f"{days[t // 86400]}{hms[t % 86400]}{prefix}{text}{suffix}")
        return "".join(out)
