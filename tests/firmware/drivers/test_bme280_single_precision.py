"""Bosch's floating-point pressure compensation stays accurate in the ESP32's 32-bit floats.

MicroPython on the ESP32 computes in single precision, the unix port in double. This runs
the driver's pressure formula (firmware/drivers/bme280.py, same operations in the same
order) with every intermediate rounded to float32, over the whole raw range, for the BMP280
datasheet's calibration, and bounds the difference to the double-precision result.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

T1, T2, T3 = 27504, 26435, -1000
P = (36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)


def f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def exact(x: float) -> float:
    return x


def t_fine(adc_t: int, rnd: Callable[[float], float] = exact) -> int:
    var1 = rnd(rnd(rnd(adc_t / 16384) - rnd(T1 / 1024)) * T2)
    var2 = rnd(rnd(adc_t / 131072) - rnd(T1 / 8192))
    var2 = rnd(rnd(var2 * var2) * T3)
    return int(rnd(var1 + var2))


def pressure(adc_p: int, fine: int, r: Callable[[float], float] = exact) -> float:
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = P
    var1 = r(r(fine / 2) - 64000)
    var2 = r(r(r(var1 * var1) * p6) / 32768)
    var2 = r(var2 + r(r(var1 * p5) * 2))
    var2 = r(r(var2 / 4) + r(p4 * 65536))
    var1 = r(r(r(r(p3 * var1) * var1) / 524288) + r(p2 * var1))
    var1 = r(var1 / 524288)
    var1 = r(r(1 + r(var1 / 32768)) * p1)
    p = r(1048576 - adc_p)
    p = r(r(r(p - r(var2 / 4096)) * 6250) / var1)
    var1 = r(r(r(p9 * p) * p) / 2147483648)
    var2 = r(r(p * p8) / 32768)
    return r(p + r(r(r(var1 + var2) + p7) / 16))


def test_datasheet_example_in_double_precision() -> None:
    assert t_fine(519888) == 128422
    assert abs(pressure(415148, 128422) - 100653.26) < 0.01


def test_single_precision_error_is_below_a_tenth_of_a_pascal() -> None:
    worst = 0.0
    for adc_t in range(400000, 600001, 4999):
        for adc_p in range(200000, 600001, 25000):
            single = pressure(adc_p, t_fine(adc_t, f32), f32)
            double = pressure(adc_p, t_fine(adc_t))
            worst = max(worst, abs(single - double))
    assert worst < 0.1, worst
