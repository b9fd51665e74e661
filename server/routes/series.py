"""``/v1/series``: one kit's readings over a period as columns, in one answer, for a chart.

``/v1/readings`` pages rows of objects (at most ``max_limit`` a page): a month of one kit's
raw readings took a page script over a hundred requests. A chart wants the same readings as
columns, times and values, all at once::

    GET /v1/series?node=sim-1&from=2026-11-01&to=2026-12-01
    {"node": "sim-1", "from": "...", "to": "...", "count": 71424,
     "series": [{"quantity": "pm25", "unit": "µg/m³", "time": [1761955345, ...],
                 "value": [9.1, ...], "flagged": [[17, ["spike"]], ...]}, ...]}

``time`` is epoch seconds (the end of each measurement interval, as ``/v1/readings``' time);
``flagged`` lists the readings with any quality flag as [index, names]. One node per request,
all its quantities or those asked for. The answer is bounded by ``max_series_points``: more
is refused with a 400 that says to ask for a shorter range or for ``/v1/aggregates``.
"""

from __future__ import annotations

import json
from contextlib import closing
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import flag_names, iso_utc
from lokaalmeten.server.budget import Deadline
from lokaalmeten.server.deps import SettingsDep, StoreDep
from lokaalmeten.server.disconnect import client_gone
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.params import (
    FromParam,
    OneNodeParam,
    QuantityFilter,
    ToParam,
    quantities,
    time_range,
)
from lokaalmeten.server.routes.readings import FLAGS_DESCRIPTION
from lokaalmeten.store import ReadingQuery

router = APIRouter(prefix="/v1", tags=["readings"])


class Series(BaseModel):
    quantity: str
    unit: str
    time: list[int] = Field(description="Epoch seconds, end of each measurement interval.")
    value: list[float]
    flagged: list[tuple[int, list[str]]] = Field(
        description="[index into time/value, flag names] of each flagged reading. "
        + FLAGS_DESCRIPTION
    )


class SeriesAnswer(BaseModel):
    node: str
    from_: str = Field(alias="from")
    to: str
    count: int = Field(description="Readings in all the series.")
    series: list[Series]


@router.get(
    "/series",
    summary="One kit's readings as columns, in one answer (for charts)",
    response_model=SeriesAnswer,
    responses={200: {"content": {"application/json": {}}}},
)
def series(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    node: OneNodeParam,
    quantity: QuantityFilter = None,
    from_: FromParam = None,
    to: ToParam = None,
) -> Response:
    wanted = quantities(quantity)
    start, end = time_range(settings, from_, to)
    limit = settings.max_series_points
    query = ReadingQuery(start=start, end=end, limit=limit, nodes=(node,), quantities=wanted)
    found: dict[str, dict[str, Any]] = {}
    count = 0
    deadline = Deadline(settings.query_time_limit, client_gone(request))
    with closing(store.stream(query)) as batches:
        for batch in batches:
            deadline.check()
            count += len(batch.rows)
            if count > limit:
                raise ApiError(
                    400,
                    f"from/to: more than {limit} readings (max_series_points) in this range; "
                    "ask for a shorter range, or for hourly or daily means from /v1/aggregates",
                    "from",
                )
            one = found.setdefault(
                batch.quantity,
                {
                    "quantity": batch.quantity,
                    "unit": QUANTITIES[batch.quantity].unit,
                    "time": [],
                    "value": [],
                    "flagged": [],
                },
            )
            times, values, flagged = one["time"], one["value"], one["flagged"]
            for moment, value, tag in batch.rows:
                flags = batch.tags[tag][1]
                if flags:
                    flagged.append([len(times), flag_names(flags)])
                times.append(moment)
                values.append(value)
    answer = {
        "node": node,
        "from": iso_utc(start),
        "to": iso_utc(end),
        "count": count,
        "series": list(found.values()),
    }
    # Written directly: validating a few hundred thousand numbers through the response
    # model would take longer than reading them.
    body = json.dumps(answer, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Response(body, media_type="application/json")
