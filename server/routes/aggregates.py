"""``/v1/aggregates``: hourly and daily mean, min, max, count and coverage, from roll-ups.

Coverage is the share of the expected readings a window holds: a node is expected to read
every ``interval_s`` seconds (its metadata, else the server's ``measurement_interval``), so an
hour expects ``3600 / interval_s`` readings. An hour is valid with at least ``VALID_SHARE``
coverage; a day is valid with at least ``VALID_HOURS_PER_DAY`` valid hours (both
lokaalmeten.noise_indicators). Windows below that are flagged, not hidden.

Readings flagged with any bit of ``EXCLUDED_FROM_AGGREGATES`` are left out of every number
but ``excluded``, so they lower the coverage. ``value`` is the window's value by the
quantity's aggregation (``method``, from the quantity table); ``mean`` is the same number
where the method is a mean, else null.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, NamedTuple

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.noise_indicators import VALID_HOURS_PER_DAY, VALID_SHARE
from lokaalmeten.protocol.quantities import QUANTITIES, Aggregation
from lokaalmeten.readings import EXCLUDED_FROM_AGGREGATES, FLAG_NAMES, iso_utc
from lokaalmeten.server.catalogue import (
    VALID_PERCENT,
    expected_per_hour,
    interval_of,
    thresholds,
)
from lokaalmeten.server.csvfmt import BomParam, Delimiter, DelimiterParam, bom_bytes, csv_headers
from lokaalmeten.server.deps import DirectoryDep, SettingsDep, StoreDep
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.params import (
    AreaNodes,
    QuantityFilter,
    WindowFromParam,
    WindowToParam,
    quantities,
    time_range,
)
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import Aggregate, AggregateQuery, Store

router = APIRouter(prefix="/v1", tags=["aggregates"])

# The flags whose readings an aggregate leaves out, named from the one list of flags.
_EXCLUDED_NAMES = ", ".join(name for bit, name in FLAG_NAMES if bit & EXCLUDED_FROM_AGGREGATES)


class Window(StrEnum):
    hour = "1h"
    day = "1d"


_SECONDS = {Window.hour: 3600, Window.day: 86400}


class AggregatePublic(BaseModel):
    node: str
    quantity: str
    start: str = Field(description="Window start, ISO 8601 UTC (inclusive).")
    end: str = Field(description="Window end, ISO 8601 UTC (exclusive).")
    method: Aggregation = Field(
        description="How the readings combine: mean, energetic_mean (sound levels: "
        "10·log10 of the mean of 10^(L/10)), max, min, or none (percentile levels)."
    )
    value: float | None = Field(
        description="The window's value by method; null for method none or without readings."
    )
    mean: float | None = Field(description="value where the method is a mean, else null.")
    min: float | None
    max: float | None
    count: int = Field(description="Readings in the window that count (not excluded).")
    excluded: int = Field(
        description=f"Readings in the window left out for their quality flags ({_EXCLUDED_NAMES})."
    )
    unit: str
    coverage: float = Field(
        description="count / expected readings, at most 1 (excluded readings do not count)."
    )
    valid_hours: int = Field(
        description=f"Hours in the window with at least {VALID_PERCENT} coverage."
    )
    valid: bool = Field(
        description=f"Hour: coverage >= {VALID_SHARE}. Day: at least "
        f"{VALID_HOURS_PER_DAY} valid hours. Invalid windows are listed, flagged."
    )


class AggregateList(BaseModel):
    window: Window
    value: list[AggregatePublic]


WindowParam = Annotated[Window, Query(description="1h or 1d (UTC days).")]


class Windows(NamedTuple):
    window: Window
    rows: list[Aggregate]


def windows(
    store: StoreDep,
    directory: DirectoryDep,
    settings: SettingsDep,
    nodes: AreaNodes,
    quantity: QuantityFilter = None,
    window: WindowParam = Window.hour,
    from_: WindowFromParam = None,
    to: WindowToParam = None,
) -> Windows:
    """The windows the filters of both aggregate routes ask for, from the store's roll-ups."""
    query = aggregate_query(store, directory, settings, nodes, quantity, window, from_, to)
    return Windows(window, store.aggregates(query))


