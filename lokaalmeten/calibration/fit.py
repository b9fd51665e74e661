"""Co-location fits: per kit near a reference station, reference = slope · kit + offset.

For every kit within ``radius_m`` of a station that has imported values of the same quantity
(the nearest such station), each hour is paired when all of these hold:

- the kit's hourly mean of the quantity is valid (the store's hourly aggregate, ≥ 75 %
  coverage; the store leaves flagged readings out of it),
- the kit's own humidity has a valid hourly mean, below 95 % RH (above it PM is not
  correctable, :mod:`.humidity`),
- the station has a value for that hour.

The kit's value is humidity-corrected first (κ-Köhler with the hour's mean humidity), so the
fit takes up the sensor's own response, not the weather: the served calibrated value is
``slope · corrected + offset``. The fit is ordinary least squares of the reference on the
corrected kit value: the reference is the better instrument, so its values are the ones
predicted; with at least :data:`MIN_PAIRS` hours and a reasonable spread of concentrations
it is what the field uses (e.g. Samen Meten's calibration of kits against Luchtmeetnet).
A robust fit would need tuning constants that a municipality cannot check; the book keeps
r² and RMSE beside each fit so that a poor one is seen::

    outcomes = calibrate(store, book, places={"kit-1": (52.10, 5.12)}, radius_m=2000,
                         start=t0, end=t1, kappa=0.4)
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lokaalmeten.calibration.book import CalibrationBook, Fit
from lokaalmeten.calibration.humidity import METHOD, METHOD_VERSION, corrected
from lokaalmeten.calibration.reference import Station
from lokaalmeten.server.params import distance_m
from lokaalmeten.store import AggregateQuery, Store

MIN_PAIRS = 24  # a day of hours at the least: fewer says too little about slope and offset
FIT_MODEL = "ols-1"  # part of every version: another fitting method makes new versions
PM_QUANTITIES = ("pm25", "pm10")


class FitError(ValueError):
    """No line can be fitted to the pairs; the message says why."""


@dataclass(frozen=True, slots=True)
class Pair:
    hour: int
    raw: float  # the kit's hourly mean, µg/m³
    humidity: float  # the kit's hourly mean RH, %
    corrected: float  # raw, humidity-corrected
    reference: float  # the station's hourly value


@dataclass(frozen=True, slots=True)
class Line:
    slope: float
    offset: float
    n: int
    r2: float
    rmse: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """What calibrating one kit's stream came to; ``fit`` None with ``reason`` when none."""

    node: str
    quantity: str
    station: str | None
    distance_m: float | None
    fit: Fit | None
    new: bool  # a new version was kept (False: the same inputs were fitted before)
    reason: str
    pairs: int = 0
    too_humid: int = 0  # hours left out at >= 95 % RH
    no_humidity: int = 0  # hours left out for want of a valid humidity mean


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> Line:
    """y = slope · x + offset by ordinary least squares, with r² and RMSE of the fit."""
    n = len(xs)
    if n < 2:
        raise FitError(f"{n} pairs: at least 2 are needed")
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx <= 1e-12 * max(1.0, mean_x * mean_x) * n:
        raise FitError("the kit's values do not vary: no slope can be fitted")
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    offset = mean_y - slope * mean_x
    residual = sum((y - (slope * x + offset)) ** 2 for x, y in zip(xs, ys, strict=True))
    total = sum((y - mean_y) ** 2 for y in ys)
    r2 = 1 - residual / total if total > 0 else 0.0
    return Line(slope, offset, n, r2, math.sqrt(residual / n))


def nearest(
    place: tuple[float, float], stations: Sequence[Station], radius_m: float
) -> tuple[Station, float] | None:
    """The nearest of ``stations`` within ``radius_m`` of ``place``, with its distance."""
    best: tuple[Station, float] | None = None
    for station in stations:
        away = distance_m(place[0], place[1], station.latitude, station.longitude)
        if away <= radius_m and (best is None or away < best[1]):
            best = (station, away)
    return best


