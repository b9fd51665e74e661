"""The daily noise indicators as SensorThings Datastreams of their own: their ids, their
ObservedProperties and their Observations' properties, from :mod:`lokaalmeten.noise_indicators`.

A node with ``noise_laeq`` readings has, beside its Datastream per quantity, four more:
``node:lden``, ``node:lday``, ``node:levening`` and ``node:lnight``. Their Observations are
the local days (Europe/Amsterdam) that /v1/noise/indicators lists for the node, ids
``node:lden:<epoch of the local day's first second>``::

    indicator_id("kit-1:lden:1774738800")   # ("kit-1", "lden", 1774738800)
    observation_props(day, "lden", 55.0)     # phenomenonTime, result, parameters, …

The indicator names are not quantity names, so ``node:name`` and ``node:name:epoch`` read the
same way as a quantity's ids and never mean two things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from lokaalmeten.noise_indicators import (
    AMSTERDAM,
    NEEDED_HOURS,
    QUANTITY,
    VALID_HOURS_PER_DAY,
    DayIndicators,
    local_days,
)
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.server.catalogue import VALID_PERCENT

DIRECTIVE = "https://eur-lex.europa.eu/eli/dir/2002/49/oj"
UNIT = QUANTITIES[QUANTITY].unit
DIGITS = 2  # decimals of a level, as in /v1/export/noise.csv
METHOD = (
    "Energetic mean of the node's counted LAeq readings (flagged readings left out) over "
    "the period's local clock hours: day 07-19, evening 19-23, night 23-07 (the night of a "
    "date is its hours 00-07 and 23-24), Europe/Amsterdam; Lden = 10*lg((12*10^(Lday/10) + "
    "4*10^((Levening+5)/10) + 8*10^((Lnight+10)/10))/24), Directive 2002/49/EC Annex I."
)
VALIDITY = (
    f"An hour is valid with at least {VALID_PERCENT} of the readings its node's interval "
    f"makes; a period is valid with at least {VALID_PERCENT} of its hours valid; Lden is "
    "valid when all three "
    f"periods are and the day has at least {VALID_HOURS_PER_DAY} valid hours. Invalid days "
    "are Observations too, resultQuality ['insufficient_coverage'] and parameters.valid "
    "false; the result is null when the period (for Lden: any period) has no counted reading."
)


@dataclass(frozen=True, slots=True)
class Indicator:
    name: str  # the id part: lden, lday, levening, lnight
    title: str
    period: int | None  # index in noise_indicators.PERIODS; None for Lden
    definition: str


INDICATORS = {
    i.name: i
    for i in (
        Indicator(
            "lden",
            "Lden (day-evening-night level)",
            None,
            "Directive 2002/49/EC Annex I 1.1: the A-weighted long-term average sound level "
            "over the day, evening and night periods, the evening +5 dB and the night +10 dB.",
        ),
        Indicator(
            "lday",
            "Lday (day level, 07-19)",
            0,
            "Directive 2002/49/EC Annex I 1.1: the A-weighted long-term average sound level "
            "(ISO 1996-2) over the day period, 07:00-19:00.",
        ),
        Indicator(
            "levening",
            "Levening (evening level, 19-23)",
            1,
            "Directive 2002/49/EC Annex I 1.1: the A-weighted long-term average sound level "
            "over the evening period, 19:00-23:00.",
        ),
        Indicator(
            "lnight",
            "Lnight (night level, 23-07)",
            2,
            "Directive 2002/49/EC Annex I 1.1: the A-weighted long-term average sound level "
            "over the night period, 23:00-07:00 (the Directive's night-time noise indicator).",
        ),
    )
}
assert not set(INDICATORS) & set(QUANTITIES), "an indicator id must not be a quantity's"


class Interval(datetime):
    """A phenomenonTime interval: it compares, sorts and filters as its start (so that
    ``phenomenonTime ge 2026-03-29`` and ``$orderby=phenomenonTime`` mean the day's start) and
    is written ``start/end``. Arithmetic on it gives an Interval without ``end``: a moment."""

    end: datetime | None = None

    @classmethod
    def of(cls, start: int, end: int) -> Interval:
        interval = cls.fromtimestamp(start, UTC)
        interval.end = datetime.fromtimestamp(end, UTC)
        return interval


def split_id(entity_id: str) -> tuple[str, str]:
    """(node, last part) of a Datastream id."""
    node, _, name = entity_id.rpartition(":")
    return node, name


def indicator_id(entity_id: str) -> tuple[str, str, int] | None:
    """(node, indicator, day start) of an indicator Observation's id, or None if it is not
    one (a quantity's Observation, or no local day starts at that second)."""
    rest, _, moment = entity_id.rpartition(":")
    node, name = split_id(rest)
    if not node or name not in INDICATORS or not moment.lstrip("-").isdecimal():
        return None
    start = int(moment)
    day = local_day_of(start)
    if day is None or local_days(day, day + timedelta(days=1))[0].start != start:
        return None
    return node, name, start


def local_day_of(epoch: int) -> date | None:
    """The local date a moment falls in; None beyond what datetime can hold."""
    try:
        return datetime.fromtimestamp(epoch, AMSTERDAM).date()
    except (OverflowError, OSError, ValueError):
        return None


def observed_property_props(indicator: Indicator, api: str) -> dict[str, Any]:
    return {
        "name": indicator.title,
        "definition": DIRECTIVE,
        "description": f"{indicator.definition} Per Dutch local day, in {UNIT}.",
        "properties": {"unit": UNIT, "method": METHOD, "indicators": f"{api}/noise/indicators"},
    }


def datastream_props(
    indicator: Indicator,
    node: str,
    name: str,
    geometry: dict[str, Any] | None,
    span: tuple[int, int] | None,
    base: str,
    api: str,
    threshold_db: float,
) -> dict[str, Any]:
    interval = None
    if span is not None:
        first, last = local_day_of(span[0]), local_day_of(span[1])
        if first is not None and last is not None:
            # The first and the last day only: a list of Datastreams makes this per node.
            (head,) = local_days(first, first + timedelta(days=1))
            (tail,) = local_days(last, last + timedelta(days=1))
            interval = f"{_iso(head.start)}/{_iso(tail.start + 3600 * tail.hours)}"
    properties: dict[str, Any] = {
        "node": node,
        "indicator": indicator.name,
        "source_quantity": QUANTITY,
        "aggregation": "energetic_mean",
        "method": METHOD,
        "validity": VALIDITY,
        "timezone": "Europe/Amsterdam",
        "indicators": f"{api}/noise/indicators?node={quote(node, safe='')}",
    }
    if indicator.period is None:
        properties["threshold_db"] = threshold_db
    return {
        "name": f"{indicator.title} at {name}",
        "description": f"{indicator.title} per local day, from the LAeq readings of {node}",
        "unitOfMeasurement": {
            "name": "decibel, A-weighted",
            "symbol": UNIT,
            "definition": f"{base}/ObservedProperties('{indicator.name}')",
        },
        "observedArea": geometry,
        "phenomenonTime": interval,
        "resultTime": interval,
        "properties": properties,
    }


def observation_props(day: DayIndicators, name: str, threshold_db: float) -> dict[str, Any]:
    """One day's Observation of one indicator, its coverage in ``parameters``. The level is
    rounded to 0.01 dB as /v1/export/noise.csv writes it: the stores add the energies in
    their own order, so the last bits of a day's level differ with the range a request
    asked for, and an Observation with a stable id should not change with the request."""
    indicator = INDICATORS[name]
    end = day.start + 3600 * day.hours
    parameters: dict[str, Any] = {"date": day.day.isoformat()}
    if indicator.period is None:
        periods = (day.lday, day.levening, day.lnight)
        result, valid = day.lden, day.valid
        parameters.update(
            hours=day.hours,
            valid_hours=day.valid_hours,
            coverage=round(day.valid_hours / day.hours, 4),
            readings=sum(p.readings for p in periods),
            hours_above=day.hours_above,
            threshold_db=threshold_db,
            periods_valid=[p.valid for p in periods],
        )
    else:
        period = day.period(indicator.period)
        result, valid = period.level, period.valid_hours >= NEEDED_HOURS[period.hours]
        parameters.update(
            hours=period.hours,
            valid_hours=period.valid_hours,
            coverage=period.coverage,
            readings=period.readings,
        )
    parameters["valid"] = valid
    if result is not None:
        result = round(result, DIGITS)
    return {
        "phenomenonTime": Interval.of(day.start, end),
        "resultTime": datetime.fromtimestamp(end, UTC),
        "result": result,
        "resultQuality": [] if valid else ["insufficient_coverage"],
        "validTime": None,
        "parameters": parameters,
    }


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
