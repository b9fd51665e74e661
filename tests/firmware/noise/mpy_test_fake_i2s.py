# The fake I2S microphone: the INMP441's word format, stereo slots, pacing, and its errors.
import time
from array import array

import fake_audio
import fake_i2s
from machine import I2S, Pin

MPY_HEAP = "128k"


def mic(fmt=I2S.MONO, rate=16000, bits=32):
    return I2S(
        0,
        sck=Pin(32),
        ws=Pin(25),
        sd=Pin(33),
        mode=I2S.RX,
        bits=bits,
        format=fmt,
        rate=rate,
        ibuf=4096,
    )


def test_words_are_24_bit_samples_left_justified_and_saturating():
    fake_i2s.attach(0, fake_audio.Signal(16000).tone(0.01, 1000, 6.0))  # 2x full scale
    buf = array("i", bytes(4 * 160))
    assert mic().readinto(buf) == 640
    assert all(w & 0xFF == 0 for w in buf)  # the low byte of the slot is empty
    assert max(buf) == 0x7FFFFF00 and min(buf) == -0x80000000  # clipped at full scale
    assert buf[0] == 0  # sin(0)


def test_a_quiet_tone_has_its_peak_in_dbfs():
    fake_i2s.attach(0, fake_audio.Signal(16000).tone(0.01, 1000, -20.0, 0.25))
    buf = array("i", bytes(4 * 16))
    mic().readinto(buf)
    # peak of -20 dBFS: 0.1 of 2**23 - 1, in the top 24 bits
    assert abs((buf[0] >> 8) - 838861) <= 1, buf[0] >> 8


def test_stereo_puts_the_microphone_left_and_nothing_right():
    fake_i2s.attach(0, fake_audio.Signal(16000).tone(0.01, 1000, -6.0, 0.25))
    buf = array("i", bytes(4 * 32))
    assert mic(I2S.STEREO).readinto(buf) == 128
    assert buf[0] > 0 and all(buf[k] == 0 for k in range(1, 32, 2))


def test_the_sound_ends_and_readinto_returns_zero():
    fake_i2s.attach(0, fake_audio.Signal(16000).tone(0.01, 1000, -6.0))
    m = mic()
    buf = array("i", bytes(4 * 100))
    assert m.readinto(buf) == 400
    assert m.readinto(buf) == 240  # 160 samples in 10 ms, 60 left
    assert m.readinto(buf) == 0


def test_realtime_playback_takes_as_long_as_the_sound():
    fake_i2s.attach(0, fake_audio.Signal(16000).tone(0.25, 1000, -6.0), realtime=True)
    m = mic()
    buf = array("i", bytes(4 * 400))
    started = time.ticks_ms()
    while m.readinto(buf):
        pass
    assert time.ticks_diff(time.ticks_ms(), started) >= 240


def test_wrong_configuration_is_refused_like_the_driver_does():
    for bits, fmt in ((16, I2S.MONO), (32, 7)):
        try:
            mic(fmt, bits=bits)
        except ValueError:
            pass
        else:
            raise AssertionError((bits, fmt))
