# The meter's integer arithmetic stays within 32 bits (the ESP32's viper word) on the worst
# sound a 24-bit microphone can deliver. The unix port computes in 64 bits, so an overflow
# would pass unnoticed there: the meter's probe mode records the largest values instead.
import fake_audio
import fake_i2s
from machine import I2S, Pin

from noise.coeffs import RATES
from noise.meter import NoiseMeter, open_i2s

MPY_HEAP = "256k"
LIMIT = 1 << 31


def worst_sounds(rate):
    s = fake_audio.Signal(rate)
    # full-scale square waves (sines driven 40 dB into saturation) from 1 Hz (full-scale
    # steps) to Nyquist, clipped white noise, and a full-scale tone at each section's pole
    for freq in (1, 20.6, 50, 107.7, 300, 737.9, 2000, 5000, rate / 4, rate / 2.5):
        s.tone(0.5, freq, 40.0)
    s.tone(0.5, rate / 2, 40.0, 0.25)
    s.noise(2.0, 10.0)
    for freq in (20.6, 107.7, 737.9, 3000):
        s.tone(0.5, freq, 0.0)
    return s


def probe_run(rate, eq=None):
    fake_i2s.attach(0, worst_sounds(rate))
    meter = NoiseMeter(
        open_i2s(I2S, Pin, 26, 25, 33, rate=rate), rate=rate, eq=eq, nonblocking=False
    )
    meter.start()
    meter.probe()
    while meter.poll():
        pass
    ranges = meter.ranges()
    meter.read()
    return ranges


def check(rate, eq=None):
    r = probe_run(rate, eq)
    kp, fir, beta, _ = RATES[rate]
    # the designed bounds (comments in meter.py)
    assert r["input"] <= 1 << 20, r
    assert r["section1"] <= 1 << 21, r
    assert r["section2"] <= 1 << 22, r
    assert r["section3"] <= 1 << 23, r
    assert r["section4"] <= 1 << 24, r
    assert r["fir_sum"] < 1.2 * (1 << 24), r
    # every product and sum actually formed, from the largest operands seen
    states = (r["section1"], r["section2"], r["section3"], r["section4"])
    for i in range(4):
        k, state = kp[i], states[i]
        assert k * ((state >> 12) + 1) + ((k * 4095 + (1 << 20)) >> 12) < LIMIT, (k, r)
        assert k * 4095 + (1 << 20) < LIMIT
    pair = 2 * r["section4"]
    assert sum(abs(c) * ((pair >> 12) + 1) for c in fir) * 2 < LIMIT, r
    for name in ("square_sums", "fast_step", "leq_limb", "leq_top"):
        assert 0 < r[name] < LIMIT, (name, r)
    assert r["fast_step"] <= (1 << 20) * beta
    return r


def test_ranges_at_16k_stay_below_2_31():
    r = check(16000)
    # the worst sounds do drive the filter close to its bounds: the test is not idle
    assert r["section4"] > 1 << 20 and r["square_sums"] > 1 << 25, r


def test_ranges_at_48k_stay_below_2_31():
    check(48000)


def test_ranges_with_the_equaliser_stay_below_2_31():
    check(16000, "INMP441")
    check(48000, "INMP441")
