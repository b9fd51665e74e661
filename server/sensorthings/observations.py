"""SensorThings Observations: read from the store as narrowly as the request allows.

Top-level ``and`` terms of ``$filter`` on ``phenomenonTime``/``resultTime`` and
``Datastream/@iot.id`` become the store query's time range and stream; the whole filter is
then applied to each reading. Without ``$orderby`` (or ordered by time within one
Datastream) the page is read in store order, reading stops after ``$skip + $top + 1`` and
the next page continues after the last Observation (``$skiptoken``); otherwise the best
``$skip + $top + 1`` by the sort keys are kept while the rest pass by. Before any scan, the
number of observations it would examine is estimated from the store's roll-ups, and a
request beyond ``max_points`` is refused with a 400 that says how to narrow it; the scan
stops at the request's time limit (503).

A noise-indicator Datastream's Observations (``Datastreams('node:lden')/Observations``, or
``/Observations`` filtered on ``Datastream/@iot.id eq 'node:lden'``) are computed by
:mod:`lokaalmeten.server.sensorthings.noise_observations`; the other collections of Observations
(``/Observations``, ``FeaturesOfInterest(…)/Observations``) hold the readings only.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from contextlib import closing
from itertools import islice

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.sensorthings.expressions import Expr
from lokaalmeten.server.sensorthings.model import Entity, EntitySource, observation
from lokaalmeten.server.sensorthings.noise import INDICATORS
from lokaalmeten.server.sensorthings.noise_observations import indicator_page
from lokaalmeten.server.sensorthings.query import DEFAULT_TOP, Options, matches, sort_key
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import ReadingQuery

_TIME_END = 2**34  # later than any reading (year 2514)


_TIMES = (("phenomenonTime",), ("resultTime",))


def _time_bounds(
    expression: Expr | None, times: tuple[tuple[str, ...], ...] = _TIMES
) -> tuple[int, int, str | None, bool]:
    """[start, end) and a Datastream id that the top-level ``and`` of a filter implies, so
    that the store reads only those observations (the filter is still applied whole), and
    whether they say all the filter says (then the store can count the matches). ``times``:
    the time properties whose terms bound [start, end)."""
    start, end, datastream, whole_filter = -(2**34), _TIME_END, None, True
    conjuncts: list[Expr] = []
    stack = [expression] if expression is not None else []
    while stack:
        node = stack.pop()
        if node[0] == "and":
            stack += [node[1], node[2]]
        else:
            conjuncts.append(node)
    flip = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq", "ne": "ne"}
    for node in conjuncts:
        if node[0] != "cmp":
            whole_filter = False
            continue
        op, left, right = node[1], node[2], node[3]
        if right[0] == "path" and left[0] == "lit":
            op, left, right = flip[op], right, left
        if left[0] != "path" or right[0] != "lit":
            whole_filter = False
            continue
        path, value = left[1], right[1]
        if path in (("Datastream", "@iot.id"), ("Datastream", "id")) and op == "eq":
            datastream = str(value)
            continue
        if path not in times or not hasattr(value, "timestamp") or op == "ne":
            whole_filter = False
            continue
        t = value.timestamp()
        whole = int(t // 1)
        if op in ("gt", "ge"):
            start = max(start, whole + 1 if op == "gt" or whole < t else whole)
        elif op in ("lt", "le"):
            end = min(end, whole + 1 if op == "le" or whole < t else whole)
        elif op == "eq":
            if whole < t:
                end = start  # no reading has a fractional time
            start, end = max(start, whole), min(end, whole + 1)
    return start, end, datastream, whole_filter


def _names(streams: list[tuple[str, str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The nodes and the quantities of some streams: a store filter that holds them all."""
    return tuple(sorted({n for n, _ in streams})), tuple(sorted({q for _, q in streams}))


