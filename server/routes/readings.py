"""``/v1/readings``: raw readings, filtered by node, quantity and time, paged by cursor.

Every request is bounded: the time range (default the last 24 hours) may not exceed
``max_range_days`` and a page holds at most ``max_limit`` readings. The next page is linked
from ``@nextLink``; its cursor is the identity of the last reading, so pages never skip or
repeat a reading even while new ones arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import (
    EXCLUDED_FROM_AGGREGATES,
    FLAG_NAMES,
    Reading,
    flag_names,
    iso_utc,
)
from lokaalmeten.server.deps import SettingsDep, StoreDep
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.params import (
    ReadingSelection,
)
from lokaalmeten.store import ReadingQuery

router = APIRouter(prefix="/v1", tags=["readings"])


# What each flag name means, from the one list of flags (the API copies no names).
_FLAG_MEANINGS = {
    "time_estimated": "the kit's clock was not synced and the gateway's receive time is used",
    "clipped": "the sensor's input clipped",
    "time_backdated": "made before the kit's clock was synced, dated afterwards from its "
    "uptime clock",
    "implausible": "outside the range the quantity plausibly takes outdoors",
    "stuck": "the same value repeated too many times in a row",
    "spike": "far from the kit's own recent readings (and its neighbours')",
    "high_humidity": "PM measured while the relative humidity was above the threshold",
    "warming_up": "made while the sensor was still warming up after the kit started",
}
FLAGS_DESCRIPTION = (
    "; ".join(f"'{name}': {_FLAG_MEANINGS[name]}" for _, name in FLAG_NAMES)
    + ". Aggregates leave out readings flagged "
    + ", ".join(f"'{name}'" for bit, name in FLAG_NAMES if bit & EXCLUDED_FROM_AGGREGATES)
    + " (docs/quality.md)."
)


class ReadingPublic(BaseModel):
    node: str
    quantity: str
    time: str = Field(description="End of the measurement interval, ISO 8601 UTC.")
    value: float
    unit: str
    sensor: str | None = Field(description="Sensor model, when the kit reported it.")
    flags: list[str] = Field(description=FLAGS_DESCRIPTION)

    @classmethod
    def of(cls, r: Reading) -> ReadingPublic:
        """A stored reading as the API publishes it (here and in the live stream)."""
        return cls(
            node=r.node,
            quantity=r.quantity,
            time=iso_utc(r.time),
            value=r.value,
            unit=QUANTITIES[r.quantity].unit,
            sensor=r.sensor,
            flags=flag_names(r.flags),
        )


class ReadingList(BaseModel):
    value: list[ReadingPublic]
    next_link: str | None = Field(None, alias="@nextLink", serialization_alias="@nextLink")


def _encode_cursor(identity: tuple[str, str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(identity).encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[str, str, int]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        node, quantity, moment = json.loads(raw)
        if isinstance(node, str) and isinstance(quantity, str) and isinstance(moment, int):
            return (node, quantity, moment)
    except (binascii.Error, ValueError, TypeError):
        pass
    raise ApiError(
        400, "cursor: not a cursor this server made; follow @nextLink as given", "cursor"
    )


@router.get(
    "/readings",
    response_model=ReadingList,
    response_model_by_alias=True,
    response_model_exclude_unset=True,  # @nextLink only when set; a null sensor stays
    summary="Raw readings",
)
def list_readings(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    selection: ReadingSelection,
    limit: Annotated[int | None, Query(ge=1, description="Readings per page.")] = None,
    cursor: Annotated[str | None, Query(description="Opaque; taken from @nextLink.")] = None,
) -> ReadingList:
    nodes, wanted, start, end = selection
    limit = limit or settings.default_limit
    if limit > settings.max_limit:
        raise ApiError(400, f"limit: at most {settings.max_limit}", "limit")
    query = ReadingQuery(
        start=start,
        end=end,
        limit=limit,
        nodes=nodes,
        quantities=wanted,
        after=_decode_cursor(cursor) if cursor else None,
    )
    rows = store.readings(query)
    next_link = None
    if len(rows) == limit:
        # Pin the range, so the next page answers the same question as this one.
        next_url = request.url.include_query_params(
            cursor=_encode_cursor(rows[-1].identity),
            **{"from": iso_utc(start), "to": iso_utc(end), "limit": limit},
        )
        next_link = str(next_url)
    return ReadingList(
        value=[ReadingPublic.of(r) for r in rows],
        **({"@nextLink": next_link} if next_link is not None else {}),
    )
