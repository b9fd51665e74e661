"""Design of the noise meter's A-weighting filter; writes firmware/noise/coeffs.py.

The firmware filters in 32-bit integers (viper), so its coefficients are designed here, on
the build machine, and committed; a test checks the committed file equals what this makes::

    python -m lokaalmeten.noise_design          # rewrite firmware/noise/coeffs.py
    python -m lokaalmeten.noise_design --check  # exit 1 if the committed file is stale

The method (docs/noise.md): IEC 61672-1 defines A-weighting by four real analogue pole
frequencies (20.6 Hz twice, 107.7 Hz, 737.9 Hz, 12194 Hz twice) and four zeros at 0 Hz. The
four low poles and the zeros map well through the bilinear transform (pre-warped at each pole)
and become four first-order integer sections. The 12194 Hz pair lies at or above Nyquist at
16 kHz, and a bilinear image of it loses several dB near Nyquist even at 48 kHz, so instead
a 7-tap linear-phase FIR is fitted, by least squares on relative error, to what the A-curve
needs after the four sections, up to the highest frequency the rate allows. Pure Python: the
fit has four unknowns.
"""

from __future__ import annotations

import argparse
import cmath
import math
import sys
from dataclasses import dataclass
from pathlib import Path

RATES = (16000, 32000, 44100, 48000)
# IEC 61672-1:2013 §5.5 (equations E.1-E.6): the A-weighting pole frequencies in Hz.
F1, F2, F3, F4 = 20.598997, 107.65265, 737.86223, 12194.217
FAST_TAU = 0.125  # s, IEC 61672-1 time weighting F
SUBBLOCK = 32  # samples per energy sum (firmware/noise/meter.py _SUB)
FIR_HALF = 3  # the FIR has 2 * FIR_HALF + 1 taps
SECTION_Q = 20  # (1 - pole) and (1 - zero) are stored as integers scaled by 2**20
FIR_Q = 15
BETA_Q = 16
# Microphones' low-frequency -3 dB corner (INMP441 datasheet: 60 Hz), modelled as one
# first-order high-pass that the equaliser undoes by moving one of the filter's zeros.
MICROPHONE_CORNERS = {"INMP441": 60.0}
COEFFS_PATH = Path(__file__).resolve().parent.parent / "firmware" / "noise" / "coeffs.py"


def a_weighting_db(f: float) -> float:
    """The analogue A-weighting of IEC 61672-1 in dB (0 dB at 1 kHz, by the +2.00 dB term)."""
    f2 = f * f
    ratio = (F4**2 * f2 * f2) / (
        (f2 + F1**2) * math.sqrt((f2 + F2**2) * (f2 + F3**2)) * (f2 + F4**2)
    )
    return 20 * math.log10(ratio) + 2.0


