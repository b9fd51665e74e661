"""Daily noise indicators per node: Lday, Levening, Lnight and Lden (Directive 2002/49/EC).

Annex I of the Directive: the day is 07–19, the evening 19–23 and the night 23–07 local time,
and ::

    Lden = 10·lg( (12·10^(Lday/10) + 4·10^((Levening+5)/10) + 8·10^((Lnight+10)/10)) / 24 )

Each period's level is the A-weighted equivalent level over its hours: the energetic mean of
the node's counted LAeq readings in it (readings of equal interval, so energy / count is the
level over the time covered). Flagged readings are left out as in every aggregate.

A day here is a local calendar day in Europe/Amsterdam (00:00–24:00): its night is the hours
00–07 and 23–24 of that date. The periods keep their clock hours, so at the changes of
daylight-saving time the night is shorter or longer: 7 hours on the last Sunday of March
(02:00 CET jumps to 03:00 CEST), 9 on the last Sunday of October (03:00 CEST back to 02:00
CET), day and evening keep 12 and 4. The Directive does not speak of those days; its formula
keeps its fixed weights 12, 4 and 8 over 24, the night level being the energetic mean over
the hours the night had.

Validity, as docs/noise.md sets it out (a day needs at least 18 valid hours): an hour is valid
with at least its node's threshold of counted readings (75 % of those expected); a period is
valid with at least 75 % of its hours valid (day 9 of 12, evening 3 of 4, night 6 of 8, 6 of 7
or 7 of 9 on the change days); Lden is valid when all three periods are and the day has at
least 18 valid hours. Levels of invalid periods are given, flagged, not hidden; a period
without a counted reading has no level, and then the day has no Lden.

``hours_above`` counts the day's valid hours whose LAeq exceeds ``threshold_db``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from lokaalmeten.store import DaySpan, Store

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
QUANTITY = "noise_laeq"
VALID_SHARE = 0.75
VALID_HOURS_PER_DAY = 18
# (name, first local hour, end local hour, penalty dB, weight in the formula's 24 hours)
PERIODS = (("day", 7, 19, 0.0, 12), ("evening", 19, 23, 5.0, 4), ("night", 23, 31, 10.0, 8))
# Valid hours a period of so many hours needs to be valid: 75 % of them, rounded up.
NEEDED_HOURS = {hours: math.ceil(VALID_SHARE * hours) for hours in range(26)}


class Period(NamedTuple):
    level: float | None  # dB(A); None without a counted reading
    hours: int  # hours the period had that day
    valid_hours: int
    readings: int

    @property
    def coverage(self) -> float:
        return round(self.valid_hours / self.hours, 4)

    @property
    def valid(self) -> bool:
        return self.valid_hours >= NEEDED_HOURS[self.hours]


class DayIndicators(NamedTuple):
    """A node's local day: its Lden and, built when asked for, its periods (from the
    store's sums, so that a year of 100 nodes makes 36,500 objects, not four times that)."""

    node: str
    local: LocalDay
    sums: tuple[float, ...]  # per period: readings, energy, valid hours, hours above
    lden: float | None  # dB(A); None when a period has no counted reading

    @property
    def day(self) -> date:
        return self.local.day

    @property
    def start(self) -> int:
        return self.local.start

    @property
    def hours(self) -> int:
        return self.local.hours

    @property
    def valid_hours(self) -> int:
        return int(sum(self.sums[2::4]))

    @property
    def hours_above(self) -> int:
        return int(sum(self.sums[3::4]))

    def period(self, index: int) -> Period:
        n, e, valid, _ = self.sums[4 * index : 4 * index + 4]
        level = 10 * math.log10(e / n) if n and e > 0 else None
        return Period(level, self.local.period_hours[index], int(valid), int(n))

    @property
    def lday(self) -> Period:
        return self.period(0)

    @property
    def levening(self) -> Period:
        return self.period(1)

    @property
    def lnight(self) -> Period:
        return self.period(2)

    @property
    def valid(self) -> bool:
        periods = (self.lday, self.levening, self.lnight)
        return all(p.valid for p in periods) and self.valid_hours >= VALID_HOURS_PER_DAY


@dataclass(frozen=True, slots=True)
class LocalDay:
    """A local day as UTC hour offsets: [start, end) and each period's segments."""

    day: date
    start: int  # epoch seconds
    hours: int
    segments: tuple[tuple[tuple[int, int], ...], ...]  # per period, (first, end) hour offsets
    period_hours: tuple[int, ...]


def _epoch(day: date, hour: int) -> int:
    """Epoch seconds of local clock time ``hour`` (0..24) on ``day`` in Amsterdam. No period
    boundary (00, 07, 19, 23, 24) falls in the skipped or repeated hour (02:00–03:00)."""
    # Adding a timedelta to an aware datetime is wall-clock arithmetic, and the offset is
    # that of the local time reached: 24 h after midnight is the next midnight.
    midnight = datetime(day.year, day.month, day.day, tzinfo=AMSTERDAM)
    return int((midnight + timedelta(hours=hour)).timestamp())


def local_days(first: date, end: date) -> list[LocalDay]:
    """Every local day from ``first`` up to ``end`` (exclusive)."""
    found = []
    day = first
    while day < end:
        start = _epoch(day, 0)
        segments = []
        for _, begin, stop, _, _ in PERIODS:
            # The night is two parts of the date: 00–07 and 23–24.
            parts = [(begin, stop)] if stop <= 24 else [(0, stop - 24), (begin, 24)]
            segments.append(
                tuple(
                    ((_epoch(day, a) - start) // 3600, (_epoch(day, b) - start) // 3600)
                    for a, b in parts
                )
            )
        hours = (_epoch(day, 24) - start) // 3600
        periods = tuple(sum(b - a for a, b in period) for period in segments)
        found.append(LocalDay(day, start, hours, tuple(segments), periods))
        day += timedelta(days=1)
    return found


def indicators(
    store: Store,
    nodes: tuple[str, ...],
    first: date,
    end: date,
    thresholds: Mapping[str, int],
    default_threshold: int,
    threshold_db: float,
) -> list[DayIndicators]:
    """The indicators of every node with LAeq readings (of ``nodes``; all when empty) on every
    local day from ``first`` to ``end`` (exclusive) it has a counted reading in, by node then
    day. ``thresholds``: readings an hour needs to be valid, by node."""
    days = local_days(first, end)
    # A level at the threshold is not above it, whatever the last bits of its energy sum
    # (the stores add 10^(L/10) in their own order): 1e-9 relative is 4e-9 dB.
    loud = 10 ** (threshold_db / 10) * (1 + 1e-9)
    spans = [DaySpan(d.start, d.segments) for d in days]
    log10 = math.log10
    (_, _, _, _, day_weight), (_, _, _, e_penalty, e_weight), (_, _, _, n_penalty, n_weight) = (
        PERIODS
    )
    e_factor, n_factor = e_weight * 10 ** (e_penalty / 10), n_weight * 10 ** (n_penalty / 10)
    found = []
    for node, index, sums in store.day_sums(
        nodes, QUANTITY, spans, thresholds, default_threshold, loud
    ):
        dn, de, _, _, en, ee, _, _, nn, ne, _, _ = sums
        # Lden from the periods' mean energies: 10^(Lx/10) is energy / readings, so the
        # formula needs no power of ten per day.
        lden = None
        if dn and en and nn and de > 0 and ee > 0 and ne > 0:
            lden = 10 * log10((day_weight * de / dn + e_factor * ee / en + n_factor * ne / nn) / 24)
        found.append(DayIndicators(node, days[index], sums, lden))
    return found
