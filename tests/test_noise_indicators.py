"""Lday, Levening, Lnight and Lden per local day, against values worked out by hand, the same
from SQLite and InfluxDB: a normal day, a day with gaps, and both daylight-saving days.

Every hour here holds six readings (one per 600 s) of one level, so an hour's LAeq is that
level; a node needs 5 readings for a valid hour. The night is 40 dB(A) from 00 to 07 and
50 from 23 to 24, the day 60, the evening 55. By hand, with Lx = 10·lg(Σ hours·10^(L/10) /
Σ hours) and Annex I's Lden = 10·lg((12·10^(Ld/10) + 4·10^((Le+5)/10) + 8·10^((Ln+10)/10))
/ 24):

- 8-hour night: Ln = 10·lg((7·10^4 + 10^5) / 8) = 10·lg(21250) = 43.274; Lden = 58.678
- 7-hour night (29 March 2026): Ln = 10·lg((6·10^4 + 10^5) / 7) = 43.590; Lden = 58.709
- 9-hour night (25 October 2026): Ln = 10·lg((8·10^4 + 10^5) / 9) = 43.010; Lden = 58.653
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lokaalmeten.noise_indicators import DayIndicators, indicators, local_days
from lokaalmeten.readings import FLAG_SPIKE, Reading
from lokaalmeten.store import DaySpan, Store, open_store

H = 3600

# UTC starts of the local days, by hand: CET is UTC+1, CEST UTC+2.
NOV_18 = 1794956400  # 2026-11-17T23:00:00Z = 18 Nov 00:00 CET
MAR_29 = 1774738800  # 2026-03-28T23:00:00Z = 29 Mar 00:00 CET; 02:00 CET -> 03:00 CEST
OCT_25 = 1792879200  # 2026-10-24T22:00:00Z = 25 Oct 00:00 CEST; 03:00 CEST -> 02:00 CET


def hours(start: int, count: int, level: float, node: str = "n") -> list[Reading]:
    return [
        Reading(node, "noise_laeq", start + h * H + 600 * k + 300, level)
        for h in range(count)
        for k in range(6)
    ]


def day_of(start: int, night_hours: int) -> list[Reading]:
    """A whole local day from ``start``: night 00–07 (``night_hours`` real hours), day,
    evening, and the last night hour."""
    day = start + night_hours * H
    return [
        *hours(start, night_hours, 40.0),
        *hours(day, 12, 60.0),
        *hours(day + 12 * H, 4, 55.0),
        *hours(day + 16 * H, 1, 50.0),
    ]


def one(store: Store, day: date) -> DayIndicators:
    (found,) = indicators(store, (), day, date.fromordinal(day.toordinal() + 1), {}, 5, 55.0)
    return found


def test_local_days_have_23_24_and_25_hours_and_their_night_7_8_or_9() -> None:
    spring, normal = local_days(date(2026, 3, 29), date(2026, 3, 31))
    autumn = local_days(date(2026, 10, 25), date(2026, 10, 26))[0]
    assert (spring.start, spring.hours) == (MAR_29, 23)
    assert (normal.start, normal.hours) == (MAR_29 + 23 * H, 24)
    assert (autumn.start, autumn.hours) == (OCT_25, 25)
    # Hour offsets from the day's start: day 07–19, evening 19–23, night 00–07 and 23–24.
    assert spring.segments == (((6, 18),), ((18, 22),), ((0, 6), (22, 23)))
    assert normal.segments == (((7, 19),), ((19, 23),), ((0, 7), (23, 24)))
    assert autumn.segments == (((8, 20),), ((20, 24),), ((0, 8), (24, 25)))


def test_a_normal_day(store: Store) -> None:
    # A reading before and one after the local day belong to other days.
    store.write([*day_of(NOV_18, 7), *hours(NOV_18 - H, 1, 90.0), *hours(NOV_18 + 24 * H, 1, 90.0)])
    found = one(store, date(2026, 11, 18))
    assert (found.node, found.start, found.hours, found.valid_hours) == ("n", NOV_18, 24, 24)
    assert found.lday.level == pytest.approx(60.0)
    assert found.levening.level == pytest.approx(55.0)
    assert found.lnight.level == pytest.approx(43.274, abs=1e-3)
    assert (found.lnight.hours, found.lnight.valid_hours, found.lnight.readings) == (8, 8, 48)
    assert found.lden == pytest.approx(58.678, abs=1e-3)
    assert found.valid and found.lday.coverage == 1.0
    assert found.hours_above == 12  # the day's hours at 60; 55 is not above 55


def test_a_day_with_gaps_and_flagged_readings(store: Store) -> None:
    readings = day_of(NOV_18, 7)
    readings = [
        r
        for r in readings
        if not NOV_18 <= r.time < NOV_18 + 4 * H  # no night 00–04
        and not NOV_18 + 7 * H <= r.time < NOV_18 + 10 * H  # no day 07–10
    ]
    # Evening 19–20: three of its six readings flagged (a spike): counted none of them,
    # the hour has 3 readings and is not valid, its level still counts.
    evening = NOV_18 + 19 * H
    readings = [
        r._replace(value=95.0, flags=FLAG_SPIKE) if evening <= r.time < evening + 1800 else r
        for r in readings
    ]
    store.write(readings)
    found = one(store, date(2026, 11, 18))
    # By hand: Ln = 10·lg((3·10^4 + 10^5) / 4) = 45.119; Ld = 60; Le = 55;
    # Lden = 10·lg((12·10^6 + 4·10^6 + 8·10^5.5119) / 24) = 58.893.
    assert found.lnight.level == pytest.approx(45.119, abs=1e-3)
    assert found.levening.level == pytest.approx(55.0)
    assert found.lden == pytest.approx(58.893, abs=1e-3)
    assert (found.lday.valid_hours, found.lday.coverage, found.lday.valid) == (9, 0.75, True)
    assert (found.levening.valid_hours, found.levening.readings) == (3, 21)
    assert found.levening.valid  # 3 of 4
    assert (found.lnight.valid_hours, found.lnight.valid) == (4, False)  # 6 of 8 needed
    assert (found.valid_hours, found.valid) == (16, False)  # 18 needed
    assert found.hours_above == 9


def test_the_spring_forward_day_has_a_7_hour_night(store: Store) -> None:
    store.write(day_of(MAR_29, 6))
    found = one(store, date(2026, 3, 29))
    assert (found.hours, found.valid_hours, found.lnight.hours) == (23, 23, 7)
    assert (found.lday.hours, found.levening.hours) == (12, 4)
    assert found.lnight.level == pytest.approx(43.590, abs=1e-3)
    assert found.lden == pytest.approx(58.709, abs=1e-3)
    assert found.valid


def test_the_fall_back_day_has_a_9_hour_night(store: Store) -> None:
    store.write(day_of(OCT_25, 8))
    found = one(store, date(2026, 10, 25))
    assert (found.hours, found.valid_hours, found.lnight.hours) == (25, 25, 9)
    assert found.lnight.level == pytest.approx(43.010, abs=1e-3)
    assert found.lden == pytest.approx(58.653, abs=1e-3)
    assert found.valid


def test_a_day_without_an_evening_has_no_lden_and_days_without_readings_are_absent(
    store: Store,
) -> None:
    store.write([r for r in day_of(NOV_18, 7) if not NOV_18 + 19 * H <= r.time < NOV_18 + 23 * H])
    found = indicators(store, ("n", "other"), date(2026, 11, 16), date(2026, 11, 20), {}, 5, 55)
    assert [d.day for d in found] == [date(2026, 11, 18)]
    assert found[0].levening.level is None and found[0].lden is None
    assert found[0].lday.level == pytest.approx(60.0)


def test_sqlites_sums_in_sql_equal_the_generic_ones_from_hourly_energies(tmp_path: Path) -> None:
    """SQLite answers day_sums in SQL from its daily rows; the generic answer (the one
    InfluxDB gives) sums its hourly energies: both alike on random readings with gaps and
    flags over both daylight-saving changes, two node thresholds."""
    import random

    from lokaalmeten.store.base import Store as Generic

    rng = random.Random(14)
    readings = [
        Reading(
            node,
            "noise_laeq",
            start + 300 * k + rng.randrange(300),
            float(rng.randrange(30, 90)),
            None,
            FLAG_SPIKE if rng.random() < 0.05 else 0,
        )
        for node in ("a", "b")
        for start in (MAR_29 - 2 * 86400, OCT_25 - 2 * 86400)
        for k in range(5 * 288)
        if rng.random() < 0.7
    ]
    store = open_store(f"sqlite:///{tmp_path / 'lm.db'}")
    store.write(readings)
    for first, end in (
        (date(2026, 3, 26), date(2026, 4, 2)),
        (date(2026, 10, 22), date(2026, 10, 29)),
    ):
        spans = [DaySpan(d.start, d.segments) for d in local_days(first, end)]
        args = ((), "noise_laeq", spans, {"b": 9}, 8, 10**6.0)
        in_sql = store.day_sums(*args)
        generic = Generic.day_sums(store, *args)
        assert len(in_sql) == len(generic) >= 10  # 5 or 6 local days of 2 nodes
        for (node, day, sums), (node2, day2, sums2) in zip(in_sql, generic, strict=True):
            assert (node, day) == (node2, day2)
            assert sums == pytest.approx(sums2, rel=1e-12)
    store.close()
