"""SensorThings Observations: read from the store as narrowly as the request allows.

Top-level ``and`` terms of ``$filter`` on ``phenomenonTime``/``resultTime`` and
``Datastream/@iot.id`` become the store query's time range and stream; the whole filter is
then applied to each reading. Without ``$orderby`` (or ordered by time within one
Datastream) the page is read in store order and reading stops after ``$skip + $top + 1``;
otherwise candidates are collected and sorted. Either way a request that would examine more
than ``max_points`` readings is refused with a 400 that says how to narrow it.
"""

from __future__ import annotations

from collections.abc import Iterator

from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.sta_filter import Node
from lokaalmeten.server.sta_model import Catalogue, Entity, observation
from lokaalmeten.server.sta_query import DEFAULT_TOP, Options, matches, sort_key
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import ReadingQuery

_TIME_END = 2**34  # later than any reading (year 2514)


def _time_bounds(expression: Node | None) -> tuple[int, int, str | None, bool]:
    """[start, end) and a Datastream id that the top-level ``and`` of a filter implies, so
    that the store reads only those observations (the filter is still applied whole), and
    whether they say all the filter says (then the store can count the matches)."""
    start, end, datastream, whole_filter = -(2**34), _TIME_END, None, True
    conjuncts: list[Node] = []
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
        if (
            path not in (("phenomenonTime",), ("resultTime",))
            or not hasattr(value, "timestamp")
            or op == "ne"
        ):
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


def observation_page(
    scope: dict[str, str], options: Options, catalogue: Catalogue, settings: ServerSettings
) -> tuple[list[Entity], int | None, bool]:
    start, end, datastream, whole_filter = _time_bounds(options.filter)
    nodes = (scope["node"],) if "node" in scope else ()
    quantities = (scope["quantity"],) if "quantity" in scope else ()
    if datastream is not None:
        node, _, quantity = datastream.rpartition(":")
        if (nodes and nodes != (node,)) or (quantities and quantities != (quantity,)):
            return [], 0 if options.count else None, False
        nodes, quantities = (node,), (quantity,)
    streams = catalogue.store.streams(nodes, quantities)
    if "sensor" in scope:
        streams = [s for s in streams if catalogue.datastream(*s).keys["sensor"] == scope["sensor"]]
    if not streams or start >= end:
        return [], 0 if options.count else None, False
    keys = options.orderby
    time_keys = [
        k for k, _ in keys if k in (("path", ("phenomenonTime",)), ("path", ("resultTime",)))
    ]
    descending = bool(keys) and keys[0][1]
    in_store_order = not keys or (len(streams) == 1 and len(time_keys) == len(keys) == 1)
    wanted = options.skip + options.top + 1
    limit = settings.max_points
    follow = catalogue.follow

    def candidates() -> Iterator[Entity]:
        examined = 0
        for node, quantity in streams:
            query = ReadingQuery(start, end, settings.max_limit, (node,), (quantity,),
                                 descending=descending and in_store_order)  # fmt: skip
            batch = min(10_000, max(DEFAULT_TOP, wanted))
            for chunk in catalogue.store.stream(query, batch=batch):
                for row in chunk.rows:
                    examined += 1
                    if examined > limit:
                        raise ApiError(
                            400,
                            f"$filter: this request would examine more than {limit} "
                            "observations; narrow it with phenomenonTime ge … and "
                            "phenomenonTime lt …, or ask one Datastream",
                            "$filter",
                        )
                    entity = observation(node, quantity, row, chunk.tags)
                    if matches(entity, options.filter, follow):
                        yield entity

    if in_store_order and (not options.count or whole_filter):
        # The page from the store in its order; a count, when asked, from the store too.
        count = None
        if options.count:
            count = sum(
                catalogue.store.count(
                    ReadingQuery(start, end, settings.max_limit, (node,), (quantity,))
                )
                for node, quantity in streams
            )
        page: list[Entity] = []
        for entity in candidates():
            page.append(entity)
            if len(page) >= wanted:
                break
        return page[options.skip : wanted - 1], count, len(page) >= wanted
    found = list(candidates())
    if keys:
        found.sort(key=sort_key(keys, follow))
    end_index = options.skip + options.top
    return (
        found[options.skip : end_index],
        len(found) if options.count else None,
        len(found) > end_index,
    )
