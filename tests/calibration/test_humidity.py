"""The κ-Köhler correction against values worked out by hand from Crilley et al. (2018)."""

from __future__ import annotations

import math

import pytest

from lokaalmeten.calibration.humidity import MAX_HUMIDITY, corrected, growth_factor


@pytest.mark.parametrize(
    ("humidity", "kappa", "factor"),
    [
        # a_w = 0.5: 1/a_w - 1 = 1; C = 1 + 0.4/1.65 = 1.242424...
        (50.0, 0.4, 1 + 0.4 / 1.65),
        # a_w = 0.8: 1/a_w - 1 = 0.25; C = 1 + (0.4/1.65)/0.25 = 1.969697...
        (80.0, 0.4, 1 + 0.4 / 1.65 / 0.25),
        # a_w = 0.9: 1/a_w - 1 = 1/9; C = 1 + 9 · 0.4/1.65 = 3.181818...
        (90.0, 0.4, 1 + 9 * 0.4 / 1.65),
        # κ = 0.2 halves the water term: at a_w = 0.75 (1/a_w - 1 = 1/3), C = 1 + 3 · 0.2/1.65
        (75.0, 0.2, 1 + 3 * 0.2 / 1.65),
        (0.0, 0.4, 1.0),  # dry air carries no water
    ],
)
def test_growth_factor_matches_hand_computed(humidity: float, kappa: float, factor: float) -> None:
    assert growth_factor(humidity, kappa) == pytest.approx(factor, rel=1e-12)


def test_corrected_divides_by_the_factor() -> None:
    # 20 µg/m³ at 80 % RH, κ 0.4: 20 / 1.969697 = 10.1538...
    assert corrected(20.0, 80.0, 0.4) == pytest.approx(10.153846, abs=1e-6)
    assert corrected(20.0, 50.0, 0.0) == 20.0  # κ 0: a non-hygroscopic aerosol


@pytest.mark.parametrize("humidity", [MAX_HUMIDITY, 97.5, 100.0, math.nan, math.inf])
def test_not_correctable_at_and_above_95_percent(humidity: float) -> None:
    assert growth_factor(humidity, 0.4) is None
    assert corrected(30.0, humidity, 0.4) is None


def test_just_below_the_limit_is_still_corrected() -> None:
    value = corrected(30.0, 94.9, 0.4)
    assert value is not None and 0 < value < 30.0 / 4  # C > 4 at 94.9 % RH