def hourly_pairs(
    store: Store,
    book: CalibrationBook,
    node: str,
    quantity: str,
    station: str,
    start: int,
    end: int,
    kappa: float,
    threshold: int,
) -> tuple[list[Pair], int, int]:
    """The paired hours of a kit and a station in [start, end), and the hours left out as
    too humid and for want of humidity."""
    windows = store.aggregates(
        AggregateQuery(start, end, 3600, (node,), (quantity, "humidity"), threshold)
    )
    # A valid hour has counted readings, so its value (their mean) is never None.
    pm = {
        w.start: w.value
        for w in windows
        if w.quantity == quantity and w.valid_hours >= 1 and w.value is not None
    }
    humidity = {
        w.start: w.value
        for w in windows
        if w.quantity == "humidity" and w.valid_hours and w.value is not None
    }
    reference = book.reference(station, quantity, start, end)
    pairs: list[Pair] = []
    too_humid = no_humidity = 0
    for hour in sorted(pm.keys() & reference.keys()):
        if hour not in humidity:
            no_humidity += 1
            continue
        dry = corrected(pm[hour], humidity[hour], kappa)
        if dry is None:
            too_humid += 1
            continue
        pairs.append(Pair(hour, pm[hour], humidity[hour], dry, reference[hour]))
    return pairs, too_humid, no_humidity


def fit_version(node: str, quantity: str, station: str, kappa: float, pairs: Sequence[Pair]) -> str:
    """A digest of everything a fit is made from: the same inputs, the same version."""
    digest = hashlib.sha256(
        f"{FIT_MODEL}|{METHOD}-{METHOD_VERSION}|{node}|{quantity}|{station}|{kappa!r}".encode()
    )
    for pair in pairs:
        digest.update(f"|{pair.hour}:{pair.raw!r}:{pair.humidity!r}:{pair.reference!r}".encode())
    return digest.hexdigest()[:16]


def method_name(kappa: float) -> str:
    return f"{METHOD}-{METHOD_VERSION} kappa={kappa:g}"


def calibrate(
    store: Store,
    book: CalibrationBook,
    places: Mapping[str, tuple[float, float]],
    radius_m: float,
    start: int | None,
    end: int | None,
    kappa: float,
    default_threshold: int = 19,
    thresholds: Mapping[str, int] | None = None,
    now: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Fit every PM stream of every placed kit near a station and keep new versions in the
    book. ``start``/``end`` None: the whole span of the station's imported series."""
    made = int(time.time()) if now is None else now
    stations = {station.number: station for station in book.stations()}
    series = {(s, q): (first, last + 3600) for s, q, first, last, _ in book.series()}
    outcomes = []
    for node in sorted(places):
        for quantity in [q for _, q in store.streams((node,), PM_QUANTITIES)]:
            if progress is not None:
                progress(f"{node} {quantity}")
            candidates = [stations[s] for s, q in series if q == quantity and s in stations]
            found = nearest(places[node], candidates, radius_m)
            if found is None:
                reason = (
                    f"no station within {radius_m:g} m"
                    if candidates
                    else f"no station with {quantity} values has a place: import its "
                    "station file (or a CSV with latitude, longitude)"
                )
                outcomes.append(Outcome(node, quantity, None, None, None, False, reason))
                continue
            station, away = found
            first, last = series[(station.number, quantity)]
            span = (first if start is None else start, last if end is None else end)
            threshold = (thresholds or {}).get(node, default_threshold)
            pairs, too_humid, no_humidity = hourly_pairs(
                store, book, node, quantity, station.number, *span, kappa, threshold
            )
            counts = {"pairs": len(pairs), "too_humid": too_humid, "no_humidity": no_humidity}
            if len(pairs) < MIN_PAIRS:
                reason = f"{len(pairs)} paired hours, at least {MIN_PAIRS} are needed"
                outcomes.append(
                    Outcome(node, quantity, station.number, away, None, False, reason, **counts)
                )
                continue
            try:
                line = least_squares([p.corrected for p in pairs], [p.reference for p in pairs])
            except FitError as exc:
                outcomes.append(
                    Outcome(node, quantity, station.number, away, None, False, str(exc), **counts)
                )
                continue
            fit = Fit(
                version=fit_version(node, quantity, station.number, kappa, pairs),
                node=node,
                quantity=quantity,
                station=station.number,
                distance_m=round(away, 1),
                method=method_name(kappa),
                kappa=kappa,
                start=pairs[0].hour,
                end=pairs[-1].hour + 3600,
                slope=line.slope,
                offset=line.offset,
                n=line.n,
                r2=line.r2,
                rmse=line.rmse,
                made=made,
            )
            new = book.record(fit)
            if not new:
                fit = book.fit(fit.version) or fit  # the kept one, made when first fitted
            outcomes.append(
                Outcome(
                    node,
                    quantity,
                    station.number,
                    away,
                    fit,
                    new,
                    "new version" if new else "unchanged (same inputs as before)",
                    **counts,
                )
            )
    return outcomes