def observation_page(
    scope: dict[str, str], options: Options, source: EntitySource, settings: ServerSettings
) -> tuple[list[Entity], int | None, bool, bool]:
    """(page, @iot.count if asked, whether more follow, whether the page is in store order
    so that the next one continues after its last Observation)."""
    if scope.keys() == {"node", "quantity"}:
        prefetched = source.pages.get((id(options), (scope["node"], scope["quantity"])))
        if prefetched is not None:
            return prefetched
    start, end, datastream, whole_filter = _time_bounds(options.filter)
    nodes = (scope["node"],) if "node" in scope else ()
    quantities = (scope["quantity"],) if "quantity" in scope else ()
    if datastream is not None:
        node, _, quantity = datastream.rpartition(":")
        if (nodes and nodes != (node,)) or (quantities and quantities != (quantity,)):
            return [], 0 if options.count else None, False, False
        nodes, quantities = (node,), (quantity,)
    if quantities and quantities[0] in INDICATORS:
        if not nodes:  # ObservedProperties('lden') has no navigation to Observations
            return [], 0 if options.count else None, False, False
        # A day's phenomenonTime compares as its start, its resultTime is its end.
        starts = _time_bounds(options.filter, (("phenomenonTime",),))[:2]
        ends = _time_bounds(options.filter, (("resultTime",),))[:2]
        return indicator_page(nodes[0], quantities[0], starts, ends, options, source, settings)
    if len(nodes) == len(quantities) == 1 and "sensor" not in scope:
        # One stream named (a Datastream's Observations): nothing to list; a stream without
        # readings reads and counts none, as an empty list would answer.
        streams = [(nodes[0], quantities[0])]
    else:
        streams = source.store.streams(nodes, quantities)
    if "sensor" in scope:
        streams = [s for s in streams if source.datastream(*s).keys["sensor"] == scope["sensor"]]
    if not streams or start >= end:
        return [], 0 if options.count else None, False, False
    keys = options.orderby
    time_keys = [
        k for k, _ in keys if k in (("path", ("phenomenonTime",)), ("path", ("resultTime",)))
    ]
    descending = bool(keys) and keys[0][1]
    in_store_order = not keys or (len(streams) == 1 and len(time_keys) == len(keys) == 1)
    after = options.after if in_store_order else None
    wanted = options.skip + options.top + 1
    follow = source.follow
    # Without a scan (the filter is all time range and stream, in store order) the store
    # reads at most `wanted` rows and counts from its index; any other request reads every
    # observation in range: its size is estimated from the store's roll-ups first.
    scans = not (whole_filter and in_store_order)
    if scans:
        # One estimate over the streams' nodes and quantities: the streams themselves when
        # no sensor narrowed them, else a few more (an estimate may say more, never less).
        estimate = source.store.estimate(
            ReadingQuery(
                start, end, 1, *_names(streams) if "sensor" in scope else (nodes, quantities)
            )
        )
        if estimate > settings.max_points:
            raise ApiError(
                400,
                f"$filter: this request would examine about {estimate} observations, more "
                f"than {settings.max_points} (max_points); narrow it with phenomenonTime "
                "ge … and phenomenonTime lt …, or ask one Datastream",
                "$filter",
            )
    deadline = source.deadline

    def candidates() -> Iterator[Entity]:
        # Every stream in one store call (one round trip on InfluxDB); without a scan no
        # stream gives the page more than `wanted`.
        query = ReadingQuery(start, end, settings.max_limit, nodes, quantities, after,
                             descending=descending and in_store_order)  # fmt: skip
        batch = min(10_000, max(DEFAULT_TOP, wanted))
        each = None if scans else wanted
        with closing(source.store.stream_each(streams, query, batch, each)) as chunks:
            for chunk in chunks:
                deadline.check()
                for row in chunk.rows:
                    entity = observation(chunk.node, chunk.quantity, row, chunk.tags)
                    if matches(entity, options.filter, follow):
                        yield entity

    count: int | None = None
    if options.count and not scans:
        if "sensor" in scope:  # some of the filters' streams left out: count those kept
            counts = source.store.counts(
                ReadingQuery(start, end, settings.max_limit, *_names(streams))
            )
            count = sum(counts.get(s, 0) for s in streams)
        else:  # the filters' streams, all of them: one count, however many streams
            count = source.store.count(
                ReadingQuery(start, end, settings.max_limit, nodes, quantities)
            )
    counted = 0

    def counting(entities: Iterator[Entity]) -> Iterator[Entity]:
        nonlocal counted
        for entity in entities:
            counted += 1
            yield entity

    found = counting(candidates())
    if in_store_order:
        # The page in the store's order; the rest is only counted, never held.
        page = list(islice(found, wanted))
        if options.count and scans:
            for _ in found:
                pass
    else:
        # The best `wanted` by the sort keys: memory for one page, not for every match.
        page = heapq.nsmallest(wanted, found, key=sort_key(keys, follow))
    if options.count and count is None:
        count = counted
    return page[options.skip : wanted - 1], count, len(page) >= wanted, in_store_order