def _pole(fc: float, fs: float) -> float:
    """Bilinear image of a real analogue pole, pre-warped so it lands at fc exactly."""
    warped = 2 * fs * math.tan(math.pi * fc / fs)
    return (2 * fs - warped) / (2 * fs + warped)


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    n = len(rhs)
    rows = [[*row, rhs[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(n):
            if r != col:
                factor = rows[r][col] / rows[col][col]
                for k in range(col, n + 1):
                    rows[r][k] -= factor * rows[col][k]
    return [rows[i][n] / rows[i][i] for i in range(n)]


@dataclass(frozen=True)
class Design:
    """Integer coefficients for one sample rate, as the firmware uses them."""

    rate: int
    kp: tuple[int, int, int, int]  # (1 - pole) * 2**20 per section: 737.9, 107.7, 20.6, 20.6 Hz
    fir: tuple[int, int, int, int]  # centre tap first, * 2**15
    beta: int  # Fast time weighting per SUBBLOCK samples, * 2**16

    def section_response(self, f: float, kz: int = 0) -> complex:
        z1 = cmath.exp(-2j * math.pi * f / self.rate)
        h = complex(1.0)
        for i, kp in enumerate(self.kp):
            zero = 1 - (kz if i == 0 else 0) / (1 << SECTION_Q)
            h *= (1 - zero * z1) / (1 - (1 - kp / (1 << SECTION_Q)) * z1)
        return h

    def response(self, f: float, kz: int = 0) -> float:
        """Magnitude of the integer filter at f (linear, not normalised)."""
        w = 2 * math.pi * f / self.rate
        fir: float = self.fir[0] + sum(2 * c * math.cos(k * w) for k, c in enumerate(self.fir) if k)
        return float(abs(self.section_response(f, kz)) * abs(fir) / (1 << FIR_Q))

    def gain_db(self, f: float, kz: int = 0) -> float:
        return 20 * math.log10(self.response(f, kz))

    def weighting_db(self, f: float, kz: int = 0) -> float:
        """The filter's weighting at f, normalised to 0 dB at 1 kHz as the meter applies it."""
        return self.gain_db(f, kz) - self.gain_db(1000.0, kz)


def design(rate: int) -> Design:
    poles = [_pole(F3, rate), _pole(F2, rate), _pole(F1, rate), _pole(F1, rate)]
    k1, k2, k3, k4 = (round((1 - p) * (1 << SECTION_Q)) for p in poles)
    kp = (k1, k2, k3, k4)
    partial = Design(rate, kp, ((1 << FIR_Q), 0, 0, 0), 0)
    top = min(20000.0, 0.495 * rate)
    grid = []
    f = 10.0
    while f < top:
        grid.append(f)
        f *= 2 ** (1 / 24)
    grid.append(top)
    rows = []
    for f in grid:
        target = 10 ** (a_weighting_db(f) / 20) / abs(partial.section_response(f))
        w = 2 * math.pi * f / rate
        # relative error: each row divided by its target
        rows.append([(1.0 if k == 0 else 2 * math.cos(k * w)) / target for k in range(4)])
    normal = [[sum(r[i] * r[j] for r in rows) for j in range(4)] for i in range(4)]
    rhs = [sum(r[i] for r in rows) for i in range(4)]
    c0, c1, c2, c3 = (round(c * (1 << FIR_Q)) for c in _solve(normal, rhs))
    fir = (c0, c1, c2, c3)
    beta = round((1 - math.exp(-SUBBLOCK / (rate * FAST_TAU))) * (1 << BETA_Q))
    return Design(rate, kp, fir, beta)


def zero_for(corner_hz: float, rate: int) -> int:
    """(1 - zero) * 2**20 for the equaliser's zero at a microphone's low-frequency corner."""
    return round((1 - _pole(corner_hz, rate)) * (1 << SECTION_Q))


def render() -> str:
    designs = [design(rate) for rate in RATES]
    lines = [
        "# Generated by `python -m lokaalmeten.noise_design`; do not edit: a test compares.",
        '"""A-weighting coefficients of the noise meter, per sample rate, as integers.',
        "",
        "    from noise.coeffs import RATES",
        "    kp, fir, beta, gain_db = RATES[16000]",
        "",
        "kp: (1 - pole) * 2**20 of the four first-order sections (737.9, 107.7, 20.6, 20.6 Hz);",
        "fir: the 7-tap FIR, centre tap first, * 2**15; beta: the Fast time weighting per 32",
        "samples * 2**16; gain_db: the integer filter's gain at 1 kHz, which the meter removes.",
        "EQ[name][rate]: (1 - zero) * 2**20 of the first section, and the gain at 1 kHz then.",
        '"""',
        "",
        "RATES = {",
    ]
    for d in designs:
        lines.append(f"    {d.rate}: ({d.kp!r}, {d.fir!r}, {d.beta}, {d.gain_db(1000.0):.6f}),")
    lines += ["}", "", "EQ = {"]
    for name, corner in MICROPHONE_CORNERS.items():
        lines.append(f"    {name!r}: {{")
        for d in designs:
            kz = zero_for(corner, d.rate)
            lines.append(f"        {d.rate}: ({kz}, {d.gain_db(1000.0, kz):.6f}),")
        lines.append("    },")
    lines += ["}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lokaalmeten.noise_design")
    parser.add_argument("--check", action="store_true", help="fail if the committed file differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if COEFFS_PATH.read_text() != text:
            print(f"{COEFFS_PATH} is stale: run python -m lokaalmeten.noise_design")
            return 1
        return 0
    COEFFS_PATH.write_text(text)
    print(f"wrote {COEFFS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
