"""``/v1/reference``: the hourly PM of an official reference station, as imported into the
calibration book (``lokaalmeten calibrate import``), so that a page can draw it beside kits::

    GET /v1/reference/stations                         every imported series, with its place
    GET /v1/reference?station=NL10636&quantity=pm25    its hourly values (default: last 24 h)
    GET /v1/export/reference.csv?station=NL10636       the same as CSV

The book is opened read-only per request, as /v1/corrected opens it; the readings store is
not read. Values are stamped by the start of their hour, as the store's hourly aggregates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Query, Response

from lokaalmeten.calibration.book import BookError, CalibrationBook
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import iso_utc
from lokaalmeten.server.csvfmt import BomParam, Delimiter, DelimiterParam, bom_bytes, csv_headers
from lokaalmeten.server.deps import SettingsDep
from lokaalmeten.server.errors import NOT_FOUND, ApiError
from lokaalmeten.server.params import WindowFromParam, WindowToParam, time_range
from lokaalmeten.server.routes.corrected import PmQuantity, QuantityParam
from lokaalmeten.settings import ServerSettings

router = APIRouter(prefix="/v1", tags=["reference"])
log = logging.getLogger("lokaalmeten.server")

_UNREADABLE = "the calibration book cannot be read (the server's log says why)"
StationParam = Annotated[str, Query(description="The station's number, e.g. NL10636.")]


@contextmanager
def _book(settings: ServerSettings) -> Iterator[CalibrationBook | None]:
    """The book read-only, or None when there is none (nothing imported yet)."""
    if not settings.calibration_path.exists():
        yield None
        return
    try:
        book = CalibrationBook(settings.calibration_path, read_only=True)
    except BookError as exc:
        log.warning("%s", exc)
        raise ApiError(503, _UNREADABLE) from None
    try:
        yield book
    except BookError as exc:
        log.warning("%s", exc)
        raise ApiError(503, _UNREADABLE) from None
    finally:
        book.close()


@router.get("/reference/stations", summary="Reference stations with imported hourly PM")
def reference_stations(settings: SettingsDep) -> dict[str, Any]:
    """One entry per imported series (station and quantity), with the station's name and
    place where its station file was imported (else null), its first and last hour."""
    with _book(settings) as book:
        if book is None:
            return {"value": []}
        places = {s.number: s for s in book.stations()}
        series = book.series()
    value = []
    for station, quantity, first, last, hours in series:
        place = places.get(station)
        value.append(
            {
                "station": station,
                "name": place.name if place else None,
                "latitude": place.latitude if place else None,
                "longitude": place.longitude if place else None,
                "quantity": quantity,
                "unit": QUANTITIES[quantity].unit,
                "first": iso_utc(first),
                "last": iso_utc(last + 3600),
                "hours": hours,
            }
        )
    return {"value": value}


class Series(NamedTuple):
    station: str
    name: str | None
    quantity: str
    start: int
    end: int
    hours: dict[int, float]


def _series(
    settings: SettingsDep,
    station: StationParam,
    quantity: QuantityParam = PmQuantity.pm25,
    from_: WindowFromParam = None,
    to: WindowToParam = None,
) -> Series:
    """What both routes (JSON and CSV) answer, checked and read once."""
    start, end = time_range(settings, from_, to)
    start, end = start - start % 3600, end + (-end) % 3600
    if (end - start) // 3600 > settings.max_points:
        raise ApiError(
            400,
            f"from/to: {(end - start) // 3600} hours asked; at most {settings.max_points} per "
            "request: ask for a shorter range",
            "from",
        )
    with _book(settings) as book:
        imported = set() if book is None else {(s, q) for s, q, *_ in book.series()}
        if book is None or (station, quantity.value) not in imported:
            raise ApiError(
                404,
                f"station: no {quantity.value} of {station!r} imported "
                "(lokaalmeten calibrate import; /v1/reference/stations lists what is)",
                "station",
            )
        names = {s.number: s.name for s in book.stations()}
        hours = book.reference(station, quantity.value, start, end)
    return Series(station, names.get(station), quantity.value, start, end, hours)


SeriesDep = Annotated[Series, Depends(_series)]


@router.get(
    "/reference",
    summary="Hourly PM of one reference station, as imported",
    responses=NOT_FOUND,
)
def reference_series(series: SeriesDep) -> dict[str, Any]:
    """Every imported hour in the range, by the start of its hour; hours the source left
    empty are absent."""
    return {
        "station": series.station,
        "name": series.name,
        "quantity": series.quantity,
        "unit": QUANTITIES[series.quantity].unit,
        "from": iso_utc(series.start),
        "to": iso_utc(series.end),
        "value": [
            {"start": iso_utc(hour), "end": iso_utc(hour + 3600), "value": value}
            for hour, value in sorted(series.hours.items())
        ],
    }


CSV_COLUMNS = ("start", "end", "station", "quantity", "value", "unit")


@router.get(
    "/export/reference.csv",
    summary="Hourly PM of one reference station as CSV",
    responses={
        200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV, UTF-8."},
        **NOT_FOUND,
    },
    response_class=Response,
)
def reference_csv(
    series: SeriesDep,
    settings: SettingsDep,
    delimiter: DelimiterParam = Delimiter.comma,
    bom: BomParam = False,
) -> Response:
    """The rows of /v1/reference, one per hour."""
    semicolon = delimiter is Delimiter.semicolon
    sep = ";" if semicolon else ","
    unit = QUANTITIES[series.quantity].unit
    # Station numbers are NLnnnnn (reference.py refuses others): no field needs quoting.
    lines = [sep.join(CSV_COLUMNS)]
    for hour, value in sorted(series.hours.items()):
        number = repr(value).replace(".", ",") if semicolon else repr(value)
        lines.append(
            sep.join(
                (iso_utc(hour), iso_utc(hour + 3600), series.station, series.quantity, number, unit)
            )
        )
    name = f"lokaalmeten-reference-{series.station}-{series.quantity}-{iso_utc(series.start)[:10]}"
    return Response(
        bom_bytes(bom) + ("\r\n".join(lines) + "\r\n").encode(),
        media_type="text/csv; charset=utf-8; header=present",
        headers=csv_headers(settings, f"{name}.csv"),
    )
