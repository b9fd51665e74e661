"""The SensorThings ``$filter`` (and ``$orderby``) expression language: parse, then evaluate.

OData-style expressions over an entity's properties: comparison (eq ne gt ge lt le), logic
(and or not), arithmetic (add sub mul div mod), string, date and math functions, and the
spatial functions ``geo.intersects``, ``geo.distance``, ``st_within`` and friends on WKT
literals (``geography'POLYGON((4.8 52.3, 5.0 52.3, 5.0 52.4, 4.8 52.3))'``)::

    expression = parse("result gt 20 and year(phenomenonTime) eq 2026")
    evaluate(expression, lambda path: entity_value(path))   # True / False

A syntax error is a :class:`FilterError` (400); a function the standard names but this
server lacks is a :class:`FilterUnsupported` (501). Every expression is bounded before it
costs anything: its length, its number of operands and its nesting (counted by the parser
itself, so that no input can reach Python's recursion limit) are checked against
:class:`Limits`; the tree it makes is then at most ``terms + depth`` deep.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from lokaalmeten.server.sensorthings import geometry

Expr = tuple[Any, ...]
Resolve = Callable[[tuple[str, ...]], Any]


class FilterError(ValueError):
    """The expression is wrong; the message says where and what to write instead."""


class FilterUnsupported(FilterError):
    """A function of the standard that this server does not offer (answered 501)."""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<geo>(?:geography|geometry)'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_@$][\w@.]*(?:/[A-Za-z_@$][\w@.]*)*)
  | (?P<punct>[(),-])
    """,
    re.VERBOSE,
)
_COMPARISON = {"eq", "ne", "gt", "ge", "lt", "le"}
_ADDITIVE = {"add", "sub"}
_MULTIPLICATIVE = {"mul", "div", "mod"}
_KEYWORDS = {"and", "or", "not", *_COMPARISON, *_ADDITIVE, *_MULTIPLICATIVE}

