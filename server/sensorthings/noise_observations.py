"""The Observations of one noise-indicator Datastream (``node:lden`` …): computed per request,
only for the local days the request needs.

The days asked for are those of the node's LAeq readings, narrowed by the top-level time
terms of ``$filter`` (``phenomenonTime`` is the day's interval and compares as its start,
``resultTime`` its end) and by ``$skiptoken``. In the Datastream's own order (none, or
``$orderby=phenomenonTime``/``resultTime`` alone, ascending or descending) they are computed
from the first (or last) day on until the page is full: first as many days as the page
needs, then twice as many while gaps leave it short, at most ``max_range_days`` at a time; a
request that needs every day (``$count=true``, or another order) first counts its hours and
is refused beyond ``max_points``, as a scan of readings is. The whole ``$filter`` is applied
to each day; the request's time limit is checked between the chunks.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import date, timedelta

from lokaalmeten.noise_indicators import QUANTITY
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.sensorthings.model import Entity, EntitySource, indicator_observation
from lokaalmeten.server.sensorthings.noise import local_day_of
from lokaalmeten.server.sensorthings.query import Options, matches, sort_key
from lokaalmeten.settings import ServerSettings

# A day's end is at most 25 hours after its start: a resultTime bound reaches back so far.
_LONGEST_DAY = 25 * 3600


def indicator_page(
    node: str,
    name: str,
    starts: tuple[int, int],
    ends: tuple[int, int],
    options: Options,
    source: EntitySource,
    settings: ServerSettings,
) -> tuple[list[Entity], int | None, bool, bool]:
    """(page, @iot.count if asked, whether more follow, whether the next page continues by
    $skiptoken) of the Datastream ``node:name``: the days that start within ``starts`` and
    end within ``ends`` ([first, end) epoch seconds, from the filter's time terms)."""
    empty: tuple[list[Entity], int | None, bool, bool] = (
        [], 0 if options.count else None, False, False
    )  # fmt: skip
    span = source.spans.get((node, QUANTITY))
    if span is None:
        return empty
    keys = options.orderby
    time_keys = [
        k for k, _ in keys if k in (("path", ("phenomenonTime",)), ("path", ("resultTime",)))
    ]
    in_order = not keys or len(time_keys) == len(keys) == 1
    descending = bool(keys) and keys[0][1]
    low = max(span[0], starts[0], ends[0] - _LONGEST_DAY)
    high = min(span[1] + 1, starts[1], ends[1])
    if options.after is not None and options.after[:2] != (node, name):
        raise ApiError(
            400,
            "$skiptoken: not a token of this Datastream's pages; follow @iot.nextLink",
            "$skiptoken",
        )
    # $skiptoken: the page before ended with the day that starts at `after`.
    after = options.after[2] if in_order and options.after is not None else None
    if after is not None:
        if descending:
            high = min(high, after)
        else:
            low = max(low, after + 1)
    if low >= high:
        return empty
    first, last = local_day_of(low), local_day_of(high - 1)
    if first is None or last is None:
        return empty
    days = (last - first).days + 1
    whole = options.count or not in_order
    if whole and 24 * days > settings.max_points:
        raise ApiError(
            400,
            f"$filter: this request would examine about {24 * days} hours of LAeq, more than "
            f"{settings.max_points} (max_points); narrow it with phenomenonTime ge … and "
            "phenomenonTime lt …",
            "$filter",
        )
    wanted = options.skip + options.top + 1
    follow = source.follow
    threshold_db = settings.noise_threshold_db
    found: list[Entity] = []
    backwards = in_order and descending
    for begin, stop in _chunks(first, last, wanted, settings.max_range_days, whole, backwards):
        source.deadline.check()
        part = []
        for day in source.indicator_days(node, begin, stop):
            if after is not None and (day.start >= after if backwards else day.start <= after):
                continue  # on the page before
            entity = indicator_observation(day, name, threshold_db)
            if matches(entity, options.filter, follow):
                part.append(entity)
        found += reversed(part) if backwards else part
        if in_order and not whole and len(found) >= wanted:
            break
    count = len(found) if options.count else None
    if not in_order:
        found = heapq.nsmallest(wanted, found, key=sort_key(keys, follow))
    return found[options.skip : wanted - 1], count, len(found) >= wanted, in_order


def _chunks(
    first: date, last: date, wanted: int, most: int, whole: bool, backwards: bool
) -> Iterator[tuple[date, date]]:
    """[begin, stop) spans of days from ``first`` to ``last`` (inclusive), from the last one
    back if ``backwards``. A page begins with as many days as it needs (a node usually has
    every day) and doubles while gaps leave it short, up to ``most`` days at a time; a
    request for every day takes ``most`` at once."""
    size = most if whole else max(1, min(most, wanted))
    end = last + timedelta(days=1)
    at = end if backwards else first
    while first < at if backwards else at < end:
        if backwards:
            begin = max(first, at - timedelta(days=size))
            yield begin, at
            at = begin
        else:
            stop = min(end, at + timedelta(days=size))
            yield at, stop
            at = stop
        size = min(most, 2 * size)
