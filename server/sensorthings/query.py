"""SensorThings query options: parsed and checked once, then applied to entity lists.

    options = parse_options({"$filter": "result gt 20", "$top": "10"}, Bounds.of(settings), kind)

Evaluation order (standard): $filter, $count, $orderby, $skip, $top, then $expand and
$select on the page. Options the standard names but this server lacks answer 501.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.sensorthings.expressions import (
    Expr,
    FilterError,
    FilterUnsupported,
    Limits,
    evaluate,
    parse,
    parse_orderby,
)
from lokaalmeten.server.sensorthings.model import NAVIGATION, PROPERTIES, Entity
from lokaalmeten.server.sensorthings.noise import INDICATORS, Interval
from lokaalmeten.settings import ServerSettings

DEFAULT_TOP = 100
_KNOWN = {
    "$filter", "$orderby", "$top", "$skip", "$skiptoken", "$count", "$select", "$expand",
    "$resultFormat",
}  # fmt: skip


@dataclass
class Options:
    filter: Expr | None = None
    orderby: list[tuple[Expr, bool]] = field(default_factory=list)
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    select: list[str] = field(default_factory=list)
    expand: dict[str, Options] = field(default_factory=dict)
    data_array: bool = False
    fanout: int = 1  # as an expansion: most entities per parent (0: as many as its $top)
    after: tuple[str, str, int] | None = None  # $skiptoken: continue after this Observation


def _refuse(status: int, parameter: str, message: str) -> ApiError:
    return ApiError(status, f"{parameter}: {message}", parameter)


def _integer(text: str, parameter: str) -> int:
    # isdecimal, not isdigit: '²' is a digit that int() refuses.
    if not text.strip().isdecimal():
        raise _refuse(400, parameter, f"send a whole number ≥ 0, not {text!r}")
    return int(text)


def split_top(text: str, separator: str) -> list[str]:
    """Split at separators outside parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == separator:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0 or quoted:
        raise ValueError("unbalanced parentheses or quotes")
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True, slots=True)
class Bounds:
    """The limits of one request's query options, from the server's settings."""

    max_top: int = 10_000
    filter: Limits = field(default_factory=Limits)
    expand_depth: int = 3
    expand_top: int = 1000
    entities: int = 20_000
    skip: int = 10_000

    @classmethod
    def of(cls, settings: ServerSettings) -> Bounds:
        return cls(
            max_top=settings.max_limit,
            filter=Limits(
                settings.sta_max_filter_length,
                settings.sta_max_filter_terms,
                settings.sta_max_filter_depth,
            ),
            expand_depth=settings.sta_max_expand_depth,
            expand_top=settings.sta_max_expand_top,
            entities=settings.sta_max_entities,
            skip=settings.sta_max_skip,
        )