# Functions in the standard that this server does not implement: answered 501.
_UNSUPPORTED = {
    "before", "after", "meets", "during", "overlaps", "starts", "finishes", "duration",
    "st_relate", "st_touches", "st_crosses", "st_overlaps", "geo.length",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Limits:
    """The most an expression may be; each is named in the refusal with its setting."""

    length: int = 2000  # characters (sta_max_filter_length)
    terms: int = 100  # operands: names, literals, function calls (sta_max_filter_terms)
    depth: int = 16  # parentheses, calls, `not` and unary minus (sta_max_filter_depth)


class FilterTooLarge(FilterError):
    """The expression is beyond a limit; answered 400 before any other work."""


def tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FilterError(f"cannot read {text[position : position + 15]!r} at {position}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group(), position))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, limits: Limits) -> None:
        if len(text) > limits.length:
            raise FilterTooLarge(
                f"{len(text)} characters, more than the {limits.length} allowed "
                "(sta_max_filter_length); split the question into several requests"
            )
        self.text = text
        self.limits = limits
        self.tokens = tokenize(text)
        self.at = 0
        self.depth = 0  # open parentheses, calls, `not`s and minus signs around this point
        self.terms = 0

    def enter(self, position: int) -> None:
        """Count one nesting level; the grammar recurses only through here, so Python's
        stack stays at a few frames per level, far below its recursion limit."""
        self.depth += 1
        if self.depth > self.limits.depth:
            raise FilterTooLarge(
                f"nested more than {self.limits.depth} deep at {position} "
                "(sta_max_filter_depth); remove parentheses that group nothing"
            )

    def term(self, position: int) -> None:
        self.terms += 1
        if self.terms > self.limits.terms:
            raise FilterTooLarge(
                f"more than {self.limits.terms} terms at {position} (sta_max_filter_terms); "
                "ask several narrower questions instead of one long one"
            )

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def word(self) -> str | None:
        token = self.peek()
        return token[1] if token is not None and token[0] == "name" else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise FilterError("the expression ends too early")
        self.at += 1
        return token

    def expect(self, punct: str) -> None:
        token = self.take()
        if token[1] != punct:
            raise FilterError(f"expected {punct!r} at {token[2]}, found {token[1]!r}")

    def parse(self) -> Expr:
        expr = self.or_()
        token = self.peek()
        if token is not None:
            raise FilterError(f"unexpected {token[1]!r} at {token[2]}")
        return expr

    def or_(self) -> Expr:
        expr = self.and_()
        while self.word() == "or":
            self.take()
            expr = ("or", expr, self.and_())
        return expr

    def and_(self) -> Expr:
        expr = self.not_()
        while self.word() == "and":
            self.take()
            expr = ("and", expr, self.not_())
        return expr

    def not_(self) -> Expr:
        if self.word() == "not":
            position = self.take()[2]
            self.enter(position)
            expr = ("not", self.not_())
            self.depth -= 1
            return expr
        return self.comparison()

    def comparison(self) -> Expr:
        expr = self.additive()
        word = self.word()
        if word in _COMPARISON:
            self.take()
            expr = ("cmp", word, expr, self.additive())
        return expr

    def additive(self) -> Expr:
        expr = self.multiplicative()
        while (word := self.word()) in _ADDITIVE:
            self.take()
            expr = ("math", word, expr, self.multiplicative())
        return expr

    def multiplicative(self) -> Expr:
        expr = self.unary()
        while (word := self.word()) in _MULTIPLICATIVE:
            self.take()
            expr = ("math", word, expr, self.unary())
        return expr

    def unary(self) -> Expr:
        token = self.peek()
        if token is not None and token[1] == "-":
            self.take()
            self.enter(token[2])
            expr: Expr = ("math", "sub", ("lit", 0), self.unary())
            self.depth -= 1
            return expr
        return self.primary()

    def primary(self) -> Expr:
        kind, text, position = self.take()
        if kind == "punct" and text == "(":
            self.enter(position)
            expr = self.or_()
            self.expect(")")
            self.depth -= 1
            return expr
        self.term(position)
        if kind == "string":
            return ("lit", text[1:-1].replace("''", "'"))
        if kind == "number":
            return ("lit", float(text) if any(c in text for c in ".eE") else int(text))
        if kind == "datetime":
            return ("lit", parse_datetime(text))
        if kind == "geo":
            body = text[text.index("'") + 1 : -1].replace("''", "'")
            try:
                return ("lit", geometry.parse_wkt(body))
            except geometry.GeometryError as exc:
                raise FilterError(f"geography literal at {position}: {exc}") from None
        if kind == "name":
            lowered = text.lower()
            following = self.peek()
            if following is not None and following[1] == "(":
                return self.call(lowered, position)
            if lowered in ("true", "false"):
                return ("lit", lowered == "true")
            if lowered == "null":
                return ("lit", None)
            if lowered in _KEYWORDS:
                raise FilterError(f"{text!r} at {position} needs a value before it")
            return ("path", tuple(text.split("/")))
        raise FilterError(f"unexpected {text!r} at {position}")

    def call(self, name: str, position: int) -> Expr:
        self.expect("(")
        self.enter(position)
        args: list[Expr] = []
        if self.peek() is not None and self.peek()[1] != ")":  # type: ignore[index]
            args.append(self.or_())
            while self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                self.take()
                args.append(self.or_())
        self.expect(")")
        self.depth -= 1
        if name in _UNSUPPORTED:
            raise FilterUnsupported(f"$filter: the function {name}() is not supported here")
        if name not in FUNCTIONS:
            raise FilterError(f"unknown function {name}() at {position}")
        arity = FUNCTIONS[name][0]
        if len(args) not in arity:
            wanted = " or ".join(str(n) for n in sorted(arity))
            raise FilterError(f"{name}() takes {wanted} argument(s), got {len(args)}")
        return ("call", name, tuple(args))


def parse(text: str, limits: Limits = Limits()) -> Expr:
    return _Parser(text, limits).parse()


def parse_orderby(text: str, limits: Limits = Limits()) -> list[tuple[Expr, bool]]:
    """``a desc, b`` -> [(expression, descending), ...]."""
    parser = _Parser(text, limits)
    keys = []
    while True:
        expression = parser.additive()
        descending = False
        if parser.word() in ("asc", "desc"):
            descending = parser.take()[1] == "desc"
        keys.append((expression, descending))
        token = parser.peek()
        if token is None:
            return keys
        if token[1] != ",":
            raise FilterError(f"unexpected {token[1]!r} at {token[2]}; separate keys with ','")
        parser.take()


def parse_datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- evaluation ------------------------------------------------------------------------


def evaluate(expr: Expr, resolve: Resolve) -> Any:
    kind = expr[0]
    if kind == "lit":
        return expr[1]
    if kind == "path":
        return resolve(expr[1])
    if kind == "and":
        return bool(evaluate(expr[1], resolve)) and bool(evaluate(expr[2], resolve))
    if kind == "or":
        return bool(evaluate(expr[1], resolve)) or bool(evaluate(expr[2], resolve))
    if kind == "not":
        return not evaluate(expr[1], resolve)
    if kind == "cmp":
        return compare(expr[1], evaluate(expr[2], resolve), evaluate(expr[3], resolve))
    if kind == "math":
        return arithmetic(expr[1], evaluate(expr[2], resolve), evaluate(expr[3], resolve))
    if kind == "call":
        args = [evaluate(arg, resolve) for arg in expr[2]]
        if any(a is None for a in args) and expr[1] not in ("now", "concat"):
            return None
        try:
            return FUNCTIONS[expr[1]][1](*args)
        except (TypeError, ValueError, AttributeError, IndexError) as exc:
            raise FilterError(f"{expr[1]}(): {exc}") from None
    raise FilterError(f"cannot evaluate {kind}")


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    # date(phenomenonTime) eq 2026-11-28: a day compared with a literal read as a time
    if isinstance(a, date) and not isinstance(a, datetime) and isinstance(b, datetime):
        return a, b.date()
    if isinstance(b, date) and not isinstance(b, datetime) and isinstance(a, datetime):
        return a.date(), b
    if isinstance(a, datetime) and isinstance(b, str):
        return a, parse_datetime(b)
    if isinstance(b, datetime) and isinstance(a, str):
        return parse_datetime(a), b
    return a, b


def compare(op: str, a: Any, b: Any) -> bool:
    a, b = _coerce(a, b)
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        raise FilterError(
            f"cannot compare {type(a).__name__} with {type(b).__name__} ({op})"
        ) from None


def arithmetic(op: str, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b)):
        raise FilterError(f"{op} needs numbers, got {type(a).__name__} and {type(b).__name__}")
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if b == 0:
        return None  # division by zero: no value, the comparison is then false
    return a / b if op == "div" else math.fmod(a, b)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"needs text, got {type(value).__name__}")
    return value