Page = tuple[list[Entity], int | None, bool, bool]


def prefetch_pages(
    scopes: list[dict[str, str]], options: Options, source: EntitySource, settings: ServerSettings
) -> None:
    """The Observations of many Datastreams with the same options (a page of Datastreams'
    ``$expand=Observations``) in one store read and at most one estimate or count, kept in
    ``source.pages`` for :func:`observation_page` to answer from. Left to it, one store read
    each: indicator Datastreams, a ``$skiptoken`` or a Datastream filter, and a scan larger
    than ``max_points`` in all (each Datastream's own may still pass)."""
    source.indicator_nodes.update(
        scope["node"] for scope in scopes if scope.get("quantity") in INDICATORS
    )
    start, end, datastream, whole_filter = _time_bounds(options.filter)
    streams = sorted(
        {
            (scope["node"], scope["quantity"])
            for scope in scopes
            if scope.keys() == {"node", "quantity"}
            and scope["quantity"] in QUANTITIES
            and (id(options), (scope["node"], scope["quantity"])) not in source.pages
        }
    )
    if not streams or datastream is not None or options.after is not None or start >= end:
        return
    keys = options.orderby
    time_keys = [
        k for k, _ in keys if k in (("path", ("phenomenonTime",)), ("path", ("resultTime",)))
    ]
    in_order = not keys or len(time_keys) == len(keys) == 1
    scans = not (whole_filter and in_order)
    nodes, quantities = _names(streams)
    query = ReadingQuery(start, end, settings.max_limit, nodes, quantities,
                         descending=in_order and bool(keys) and keys[0][1])  # fmt: skip
    if scans and source.store.estimate(query) > settings.max_points:
        return
    wanted = options.skip + options.top + 1
    follow = source.follow
    found: dict[tuple[str, str], list[Entity]] = {s: [] for s in streams}
    each = None if scans else wanted
    batch = min(10_000, max(DEFAULT_TOP, wanted))
    with closing(source.store.stream_each(streams, query, batch, each)) as chunks:
        for chunk in chunks:
            source.deadline.check()
            kept = found[(chunk.node, chunk.quantity)]
            for row in chunk.rows:
                entity = observation(chunk.node, chunk.quantity, row, chunk.tags)
                if matches(entity, options.filter, follow):
                    kept.append(entity)
    counts = source.store.counts(query) if options.count and not scans else {}
    for stream, matched in found.items():
        count = (counts.get(stream, 0) if not scans else len(matched)) if options.count else None
        page = (
            matched[:wanted]
            if in_order
            else heapq.nsmallest(wanted, matched, key=sort_key(keys, follow))
        )
        source.pages[(id(options), stream)] = (
            page[options.skip : wanted - 1],
            count,
            len(page) >= wanted,
            in_order,
        )
