"""``/v1/corrected``: one kit's hourly PM raw, humidity-corrected and calibrated, side by side,
with the method, κ and the fit (version, station, slope, offset, period, n, r², RMSE) that
made them; ``/v1/export/corrected.csv`` the same as CSV. The raw series is only read.

The calibration book is the file LM_CALIBRATION names (docs/calibration.md), opened read-only
per request: a fit made while the server runs is served at once.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Query, Response

from lokaalmeten.calibration.book import BookError, CalibrationBook, Fit
from lokaalmeten.calibration.humidity import MAX_HUMIDITY, METHOD, METHOD_VERSION, REFERENCE
from lokaalmeten.calibration.series import CorrectedHour, corrected_series
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import iso_utc
from lokaalmeten.server.catalogue import thresholds
from lokaalmeten.server.csvfmt import BomParam, Delimiter, DelimiterParam, bom_bytes, csv_headers
from lokaalmeten.server.deps import DirectoryDep, SettingsDep, StoreDep
from lokaalmeten.server.errors import NOT_FOUND, ApiError
from lokaalmeten.server.params import (
    OneNodeParam,
    WindowFromParam,
    WindowToParam,
    time_range,
)
from lokaalmeten.settings import ServerSettings

router = APIRouter(prefix="/v1", tags=["corrected"])
log = logging.getLogger("lokaalmeten.server")


class PmQuantity(StrEnum):
    pm25 = "pm25"
    pm10 = "pm10"


QuantityParam = Annotated[PmQuantity, Query(description="pm25 or pm10.")]


class Selection(NamedTuple):
    """The hours one request asks for, with the fit that calibrates them."""

    node: str
    quantity: str
    start: int
    end: int
    fit: Fit | None
    note: str | None  # why there is no fit, when there is none
    hours: list[CorrectedHour]


def _selection(
    store: StoreDep,
    directory: DirectoryDep,
    settings: SettingsDep,
    node: OneNodeParam,
    quantity: QuantityParam = PmQuantity.pm25,
    from_: WindowFromParam = None,
    to: WindowToParam = None,
) -> Selection:
    """The parameters both routes take (JSON and CSV), checked and read once."""
    name = quantity.value
    start, end = time_range(settings, from_, to)
    start, end = start - start % 3600, end + (-end) % 3600
    # Two streams are read per hour (the PM and the humidity), as aggregates count them.
    if 2 * (end - start) // 3600 > settings.max_points:
        raise ApiError(
            400,
            f"from/to: {(end - start) // 3600} hours asked (2 windows each, PM and humidity); "
            f"at most {settings.max_points} windows per request: ask for a shorter range",
            "from",
        )
    if (node, name) not in set(store.streams((node,), (name,))):
        raise ApiError(404, f"node: {node!r} has no {name} readings", "node")
    fit, note = None, None
    if not settings.calibration_path.exists():
        note = "no calibration book yet: no co-location fit made (lokaalmeten calibrate)"
    else:
        try:
            book = CalibrationBook(settings.calibration_path, read_only=True)
            try:
                fit = book.current(node, name)
            finally:
                book.close()
        except BookError as exc:
            # A broken book must not take the raw and corrected values down with it.
            log.warning("%s", exc)
            note = "the calibration book cannot be read (the server's log says why)"
        else:
            if fit is None:
                note = f"no co-location fit for {node} {name} (lokaalmeten calibrate fit)"
    default, per_node = thresholds(directory, settings)
    threshold = per_node.get(node, default)
    hours = corrected_series(store, node, name, start, end, threshold, settings.pm_kappa, fit)
    return Selection(node, name, start, end, fit, note, hours)


SelectionDep = Annotated[Selection, Depends(_selection)]


def _method(settings: ServerSettings, fit: Fit | None) -> dict[str, Any]:
    return {
        "method": f"{METHOD}-{METHOD_VERSION}",
        "kappa": settings.pm_kappa if fit is None else fit.kappa,
        "not_correctable_from_humidity": MAX_HUMIDITY,
        "formula": "corrected = raw / (1 + (kappa / 1.65) / (-1 + 100 / RH))",
        "reference": REFERENCE,
    }


def _calibration(fit: Fit) -> dict[str, Any]:
    return {
        "version": fit.version,
        "formula": "calibrated = slope * corrected + offset",
        "slope": fit.slope,
        "offset": fit.offset,
        "station": fit.station,
        # Rounded as home locations are: with the station's public place, an exact distance
        # would put the kit on a circle around it.
        "distance_m": round(fit.distance_m, -2),
        "period": {"start": iso_utc(fit.start), "end": iso_utc(fit.end)},
        "n": fit.n,
        "r2": fit.r2,
        "rmse": fit.rmse,
        "fitted_on": "humidity-corrected hourly means",
        "method": fit.method,
        "made": iso_utc(fit.made),
    }


@router.get(
    "/corrected",
    summary="Hourly PM of one kit: raw, humidity-corrected and calibrated",
    responses=NOT_FOUND,
)
def corrected_pm(selection: SelectionDep, settings: SettingsDep) -> dict[str, Any]:
    """Every hour with readings: the raw mean as measured (`raw`, `count`, `valid`), the
    kit's mean humidity, the κ-Köhler `corrected` value (null at or above 95 % RH or without
    humidity: `correctable` false) and the `calibrated` value of the kit's newest co-location
    fit (null without one). The raw readings are never changed (docs/calibration.md)."""
    node, quantity, start, end, fit, note, hours = selection
    body: dict[str, Any] = {
        "node": node,
        "quantity": quantity,
        "unit": QUANTITIES[quantity].unit,
        "from": iso_utc(start),
        "to": iso_utc(end),
        "humidity_correction": _method(settings, fit),
        "calibration": None if fit is None else _calibration(fit),
    }
    if note is not None:
        body["calibration_note"] = note
    body["value"] = [
        {
            "start": iso_utc(h.start),
            "end": iso_utc(h.start + 3600),
            "raw": h.raw,
            "count": h.count,
            "valid": h.valid,
            "humidity": h.humidity,
            "correctable": h.correctable,
            "corrected": h.corrected,
            "calibrated": h.calibrated,
        }
        for h in hours
    ]
    return body


CSV_COLUMNS = (
    "start", "node", "quantity", "raw", "count", "valid", "humidity", "corrected",
    "calibrated", "unit", "method", "kappa", "fit_version", "slope", "offset",
)  # fmt: skip


@router.get(
    "/export/corrected.csv",
    summary="Hourly PM of one kit as CSV: raw, humidity-corrected and calibrated",
    responses={
        200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV, UTF-8."},
        **NOT_FOUND,
    },
    response_class=Response,
)
def corrected_csv(
    selection: SelectionDep,
    settings: SettingsDep,
    delimiter: DelimiterParam = Delimiter.comma,
    bom: BomParam = False,
) -> Response:
    """The rows of /v1/corrected, one per hour, with the method, κ and fit on every row; an
    empty field where a value is null."""
    node, quantity, start, _, fit, _, hours = selection
    semicolon = delimiter is Delimiter.semicolon
    sep = ";" if semicolon else ","

    def number(value: float | None) -> str:
        if value is None:
            return ""
        text = repr(value)
        return text.replace(".", ",") if semicolon else text

    def text(value: str) -> str:
        if any(c in value for c in (sep, '"', "\r", "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    method = _method(settings, fit)
    tail = sep.join(
        [
            QUANTITIES[quantity].unit,
            method["method"],
            number(method["kappa"]),
            "" if fit is None else fit.version,
            number(None if fit is None else fit.slope),
            number(None if fit is None else fit.offset),
        ]
    )
    lines = [sep.join(CSV_COLUMNS)]
    head = f"{sep}{text(node)}{sep}{quantity}{sep}"
    for h in hours:
        lines.append(
            f"{iso_utc(h.start)}{head}{number(h.raw)}{sep}{h.count}{sep}"
            f"{'true' if h.valid else 'false'}{sep}{number(h.humidity)}{sep}"
            f"{number(h.corrected)}{sep}{number(h.calibrated)}{sep}{tail}"
        )
    name = f"lokaalmeten-corrected-{node}-{quantity}-{iso_utc(start)[:10]}.csv"
    return Response(
        bom_bytes(bom) + ("\r\n".join(lines) + "\r\n").encode(),
        media_type="text/csv; charset=utf-8; header=present",
        headers=csv_headers(settings, name),
    )
