"""``/v1/noise/indicators`` and ``/v1/export/noise.csv``: Lday, Levening, Lnight and Lden per
node and local day (Europe/Amsterdam), each period with its coverage, and the hours above
``noise_threshold_db``. The rules (periods, daylight-saving days, validity) are those of
:mod:`lokaalmeten.noise_indicators`; docs/noise.md states them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Annotated, NamedTuple

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from lokaalmeten.noise_indicators import (
    AMSTERDAM,
    NEEDED_HOURS,
    QUANTITY,
    VALID_HOURS_PER_DAY,
    DayIndicators,
    indicators,
)
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import iso_utc
from lokaalmeten.server.catalogue import VALID_PERCENT, thresholds
from lokaalmeten.server.csvfmt import BomParam, Delimiter, DelimiterParam, bom_bytes, csv_headers
from lokaalmeten.server.deps import DirectoryDep, SettingsDep, StoreDep
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.params import (
    AreaNodes,
)
from lokaalmeten.settings import ServerSettings

router = APIRouter(prefix="/v1", tags=["noise"])
UNIT = QUANTITIES[QUANTITY].unit

StartDay = Annotated[
    str | None,
    Query(description="First local day (Europe/Amsterdam), YYYY-MM-DD; default yesterday."),
]
EndDay = Annotated[str | None, Query(description="Day after the last one (exclusive), YYYY-MM-DD.")]


class PeriodPublic(BaseModel):
    level: float | None = Field(description=f"{UNIT}, energetic mean of the period's readings.")
    hours: int = Field(description="Hours the period had that day (the night: 7, 8 or 9).")
    valid_hours: int
    coverage: float = Field(description="valid_hours / hours.")
    readings: int = Field(description="Readings counted (flagged ones left out).")
    valid: bool = Field(description=f"At least {VALID_PERCENT} of the period's hours valid.")


class NoiseDayPublic(BaseModel):
    node: str
    date: str = Field(description="The local day (Europe/Amsterdam), YYYY-MM-DD.")
    start: str = Field(description="Its first second, ISO 8601 UTC.")
    hours: int = Field(description="23, 24 or 25 (daylight-saving changes).")
    lden: float | None = Field(description=f"{UNIT}; null when a period has no reading.")
    valid: bool = Field(
        description=f"Every period valid and at least {VALID_HOURS_PER_DAY} valid hours."
    )
    valid_hours: int
    hours_above: int = Field(description="Valid hours with LAeq above threshold_db.")
    lday: PeriodPublic | None = Field(None, description="Absent with periods=false.")
    levening: PeriodPublic | None = None
    lnight: PeriodPublic | None = None


class NoiseList(BaseModel):
    threshold_db: float
    value: list[NoiseDayPublic]


def _day(text: str | None, parameter: str, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(
            400, f"{parameter}: {text!r} is not a date; send e.g. 2026-03-29", parameter
        ) from None


def _days(settings: ServerSettings, start: str | None, end: str | None) -> tuple[date, date]:
    today = datetime.now(AMSTERDAM).date()
    first = _day(start, "start", today - timedelta(days=1))
    last = _day(end, "end", first + timedelta(days=1))
    if first >= last:
        raise ApiError(400, "start: must be earlier than end", "start")
    if (last - first).days > settings.max_range_days:
        raise ApiError(
            400,
            f"start/end: at most {settings.max_range_days} days per request; ask for fewer",
            "start",
        )
    return first, last


class NoiseDays(NamedTuple):
    days: list[DayIndicators]
    start: str | None  # the days asked for, as asked (the CSV's file name without days)
    end: str | None


def noise_days(
    store: StoreDep,
    directory: DirectoryDep,
    settings: SettingsDep,
    nodes: AreaNodes,
    start: StartDay = None,
    end: EndDay = None,
) -> NoiseDays:
    """The days both noise routes' filters ask for, with their indicators."""
    first, last = _days(settings, start, end)
    default, per_node = thresholds(directory, settings)
    days = indicators(store, nodes, first, last, per_node, default, settings.noise_threshold_db)
    return NoiseDays(days, start, end)


NoiseDaysDep = Annotated[NoiseDays, Depends(noise_days)]


def _period_json(readings: float, energy: float, valid: float, hours: int) -> str:
    """A period as Period would write it (level, coverage and validity by its rules)."""
    level = 10 * math.log10(energy / readings) if readings and energy > 0 else None
    return (
        f'{{"level":{_number(level)},"hours":{hours},"valid_hours":{int(valid)},'
        f'"coverage":{round(valid / hours, 4)!r},"readings":{int(readings)},'
        f'"valid":{_TRUTH[valid >= NEEDED_HOURS[hours]]}}}'
    )


@router.get(
    "/noise/indicators",
    response_model=NoiseList,
    summary="Daily noise indicators (Lday, Levening, Lnight, Lden) per node",
)
def noise_indicators(
    settings: SettingsDep,
    found: NoiseDaysDep,
    periods: Annotated[
        bool,
        Query(
            description="false: each day without its lday/levening/lnight objects (Lden, "
            "validity, valid hours, hours above): a third of the size, for long ranges."
        ),
    ] = True,
) -> Response:
    value = render(found.days, periods)
    body = f'{{"threshold_db":{settings.noise_threshold_db!r},"value":[{value}]}}'
    return Response(body.encode(), media_type="application/json")


