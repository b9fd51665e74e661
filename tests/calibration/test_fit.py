"""Co-location fits recover known factors from synthetic series, are versioned by their
inputs, and leave the raw readings in the store as they were."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from lokaalmeten.calibration.book import CalibrationBook
from lokaalmeten.calibration.fit import FitError, calibrate, least_squares
from lokaalmeten.calibration.reference import read_reference
from lokaalmeten.store import ReadingQuery, Store, open_store
from tests.calibration.colocated import FAR, KAPPA, NEAR, OFFSET, SLOPE, T0, colocated, write_csv

# Tolerances stated in docs/calibration.md: with 1 µg/m³ of noise per reading and ten days
# of hours, the slope within 3 % and the offset within 0.5 µg/m³ of the true ones.
SLOPE_TOLERANCE = 0.03 * SLOPE
OFFSET_TOLERANCE = 0.5


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'lm.db'}")
    yield store
    store.close()


@pytest.fixture
def book(tmp_path: Path) -> Iterator[CalibrationBook]:
    book = CalibrationBook(tmp_path / "calibration.db")
    yield book
    book.close()


def everything(store: Store) -> list[tuple[object, ...]]:
    return [tuple(r) for r in store.readings(ReadingQuery(0, 2**40, 1_000_000))]


def test_least_squares_is_exact_on_a_line() -> None:
    line = least_squares([1.0, 2.0, 3.0, 4.0], [4.1, 5.7, 7.3, 8.9])
    assert line.slope == pytest.approx(1.6) and line.offset == pytest.approx(2.5)
    assert line.r2 == pytest.approx(1.0) and line.rmse == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(FitError, match="do not vary"):
        least_squares([3.0, 3.0, 3.0], [1.0, 2.0, 3.0])


def test_least_squares_recovers_factors_under_noise() -> None:
    rng = random.Random(3)
    xs = [rng.uniform(0, 30) for _ in range(500)]
    ys = [SLOPE * x + OFFSET + rng.gauss(0, 1.0) for x in xs]
    line = least_squares(xs, ys)
    assert abs(line.slope - SLOPE) < SLOPE_TOLERANCE
    assert abs(line.offset - OFFSET) < OFFSET_TOLERANCE
    assert line.rmse == pytest.approx(1.0, abs=0.1)


def test_calibration_recovers_slope_and_offset_and_leaves_raw_untouched(
    store: Store, book: CalibrationBook, tmp_path: Path
) -> None:
    readings, lines = colocated(hours=240)
    store.write(readings)
    before = everything(store)
    book.import_file(read_reference(write_csv(tmp_path / "ref.csv", lines)))
    outcomes = calibrate(
        store, book, {"kit-1": NEAR}, radius_m=2000, start=None, end=None, kappa=KAPPA, now=1
    )
    [outcome] = outcomes
    fit = outcome.fit
    assert fit is not None and outcome.new, outcome.reason
    assert abs(fit.slope - SLOPE) < SLOPE_TOLERANCE, fit
    assert abs(fit.offset - OFFSET) < OFFSET_TOLERANCE, fit
    assert fit.n == 240 and fit.r2 > 0.99
    assert (fit.start, fit.end) == (T0, T0 + 240 * 3600)
    assert fit.station == "NL10636" and 300 < fit.distance_m < 600
    assert fit.kappa == KAPPA and fit.method.startswith("kappa-koehler")
    assert everything(store) == before  # raw readings unchanged


def test_without_humidity_correction_the_factors_are_not_recovered(
    store: Store, book: CalibrationBook, tmp_path: Path
) -> None:
    """The correction matters: fitted on uncorrected values (κ 0) the line is off."""
    readings, lines = colocated(hours=240)
    store.write(readings)
    book.import_file(read_reference(write_csv(tmp_path / "ref.csv", lines)))
    [outcome] = calibrate(store, book, {"kit-1": NEAR}, 2000, None, None, kappa=0.0)
    assert outcome.fit is not None
    assert abs(outcome.fit.slope - SLOPE) > 5 * SLOPE_TOLERANCE


def test_refit_is_idempotent_and_new_data_makes_a_new_version(
    store: Store, book: CalibrationBook, tmp_path: Path
) -> None:
    readings, lines = colocated(hours=240)
    first_days = [r for r in readings if r.time < T0 + 120 * 3600]
    store.write(first_days)
    book.import_file(read_reference(write_csv(tmp_path / "ref.csv", lines)))
    [one] = calibrate(store, book, {"kit-1": NEAR}, 2000, None, None, KAPPA, now=100)
    [again] = calibrate(store, book, {"kit-1": NEAR}, 2000, None, None, KAPPA, now=200)
    assert one.fit is not None and again.fit is not None
    assert one.new and not again.new
    assert again.fit.version == one.fit.version and again.fit.made == 100  # the kept one
    assert len(book.fits("kit-1", "pm25")) == 1
    store.write(readings)  # five more days of the kit
    [later] = calibrate(store, book, {"kit-1": NEAR}, 2000, None, None, KAPPA, now=300)
    assert later.new and later.fit is not None and later.fit.version != one.fit.version
    versions = book.fits("kit-1", "pm25")
    assert [f.version for f in versions] == [one.fit.version, later.fit.version]  # old kept
    assert [(f.n, f.made) for f in versions] == [(120, 100), (240, 300)]
    current = book.current("kit-1", "pm25")
    assert current is not None and current.version == later.fit.version
    # Another κ is another input: a new version, not an overwrite.
    [other] = calibrate(store, book, {"kit-1": NEAR}, 2000, None, None, 0.3, now=400)
    assert other.new and len(book.fits("kit-1", "pm25")) == 3


def test_a_revised_reference_value_makes_a_new_version(
    store: Store, book: CalibrationBook, tmp_path: Path
) -> None:
    readings, lines = colocated(hours=48)
    store.write(readings)
    book.import_file(read_reference(write_csv(tmp_path / "ref.csv", lines)))
    [one] = calibrate(store, book, {"kit-1": NEAR}, 2000, None, None, KAPPA)
    cells = lines[5].split(",")
    cells[3] = f"{float(cells[3]) + 4:.1f}"  # validated afterwards: 4 µg/m³ more
    lines[5] = ",".join(cells)
    count = book.import_file(read_reference(write_csv(tmp_path / "revised.csv", lines)))
    assert (count.new, count.changed) == (0, 1)
    [two] = calibrate(store, book, {"kit-1": NEAR}, 2000, None, None, KAPPA)
    assert two.new and one.fit is not None and two.fit is not None
    assert two.fit.version != one.fit.version and len(book.fits()) == 2


def test_kits_far_away_or_with_too_few_hours_get_no_fit(
    store: Store, book: CalibrationBook, tmp_path: Path
) -> None:
    readings, lines = colocated(hours=30)
    far, _ = colocated(hours=30, node="kit-far", seed=2)
    store.write(readings + far)
    book.import_file(read_reference(write_csv(tmp_path / "ref.csv", lines)))
    outcomes = calibrate(
        store, book, {"kit-1": NEAR, "kit-far": FAR}, 2000, T0, T0 + 20 * 3600, KAPPA
    )
    reasons = {o.node: o.reason for o in outcomes}
    assert reasons == {
        "kit-1": "20 paired hours, at least 24 are needed",
        "kit-far": "no station within 2000 m",
    }
    assert book.fits() == []


def test_a_station_without_a_place_is_named(
    store: Store, book: CalibrationBook, tmp_path: Path
) -> None:
    readings, lines = colocated(hours=30)
    store.write(readings)
    unplaced = [line.rsplit(",", 3)[0] for line in lines]  # no latitude, longitude, name
    unplaced[0] = "station,time,component,value"
    book.import_file(read_reference(write_csv(tmp_path / "ref.csv", unplaced)))
    [outcome] = calibrate(store, book, {"kit-1": NEAR}, 2000, None, None, KAPPA)
    assert outcome.reason.startswith("no station with pm25 values has a place")


def test_hours_too_humid_are_left_out(store: Store, book: CalibrationBook, tmp_path: Path) -> None:
    readings, lines = colocated(hours=48)
    # The first 10 hours in fog: 97 % RH, PM not correctable, so not paired.
    wet = [
        r._replace(value=97.0) if r.quantity == "humidity" and r.time < T0 + 36000 else r
        for r in readings
    ]
    store.write(wet)
    book.import_file(read_reference(write_csv(tmp_path / "ref.csv", lines)))
    [outcome] = calibrate(store, book, {"kit-1": NEAR}, 2000, None, None, KAPPA)
    assert (outcome.pairs, outcome.too_humid, outcome.no_humidity) == (38, 10, 0)
    assert outcome.fit is not None and outcome.fit.start == T0 + 36000
