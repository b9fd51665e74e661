"""Planar geometry for SensorThings' spatial filters, on GeoJSON-shaped dicts in WGS84
degrees: WKT literals in, point/line/polygon tests out.

    area = parse_wkt("POLYGON((4.8 52.3, 5.0 52.3, 5.0 52.4, 4.8 52.4, 4.8 52.3))")
    within({"type": "Point", "coordinates": [4.9, 52.35]}, area)   # True
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

Geometry = dict[str, Any]
Point = tuple[float, float]

_NUMBER_PAIR = re.compile(r"^\s*(-?[\d.]+(?:[eE][+-]?\d+)?)\s+(-?[\d.]+(?:[eE][+-]?\d+)?)\s*$")


class GeometryError(ValueError):
    pass


def _pairs(text: str) -> list[list[float]]:
    found = []
    for part in text.split(","):
        match = _NUMBER_PAIR.match(part)
        if match is None:
            raise GeometryError(f"{part.strip()!r} is not 'x y'")
        found.append([float(match.group(1)), float(match.group(2))])
    return found


def parse_wkt(text: str) -> Geometry:
    """POINT, LINESTRING and POLYGON in WKT (x = longitude, y = latitude)."""
    match = re.fullmatch(r"\s*(POINT|LINESTRING|POLYGON)\s*\((.*)\)\s*", text, re.IGNORECASE)
    if match is None:
        raise GeometryError(
            f"{text[:40]!r}: write POINT(x y), LINESTRING(x y, …) or POLYGON((x y, …))"
        )
    kind, body = match.group(1).upper(), match.group(2)
    if kind == "POINT":
        (point,) = _pairs(body) or [[]]
        return {"type": "Point", "coordinates": point}
    if kind == "LINESTRING":
        return {"type": "LineString", "coordinates": _pairs(body)}
    rings = re.findall(r"\(([^()]*)\)", body)
    if not rings:
        raise GeometryError("a POLYGON needs rings: POLYGON((x y, x y, x y, x y))")
    parsed = [_pairs(ring) for ring in rings]
    if any(len(ring) < 4 or ring[0] != ring[-1] for ring in parsed):
        raise GeometryError("a polygon ring needs at least 4 points, the last equal to the first")
    return {"type": "Polygon", "coordinates": parsed}


def _check(geometry: Any) -> Geometry:
    if not isinstance(geometry, dict) or geometry.get("type") not in (
        "Point",
        "LineString",
        "Polygon",
    ):
        raise TypeError("needs a geometry (a location or a geography'…' literal)")
    return geometry


def _segments(geometry: Geometry) -> list[tuple[Point, Point]]:
    if geometry["type"] == "Point":
        return []
    lines = geometry["coordinates"] if geometry["type"] == "Polygon" else [geometry["coordinates"]]
    return [((a[0], a[1]), (b[0], b[1])) for line in lines for a, b in itertools.pairwise(line)]


def _vertices(geometry: Geometry) -> list[Point]:
    if geometry["type"] == "Point":
        x, y = geometry["coordinates"]
        return [(x, y)]
    return [a for a, _ in _segments(geometry)] + [b for _, b in _segments(geometry)[-1:]]


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    if abs(cross) > 1e-12:
        return False
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _in_ring(p: Point, ring: list[list[float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > p[1]) != (y2 > p[1]) and p[0] < (x2 - x1) * (p[1] - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _covers_point(geometry: Geometry, p: Point) -> bool:
    """The point lies in or on the geometry."""
    if geometry["type"] == "Point":
        return _vertices(geometry)[0] == p
    if any(_on_segment(p, a, b) for a, b in _segments(geometry)):
        return True
    if geometry["type"] == "Polygon":
        outer, *holes = geometry["coordinates"]
        return _in_ring(p, outer) and not any(_in_ring(p, hole) for hole in holes)
    return False


def _cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    def side(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0


def intersects(a: Any, b: Any) -> bool:
    a, b = _check(a), _check(b)
    if any(_covers_point(b, p) for p in _vertices(a)):
        return True
    if any(_covers_point(a, p) for p in _vertices(b)):
        return True
    return any(_cross(p, q, r, s) for p, q in _segments(a) for r, s in _segments(b))


def within(a: Any, b: Any) -> bool:
    a, b = _check(a), _check(b)
    if not all(_covers_point(b, p) for p in _vertices(a)):
        return False
    return not any(_cross(p, q, r, s) for p, q in _segments(a) for r, s in _segments(b))


def equals(a: Any, b: Any) -> bool:
    a, b = _check(a), _check(b)
    return a["type"] == b["type"] and set(_vertices(a)) == set(_vertices(b))


def _point_segment(p: Point, a: Point, b: Point) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    if dx == dy == 0:
        return math.dist(p, a)
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)))
    return math.dist(p, (a[0] + t * dx, a[1] + t * dy))


def distance(a: Any, b: Any) -> float:
    """Planar distance in degrees (0 when they intersect)."""
    a, b = _check(a), _check(b)
    if intersects(a, b):
        return 0.0
    candidates = [math.dist(p, q) for p in _vertices(a) for q in _vertices(b)]
    candidates += [_point_segment(p, s, e) for p in _vertices(a) for s, e in _segments(b)]
    candidates += [_point_segment(p, s, e) for p in _vertices(b) for s, e in _segments(a)]
    return min(candidates)