def render(days: list[DayIndicators], periods: bool = True) -> str:
    """The days as JSON objects, written directly, as /v1/aggregates: a year of 100 nodes is
    36,500 days. What repeats (a node's name, a day's date and start) is formatted once."""
    parts = []
    names: dict[str, str] = {}
    dates: dict[int, str] = {}
    for d in days:
        name = names.get(d.node)
        if name is None:
            name = names[d.node] = f'{{"node":{json.dumps(d.node)},'
        when = dates.get(d.start)
        if when is None:
            when = dates[d.start] = (
                f'"date":"{d.day.isoformat()}","start":"{iso_utc(d.start)}",'
                f'"hours":{d.hours},"lden":'
            )
        head = name + when
        # From the store's sums directly: no Period objects for 36,500 days.
        dn, de, dv, _, en, ee, ev, _, nn, ne, nv, _ = d.sums
        hd, he, hn = d.local.period_hours
        valid_hours = int(dv + ev + nv)
        valid = (
            dv >= NEEDED_HOURS[hd]
            and ev >= NEEDED_HOURS[he]
            and nv >= NEEDED_HOURS[hn]
            and valid_hours >= VALID_HOURS_PER_DAY
        )
        day = (
            f'{head}{_number(d.lden)},"valid":{_TRUTH[valid]},"valid_hours":{valid_hours},'
            f'"hours_above":{d.hours_above}'
        )
        if periods:
            day += (
                f',"lday":{_period_json(dn, de, dv, hd)},'
                f'"levening":{_period_json(en, ee, ev, he)},'
                f'"lnight":{_period_json(nn, ne, nv, hn)}'
            )
        parts.append(day + "}")
    return ",".join(parts)


CSV_COLUMNS = (
    "date",
    "node",
    "hours",
    "lden",
    "valid",
    "valid_hours",
    "lday",
    "lday_coverage",
    "levening",
    "levening_coverage",
    "lnight",
    "lnight_hours",
    "lnight_coverage",
    "hours_above",
    "threshold_db",
    "unit",
)


@router.get(
    "/export/noise.csv",
    summary="Daily noise indicators as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV, UTF-8."}},
)
def export_noise_csv(
    settings: SettingsDep,
    found: NoiseDaysDep,
    delimiter: DelimiterParam = Delimiter.comma,
    bom: BomParam = False,
) -> StreamingResponse:
    days, start, end = found
    semicolon = delimiter is Delimiter.semicolon
    name = f"lokaalmeten-noise-{days[0].day if days else start}-{days[-1].day if days else end}"
    return StreamingResponse(
        _csv_rows(days, settings.noise_threshold_db, semicolon, bom_bytes(bom)),
        media_type="text/csv; charset=utf-8; header=present",
        headers=csv_headers(settings, f"{name}.csv"),
    )


def _csv_rows(
    days: list[DayIndicators], threshold_db: float, semicolon: bool, start: bytes = b""
) -> Iterator[bytes]:
    sep = ";" if semicolon else ","

    def number(value: float | None, digits: int = 2) -> str:
        if value is None:
            return ""
        text = repr(round(value, digits))
        return text.replace(".", ",") if semicolon else text

    yield start + (sep.join(CSV_COLUMNS) + "\r\n").encode()
    threshold = number(threshold_db)
    rows = []
    names: dict[str, str] = {}
    dates: dict[int, str] = {}
    for d in days:
        node = names.get(d.node)
        if node is None:
            node = d.node
            if any(c in node for c in (sep, '"', "\r", "\n")):
                node = '"' + node.replace('"', '""') + '"'
            names[d.node] = node
        when = dates.get(d.start)
        if when is None:
            when = dates[d.start] = f"{d.day.isoformat()}{sep}"
        lday, levening, lnight = d.lday, d.levening, d.lnight
        valid_hours = lday.valid_hours + levening.valid_hours + lnight.valid_hours
        valid = (
            lday.valid and levening.valid and lnight.valid and valid_hours >= VALID_HOURS_PER_DAY
        )
        fields = (
            node,
            str(d.hours),
            number(d.lden),
            _TRUTH[valid],
            str(valid_hours),
            number(lday.level),
            number(lday.coverage, 4),
            number(levening.level),
            number(levening.coverage, 4),
            number(lnight.level),
            str(lnight.hours),
            number(lnight.coverage, 4),
            str(d.hours_above),
            threshold,
            UNIT,
        )
        rows.append(when + sep.join(fields) + "\r\n")
        if len(rows) == 1000:
            yield "".join(rows).encode()
            rows = []
    yield "".join(rows).encode()


def _number(value: float | None) -> str:
    return "null" if value is None else repr(value)


_TRUTH = {True: "true", False: "false"}