def parse_options(params: Mapping[str, str], bounds: Bounds, kind: str, depth: int = 0) -> Options:
    """The options of a request (``depth`` 0) or of one ``$expand`` item (1, 2, …); every
    limit is checked here, before the request does any work."""
    where = "$expand" if depth else ""
    for key in params:
        if key.startswith("$") and key not in _KNOWN:
            raise _refuse(501, key, "this query option is not supported by this server")
    options = Options()
    for name in ("$filter", "$orderby"):
        try:
            if (text := params.get(name)) is not None:
                if name == "$filter":
                    options.filter = parse(text, bounds.filter)
                else:
                    options.orderby = parse_orderby(text, bounds.filter)
        except FilterUnsupported as exc:
            raise _refuse(501, where or name, str(exc)) from None
        except FilterError as exc:
            raise _refuse(400, where or name, str(exc)) from None
    if (text := params.get("$top")) is not None:
        top = _integer(text, where or "$top")
        if depth and top > bounds.expand_top:
            raise _refuse(
                400,
                "$expand",
                f"$top={top} inside an expansion; at most {bounds.expand_top} "
                "(sta_max_expand_top): follow the expansion's @iot.nextLink for more",
            )
        options.top = min(top, bounds.max_top)  # the standard: cut to the server's limit
    if (text := params.get("$skip")) is not None:
        options.skip = _integer(text, where or "$skip")
        if options.skip > bounds.skip:
            raise _refuse(
                400,
                where or "$skip",
                f"$skip={options.skip}; at most {bounds.skip} (sta_max_skip): follow "
                "@iot.nextLink, which continues where the page ended, or narrow the $filter",
            )
    if (text := params.get("$skiptoken")) is not None:
        if depth or kind != "Observation":
            raise _refuse(400, "$skiptoken", "only Observations are continued by $skiptoken")
        options.after = parse_skiptoken(text)
    if (text := params.get("$count")) is not None:
        if text not in ("true", "false"):
            raise _refuse(400, where or "$count", f"send true or false, not {text!r}")
        options.count = text == "true"
    if (text := params.get("$resultFormat")) is not None:
        if text != "dataArray":
            raise _refuse(501, "$resultFormat", f"{text!r} is not offered; only dataArray")
        if kind != "Observation":
            raise _refuse(400, "$resultFormat", "dataArray is for Observations only")
        options.data_array = True
    if (text := params.get("$select")) is not None:
        options.select = [part.strip() for part in text.split(",") if part.strip()]
        allowed = {"@iot.id", "id", "@iot.selfLink", *PROPERTIES[kind], *NAVIGATION[kind]}
        unknown = [s for s in options.select if s not in allowed]
        if unknown:
            raise _refuse(
                400,
                where or "$select",
                f"{kind} has no {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(sorted(allowed))}",
            )
    if (text := params.get("$expand")) is not None:
        options.expand = parse_expand(text, bounds, kind, depth)
    if depth == 0:
        implied = options.top * implied_per_entity(options)
        if implied > bounds.entities:
            raise _refuse(
                400,
                "$expand" if options.expand else "$top",
                f"this request implies up to {implied} entities ($top times the page sizes of "
                f"its expansions); at most {bounds.entities} (sta_max_entities): lower $top, "
                "or $top inside $expand",
            )
    return options


def implied_per_entity(options: Options) -> int:
    """Entities one entity of a page brings along: itself and its expansions' pages.

    Iterative (the expansion tree is already bounded in depth, but nothing here recurses)."""
    total = 0
    stack: list[tuple[Options, int]] = [(options, 1)]
    while stack:
        current, weight = stack.pop()
        total += weight
        for nested in current.expand.values():
            stack.append((nested, weight * (nested.fanout or nested.top)))
    return total


# Collections whose size per parent is bounded by the data model, whatever their $top: a
# node has one (published) place and a Datastream per quantity and noise indicator at most.
FANOUT = {
    ("Thing", "Locations"): 1,
    ("Thing", "HistoricalLocations"): 1,
    ("Thing", "Datastreams"): len(QUANTITIES) + len(INDICATORS),
    ("Location", "Things"): 1,
    ("Location", "HistoricalLocations"): 1,
    ("HistoricalLocation", "Locations"): 1,
}


def parse_expand(text: str, bounds: Bounds, kind: str, depth: int = 0) -> dict[str, Options]:
    try:
        items = split_top(text, ",")
    except ValueError as exc:
        raise _refuse(400, "$expand", str(exc)) from None
    expand: dict[str, Options] = {}
    for item in items:
        head, _, inner = item.partition("(")
        path = head.strip().split("/")
        if depth + len(path) > bounds.expand_depth:
            raise _refuse(
                400,
                "$expand",
                f"nested more than {bounds.expand_depth} deep (sta_max_expand_depth); "
                "ask the deeper entities from their own entity set",
            )
        nested: dict[str, str] = {}
        if inner:
            if not inner.endswith(")"):
                raise _refuse(400, "$expand", f"{item[:80]!r}: close the options with ')'")
            try:
                parts = split_top(inner[:-1], ";")
            except ValueError as exc:
                raise _refuse(400, "$expand", f"{item[:80]!r}: {exc}") from None
            for part in parts:
                key, equals, value = part.partition("=")
                if not equals:
                    raise _refuse(400, "$expand", f"{part[:80]!r}: write $option=value")
                nested[key.strip()] = value.strip()
        current_kind, current = kind, expand
        for i, step in enumerate(path):
            if step not in NAVIGATION[current_kind]:
                raise _refuse(
                    400,
                    "$expand",
                    f"{current_kind} has no navigation property {step[:80]!r}; "
                    f"choose from {', '.join(NAVIGATION[current_kind])}",
                )
            target, many = NAVIGATION[current_kind][step]
            if i == len(path) - 1:
                current[step] = parse_options(nested, bounds, target, depth + i + 1)
            elif step not in current:
                current[step] = Options()
            current[step].fanout = FANOUT.get((current_kind, step), 0) if many else 1
            current_kind, current = target, current[step].expand
    return expand