def _moment(value: Any) -> datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        raise TypeError(f"needs a time, got {type(value).__name__}")
    return value


def _substring(text: Any, start: Any, length: Any = None) -> str:
    s = _text(text)
    return s[int(start) :] if length is None else s[int(start) : int(start) + int(length)]


def _offset_minutes(value: Any) -> int:
    offset = _moment(value).utcoffset() or timedelta()
    return int(offset.total_seconds() // 60)


def _time_of(value: Any) -> time:
    return _moment(value).timetz().replace(tzinfo=None)


def _date_of(value: Any) -> date:
    return _moment(value).date()


FUNCTIONS: dict[str, tuple[set[int], Callable[..., Any]]] = {
    # strings
    "substringof": ({2}, lambda needle, hay: _text(needle) in _text(hay)),
    "contains": ({2}, lambda hay, needle: _text(needle) in _text(hay)),
    "endswith": ({2}, lambda s, end: _text(s).endswith(_text(end))),
    "startswith": ({2}, lambda s, start: _text(s).startswith(_text(start))),
    "length": ({1}, lambda s: len(_text(s))),
    "indexof": ({2}, lambda s, part: _text(s).find(_text(part))),
    "substring": ({2, 3}, _substring),
    "tolower": ({1}, lambda s: _text(s).lower()),
    "toupper": ({1}, lambda s: _text(s).upper()),
    "trim": ({1}, lambda s: _text(s).strip()),
    "concat": ({2}, lambda a, b: f"{'' if a is None else a}{'' if b is None else b}"),
    # dates and times
    "year": ({1}, lambda t: _moment(t).year),
    "month": ({1}, lambda t: _moment(t).month),
    "day": ({1}, lambda t: _moment(t).day),
    "hour": ({1}, lambda t: _moment(t).hour),
    "minute": ({1}, lambda t: _moment(t).minute),
    "second": ({1}, lambda t: _moment(t).second),
    "fractionalseconds": ({1}, lambda t: _moment(t).microsecond / 1e6),
    "date": ({1}, _date_of),
    "time": ({1}, _time_of),
    "totaloffsetminutes": ({1}, _offset_minutes),
    "now": ({0}, lambda: datetime.now(UTC)),
    "mindatetime": ({0}, lambda: datetime(1, 1, 1, tzinfo=UTC)),
    "maxdatetime": ({0}, lambda: datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    # math
    "round": ({1}, lambda x: math.floor(float(x) + 0.5)),
    "floor": ({1}, lambda x: math.floor(float(x))),
    "ceiling": ({1}, lambda x: math.ceil(float(x))),
    # geometry (WGS84 degrees, planar as in OData's geometry functions)
    "geo.intersects": ({2}, geometry.intersects),
    "geo.distance": ({2}, geometry.distance),
    "st_intersects": ({2}, geometry.intersects),
    "st_disjoint": ({2}, lambda a, b: not geometry.intersects(a, b)),
    "st_within": ({2}, geometry.within),
    "st_contains": ({2}, lambda a, b: geometry.within(b, a)),
    "st_equals": ({2}, geometry.equals),
}