def aggregate_query(
    store: Store,
    directory: DirectoryReader,
    settings: ServerSettings,
    nodes: tuple[str, ...],
    quantity: list[str] | None,
    window: Window,
    from_: str | None,
    to: str | None,
) -> AggregateQuery:
    """The store query for those filters, refused (400) when it asks too many windows."""
    wanted = quantities(quantity)
    start, end = time_range(settings, from_, to)
    size = _SECONDS[window]
    start, end = start - start % size, end + (-end) % size
    streams = len(store.streams(nodes, wanted))
    points = max(1, streams) * ((end - start) // size)
    if points > settings.max_points:
        raise ApiError(
            400,
            f"from/to: {points} windows asked (nodes x quantities x windows); at most "
            f"{settings.max_points} per request: ask for fewer nodes or quantities, a "
            "shorter range, or window=1d",
            "from",
        )
    default, per_node = thresholds(directory, settings)
    return AggregateQuery(start, end, size, nodes, wanted, default, per_node)


WindowsDep = Annotated[Windows, Depends(windows)]


@router.get("/aggregates", response_model=AggregateList, summary="Hourly or daily aggregates")
def list_aggregates(
    directory: DirectoryDep,
    settings: SettingsDep,
    found: WindowsDep,
) -> Response:
    window, rows = found
    return Response(
        render(rows, window, directory.metas(), settings), media_type="application/json"
    )


@router.get(
    "/export/aggregates.csv",
    summary="Hourly or daily aggregates as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV, UTF-8."}},
)
def export_aggregates_csv(
    directory: DirectoryDep,
    settings: SettingsDep,
    found: WindowsDep,
    delimiter: DelimiterParam = Delimiter.comma,
    bom: BomParam = False,
) -> Response:
    window, rows = found
    body = csv_text(rows, window, directory.metas(), settings, delimiter is Delimiter.semicolon)
    return Response(
        bom_bytes(bom) + body.encode(),
        media_type="text/csv; charset=utf-8; header=present",
        headers=csv_headers(settings, f"lokaalmeten-{window}.csv"),
    )


CSV_COLUMNS = (
    "start",
    "end",
    "node",
    "quantity",
    "method",
    "value",
    "min",
    "max",
    "count",
    "excluded",
    "unit",
    "coverage",
    "valid_hours",
    "valid",
)


def csv_text(
    rows: list[Aggregate],
    window: Window,
    metas: dict[str, NodeMeta],
    settings: ServerSettings,
    semicolon: bool,
) -> str:
    """The windows as RFC 4180 CSV, the columns of the JSON answer (without ``mean``, which
    repeats ``value``); with ``semicolon``, ``;`` between fields and a decimal comma."""
    sep = ";" if semicolon else ","
    size = _SECONDS[window]
    needed = VALID_HOURS_PER_DAY if window is Window.day else 1

    def number(value: float | None) -> str:
        if value is None:
            return ""
        text = repr(value)
        return text.replace(".", ",") if semicolon else text

    def field(text: str) -> str:
        if any(c in text for c in (sep, '"', "\r", "\n")):
            return '"' + text.replace('"', '""') + '"'
        return text

    lines = [sep.join(CSV_COLUMNS)]
    for a in rows:
        expected = expected_per_hour(interval_of(metas.get(a.node), settings)) * size / 3600
        coverage = 1.0 if a.readings >= expected else round(a.readings / expected, 4)
        q = QUANTITIES[a.quantity]
        lines.append(
            sep.join(
                (
                    iso_utc(a.start),
                    iso_utc(a.start + size),
                    field(a.node),
                    a.quantity,
                    q.aggregation,
                    number(a.value),
                    number(a.minimum),
                    number(a.maximum),
                    str(a.readings),
                    str(a.excluded),
                    field(q.unit),
                    number(coverage),
                    str(a.valid_hours),
                    _TRUTH[a.valid_hours >= needed],
                )
            )
        )
    return "\r\n".join(lines) + "\r\n"


def render(
    rows: list[Aggregate], window: Window, metas: dict[str, NodeMeta], settings: ServerSettings
) -> bytes:
    """The AggregateList as JSON text, written directly: a year of daily means of every node
    is ~100,000 windows, too many to build as models within the API's time budget."""
    size = _SECONDS[window]
    needed = VALID_HOURS_PER_DAY if window is Window.day else 1
    spans: dict[int, str] = {}
    for start in {a.start for a in rows}:
        spans[start] = f'"start":"{iso_utc(start)}","end":"{iso_utc(start + size)}","method":'
    parts = []
    first = 0
    while first < len(rows):
        node, quantity = rows[first].node, rows[first].quantity
        last = first
        while last < len(rows) and rows[last].node == node and rows[last].quantity == quantity:
            last += 1
        head = f'{{"node":{json.dumps(node)},"quantity":"{quantity}",'
        unit = f',"unit":{json.dumps(QUANTITIES[quantity].unit)},"coverage":'
        aggregation = QUANTITIES[quantity].aggregation
        is_mean = aggregation in ("mean", "energetic_mean")
        method = f'"{aggregation}","value":'
        expected = expected_per_hour(interval_of(metas.get(node), settings)) * size / 3600
        parts += [
            f"{head}{spans[a.start]}{method}{_number(a.value)},"
            f'"mean":{_number(a.value if is_mean else None)},'
            f'"min":{_number(a.minimum)},"max":{_number(a.maximum)},'
            f'"count":{a.readings},"excluded":{a.excluded}{unit}'
            f"{1.0 if a.readings >= expected else round(a.readings / expected, 4)!r},"
            f'"valid_hours":{a.valid_hours},"valid":{_TRUTH[a.valid_hours >= needed]}}}'
            for a in rows[first:last]
        ]
        first = last
    return f'{{"window":"{window.value}","value":[{",".join(parts)}]}}'.encode()


_TRUTH = {True: "true", False: "false"}


def _number(value: float | None) -> str:
    return "null" if value is None else repr(value)
