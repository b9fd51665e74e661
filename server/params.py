"""Parameters the API families share: their query types (one description each, for every
route that takes them) and their checks, each a 400 that says what to send.

    def route(node: NodeFilter = None, bbox: BboxFilter = None, from_: FromParam = None): ...

start, end = time_range(settings, "2026-11-01", "2026-11-08")
nodes = nodes_in_area(directory, settings, bbox="4.8,52.3,5.0,52.4", near=None)
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, NamedTuple

from fastapi import Depends, Query
from starlette.concurrency import run_in_threadpool

from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.server.deps import DirectoryDep, SettingsDep
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.privacy import PublicPlace, public_places
from lokaalmeten.settings import ServerSettings

DEFAULT_SPAN = 24 * 3600
EARTH_RADIUS_M = 6_371_008.8

NodeFilter = Annotated[
    list[str] | None, Query(description="Node id(s); repeat or separate with commas.")
]
# Routes about one kit (corrected PM, a chart's series) take exactly one node id.
OneNodeParam = Annotated[str, Query(description="The kit's node id.", min_length=1)]
QuantityFilter = Annotated[
    list[str] | None,
    Query(description="Quantities, e.g. pm25,pm10; repeat or separate with commas."),
]
BboxFilter = Annotated[
    str | None,
    Query(description="min_lon,min_lat,max_lon,max_lat: nodes published inside the box."),
]
NearFilter = Annotated[
    str | None, Query(description="lat,lon,radius_m: nodes published within the radius.")
]
# The time range of the raw readings: [from, to), as time_range reads it.
FromParam = Annotated[
    str | None, Query(alias="from", description="Start, inclusive; ISO 8601 (UTC if no offset).")
]
ToParam = Annotated[str | None, Query(description="End, exclusive; ISO 8601 (UTC if no offset).")]
# The time range of windowed answers (hourly or daily), widened to whole windows.
WindowFromParam = Annotated[
    str | None,
    Query(alias="from", description="Start; rounded down to the window. ISO 8601."),
]
WindowToParam = Annotated[str | None, Query(description="End; rounded up to the window. ISO 8601.")]


def split(values: list[str] | None) -> tuple[str, ...]:
    """Accept both ``node=a&node=b`` and ``node=a,b``."""
    if not values:
        return ()
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def quantities(values: list[str] | None) -> tuple[str, ...]:
    names = split(values)
    unknown = [q for q in names if q not in QUANTITIES]
    if unknown:
        raise ApiError(
            400,
            f"quantity: unknown {', '.join(map(repr, unknown))}; known: {', '.join(QUANTITIES)}",
            "quantity",
        )
    return names


def parse_time(text: str, parameter: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "+"))  # unescaped '+'
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # documented: times without an offset are UTC
        return int(moment.timestamp())
    except (ValueError, OverflowError, OSError):
        raise ApiError(
            400,
            f"{parameter}: {text!r} is not an ISO 8601 time; "
            "send e.g. 2026-11-28T10:00:00Z or 2026-11-28",
            parameter,
        ) from None


def time_range(
    settings: ServerSettings, start_text: str | None, end_text: str | None
) -> tuple[int, int]:
    """[start, end) in epoch seconds; default the last 24 hours; at most max_range_days."""
    end = parse_time(end_text, "to") if end_text else int(time.time()) + 1
    start = parse_time(start_text, "from") if start_text else end - DEFAULT_SPAN
    if start >= end:
        raise ApiError(400, "from: must be earlier than to", "from")
    if end - start > settings.max_range_days * 86400:
        raise ApiError(
            400,
            f"from/to: the range may span at most {settings.max_range_days} days; "
            "ask for a shorter range and page through it",
            "from",
        )
    return start, end


def _numbers(text: str, count: int, parameter: str, form: str) -> list[float]:
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
        raise ApiError(400, f"{parameter}: send {count} numbers: {form}", parameter)
    return numbers


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    form = "min_lon,min_lat,max_lon,max_lat (WGS84 degrees), e.g. 4.8,52.3,5.0,52.4"
    west, south, east, north = _numbers(text, 4, "bbox", form)
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise ApiError(400, f"bbox: out of range or min above max; send {form}", "bbox")
    return west, south, east, north


def parse_near(text: str, settings: ServerSettings) -> tuple[float, float, float]:
    form = "lat,lon,radius_m, e.g. 52.09,5.12,1000"
    lat, lon, radius = _numbers(text, 3, "near", form)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 < radius <= settings.max_radius_m):
        raise ApiError(
            400,
            f"near: latitude in [-90, 90], longitude in [-180, 180], radius in "
            f"(0, {settings.max_radius_m:g}] metres; send {form}",
            "near",
        )
    return lat, lon, radius


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def nodes_in_area(
    directory: DirectoryReader,
    settings: ServerSettings,
    nodes: tuple[str, ...],
    bbox: str | None,
    near: str | None,
) -> tuple[str, ...]:
    """The node filter after bbox/near, matched on the *published* (rounded) location."""
    if bbox is None and near is None:
        return nodes
    box = parse_bbox(bbox) if bbox is not None else None
    circle = parse_near(near, settings) if near is not None else None
    places: dict[str, PublicPlace] = public_places(directory, settings)
    chosen = []
    for node, place in places.items():
        if nodes and node not in nodes:
            continue
        if box is not None and not (
            box[0] <= place.longitude <= box[2] and box[1] <= place.latitude <= box[3]
        ):
            continue
        if circle is not None and (
            distance_m(circle[0], circle[1], place.latitude, place.longitude) > circle[2]
        ):
            continue
        chosen.append(node)
    # No node in the area: a filter that matches nothing (a node id no kit can have).
    return tuple(chosen) or ("\x00none",)


async def area_nodes(
    directory: DirectoryDep,
    settings: SettingsDep,
    node: NodeFilter = None,
    bbox: BboxFilter = None,
    near: NearFilter = None,
) -> tuple[str, ...]:
    """The nodes a request's node, bbox and near filters choose (``()``: every node).

    A coroutine that takes a thread only for an area, which reads the node directory: a
    plain function dependency would take a thread for every request (bench/api_clients)."""
    if bbox is None and near is None:
        return split(node)
    return await run_in_threadpool(nodes_in_area, directory, settings, split(node), bbox, near)


# The node, bbox and near filters of a route, as the nodes they choose: one dependency, so
# that a route takes the three parameters by taking this one.
AreaNodes = Annotated[tuple[str, ...], Depends(area_nodes)]


class Selection(NamedTuple):
    """What a request for readings asks for: nodes and quantities (``()``: all), [start, end)."""

    nodes: tuple[str, ...]
    quantities: tuple[str, ...]
    start: int
    end: int


def reading_selection(
    settings: SettingsDep,
    nodes: AreaNodes,
    quantity: QuantityFilter = None,
    from_: FromParam = None,
    to: ToParam = None,
) -> Selection:
    """The area, quantity and time filters of a route over raw readings, checked."""
    return Selection(nodes, quantities(quantity), *time_range(settings, from_, to))


ReadingSelection = Annotated[Selection, Depends(reading_selection)]
