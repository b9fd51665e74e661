"""The committed A-weighting coefficients are what the design script makes, and they fit."""

from __future__ import annotations

import pytest

from lokaalmeten import noise_design
from lokaalmeten.noise_design import COEFFS_PATH, RATES, a_weighting_db, design, render

# IEC 61672-1:2013, Table 3: A-weighting at nominal frequencies (dB); the values belong to the
# exact base-ten frequencies 1000 * 10**(n/10).
IEC_TABLE = {
    31.5: -39.4, 63: -26.2, 125: -16.1, 250: -8.6, 500: -3.2, 1000: 0.0,
    2000: 1.2, 4000: 1.0, 8000: -1.1, 16000: -6.6,
}  # fmt: skip


def exact(nominal: float) -> float:
    import math

    return float(1000.0 * 10 ** (round(10 * math.log10(nominal / 1000.0)) / 10))


def test_committed_coefficients_are_current() -> None:
    assert COEFFS_PATH.read_text() == render(), (
        "firmware/noise/coeffs.py is stale: run python -m lokaalmeten.noise_design"
    )
    assert noise_design.main(["--check"]) == 0


@pytest.mark.parametrize("nominal", sorted(IEC_TABLE))
def test_analytic_curve_matches_the_iec_table(nominal: float) -> None:
    assert a_weighting_db(exact(nominal)) == pytest.approx(IEC_TABLE[nominal], abs=0.05)


@pytest.mark.parametrize("rate", RATES)
def test_integer_design_follows_the_curve_to_the_top_of_the_band(rate: int) -> None:
    d = design(rate)
    top = min(20000.0, rate / 2)
    points = [25.0 * 2 ** (k / 24) for k in range(400) if 25.0 * 2 ** (k / 24) < top] + [top]
    for f in points:
        # docs/noise.md: largest deviation 0.47 dB, at Nyquist of 32 kHz
        limit = 0.25 if f < 0.45 * rate else 0.5
        assert abs(d.weighting_db(f) - a_weighting_db(f)) <= limit, (rate, f)


@pytest.mark.parametrize("rate", RATES)
def test_coefficients_fit_the_32_bit_budget(rate: int) -> None:
    # meter.py splits every product so that it stays below 2**31 given these limits
    d = design(rate)
    assert d.kp[0] * 4095 + 2**20 < 2**31
    assert max(d.kp[1:]) < 2**16 and max(d.kp[2:]) < 2**14
    assert all(abs(c) < 2**15 for c in d.fir)
    # the FIR's taps sum to < 1.2 in absolute value: |output| < 1.2 * 2**24
    assert (abs(d.fir[0]) + 2 * sum(abs(c) for c in d.fir[1:])) / 2**15 < 1.2
    assert d.beta < 2**11
