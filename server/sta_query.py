"""SensorThings query options: parsed and checked once, then applied to entity lists.

    options = parse_options({"$filter": "result gt 20", "$top": "10"}, settings)

Evaluation order (standard): $filter, $count, $orderby, $skip, $top, then $expand and
$select on the page. Options the standard names but this server lacks answer 501.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.sta_filter import (
    FilterError,
    FilterUnsupported,
    Node,
    evaluate,
    parse,
    parse_orderby,
)
from lokaalmeten.server.sta_model import NAVIGATION, PROPERTIES, Entity

DEFAULT_TOP = 100
_KNOWN = {"$filter", "$orderby", "$top", "$skip", "$count", "$select", "$expand", "$resultFormat"}


@dataclass
class Options:
    filter: Node | None = None
    orderby: list[tuple[Node, bool]] = field(default_factory=list)
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    select: list[str] = field(default_factory=list)
    expand: dict[str, Options] = field(default_factory=dict)
    data_array: bool = False


def _refuse(status: int, parameter: str, message: str) -> ApiError:
    return ApiError(status, f"{parameter}: {message}", parameter)


def _integer(text: str, parameter: str) -> int:
    if not text.strip().isdigit():
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


def parse_options(
    params: Mapping[str, str], max_top: int, kind: str, nested: bool = False
) -> Options:
    where = "$expand" if nested else ""
    for key in params:
        if key.startswith("$") and key not in _KNOWN:
            raise _refuse(501, key, "this query option is not supported by this server")
    options = Options()
    try:
        if (text := params.get("$filter")) is not None:
            options.filter = parse(text)
        if (text := params.get("$orderby")) is not None:
            options.orderby = parse_orderby(text)
    except FilterUnsupported as exc:
        raise _refuse(501, where or "$filter", str(exc)) from None
    except FilterError as exc:
        name = "$orderby" if "$orderby" in params and "$filter" not in params else "$filter"
        raise _refuse(400, where or name, str(exc)) from None
    if (text := params.get("$top")) is not None:
        options.top = min(_integer(text, "$top"), max_top)  # the standard: cut to the limit
    if (text := params.get("$skip")) is not None:
        options.skip = _integer(text, "$skip")
    if (text := params.get("$count")) is not None:
        if text not in ("true", "false"):
            raise _refuse(400, "$count", f"send true or false, not {text!r}")
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
                "$select",
                f"{kind} has no {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(sorted(allowed))}",
            )
    if (text := params.get("$expand")) is not None:
        options.expand = parse_expand(text, max_top, kind)
    return options


def parse_expand(text: str, max_top: int, kind: str) -> dict[str, Options]:
    try:
        items = split_top(text, ",")
    except ValueError as exc:
        raise _refuse(400, "$expand", str(exc)) from None
    expand: dict[str, Options] = {}
    for item in items:
        head, _, inner = item.partition("(")
        path = head.strip().split("/")
        nested: dict[str, str] = {}
        if inner:
            if not inner.endswith(")"):
                raise _refuse(400, "$expand", f"{item!r}: close the options with ')'")
            try:
                parts = split_top(inner[:-1], ";")
            except ValueError as exc:
                raise _refuse(400, "$expand", f"{item!r}: {exc}") from None
            for part in parts:
                key, equals, value = part.partition("=")
                if not equals:
                    raise _refuse(400, "$expand", f"{part!r}: write $option=value")
                nested[key.strip()] = value.strip()
        current_kind, current = kind, expand
        for i, step in enumerate(path):
            if step not in NAVIGATION[current_kind]:
                raise _refuse(
                    400,
                    "$expand",
                    f"{current_kind} has no navigation property {step!r}; "
                    f"choose from {', '.join(NAVIGATION[current_kind])}",
                )
            target = NAVIGATION[current_kind][step][0]
            last = i == len(path) - 1
            if step not in current:
                current[step] = (
                    parse_options(nested, max_top, target, nested=True) if last else Options()
                )
            elif last:
                current[step] = parse_options(nested, max_top, target, nested=True)
            current_kind, current = target, current[step].expand
    return expand


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


def matches(entity: Entity, expression: Node | None, follow: Follow) -> bool:
    if expression is None:
        return True
    try:
        return bool(evaluate(expression, lambda path: value_of(entity, path, follow)))
    except FilterError as exc:
        raise ApiError(400, f"$filter: {exc}", "$filter") from None


def sort_key(keys: list[tuple[Node, bool]], follow: Follow) -> Callable[[Entity], Any]:
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
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date | time):
        return value.isoformat()
    return value