def parse_skiptoken(text: str) -> tuple[str, str, int]:
    """``node:quantity:time`` of the last Observation of the page before (its @iot.id)."""
    rest, _, moment = text.rpartition(":")
    node, _, quantity = rest.rpartition(":")
    if not node or not quantity or not moment.lstrip("-").isdecimal():
        raise _refuse(400, "$skiptoken", "not a token this server made; follow @iot.nextLink")
    return node, quantity, int(moment)


# -- applying ----------------------------------------------------------------------------

Follow = Callable[[Entity, str], Entity | None]


def value_of(entity: Entity, path: tuple[str, ...], follow: Follow) -> Any:
    """A property path's value on an entity: ``result``, ``properties/x``, ``Thing/name``."""
    head, rest = path[0], path[1:]
    if head in ("@iot.id", "id"):
        value: Any = entity.id
    elif head in entity.props:
        value = entity.props[head]
    elif head in NAVIGATION[entity.kind] and not NAVIGATION[entity.kind][head][1]:
        target = follow(entity, head)
        return None if target is None or not rest else value_of(target, rest, follow)
    elif head in NAVIGATION[entity.kind]:
        raise ApiError(
            400,
            f"$filter: {entity.kind}/{head} is a collection; filter on it from its own "
            f"entity set, e.g. /{head}?$filter=...",
            "$filter",
        )
    else:
        raise ApiError(
            400,
            f"$filter: {entity.kind} has no property {head!r}; it has "
            f"{', '.join(PROPERTIES[entity.kind])}",
            "$filter",
        )
    for step in rest:
        value = value.get(step) if isinstance(value, dict) else None
    return value


def matches(entity: Entity, expression: Expr | None, follow: Follow) -> bool:
    if expression is None:
        return True
    try:
        return bool(evaluate(expression, lambda path: value_of(entity, path, follow)))
    except FilterError as exc:
        raise ApiError(400, f"$filter: {exc}", "$filter") from None


def sort_key(keys: list[tuple[Expr, bool]], follow: Follow) -> Callable[[Entity], Any]:
    def key(entity: Entity) -> Any:
        parts = []
        for expression, descending in keys:
            try:
                value = evaluate(expression, lambda path: value_of(entity, path, follow))
            except FilterError as exc:
                raise ApiError(400, f"$orderby: {exc}", "$orderby") from None
            parts.append(_Ordered(value, descending))
        parts.append(_Ordered(entity.id, False))  # stable order for paging
        return parts

    return key


class _Ordered:
    """Nulls first ascending; values of different types ordered by type name."""

    __slots__ = ("descending", "value")

    def __init__(self, value: Any, descending: bool) -> None:
        self.value, self.descending = value, descending

    def _rank(self) -> tuple[int, str, Any]:
        if self.value is None:
            return (0, "", 0)
        if isinstance(self.value, int | float) and not isinstance(self.value, bool):
            return (1, "number", self.value)
        return (1, type(self.value).__name__, self.value)

    def __lt__(self, other: _Ordered) -> bool:
        a, b = self._rank(), other._rank()
        if a[:2] != b[:2]:
            return a[:2] > b[:2] if self.descending else a[:2] < b[:2]
        try:
            return bool(a[2] > b[2]) if self.descending else bool(a[2] < b[2])
        except TypeError:
            return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ordered) and self._rank() == other._rank()

    __hash__ = None  # type: ignore[assignment]


def json_value(value: Any) -> Any:
    if isinstance(value, Interval) and value.end is not None:
        return (
            f"{json_value(datetime.fromtimestamp(value.timestamp(), UTC))}/{json_value(value.end)}"
        )
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date | time):
        return value.isoformat()
    return value
