"""Sensirion SCD30 CO2, temperature and humidity sensor on I2C (0x61, at most 100 kHz).

The SCD30 stretches the clock (up to 150 ms, rarely) and does not support a repeated start:
commands and reads are separate transfers, at least 3 ms apart. A measurement is three
big-endian floats, each as two words with a CRC::

    from machine import I2C, Pin
    from drivers.scd30 import SCD30
    sensor = SCD30(I2C(0, scl=Pin(22), sda=Pin(21), freq=50000))
    sensor.start()                 # continuous measurement, every 2 s
    sensor.read()                  # {"co2": 612.4, "temperature": 21.3, "humidity": 48.0}
    sensor.stop()
"""

import time

from micropython import const

from drivers.sensirion import SensirionDevice

ADDRESS = const(0x61)
_START = const(0x0010)
_STOP = const(0x0104)
_INTERVAL = const(0x4600)
_READY = const(0x0202)
_READ = const(0x0300)
_AUTO_CALIBRATION = const(0x5306)
_FORCED_RECALIBRATION = const(0x5204)
_TEMPERATURE_OFFSET = const(0x5403)
_ALTITUDE = const(0x5102)
_FIRMWARE = const(0xD100)
_SOFT_RESET = const(0xD304)
_GAP_MS = const(3)
_POLL_MS = const(100)


class SCD30(SensirionDevice):
    MODEL = "SCD30"
    QUANTITIES: tuple[str, ...] = ("co2", "temperature", "humidity")
    WARMUP_MS = 2000

    def __init__(self, i2c, address=ADDRESS):
        super().__init__(i2c, address)
        self._word_buf = bytearray(3)
        self._data = bytearray(18)
        self.values: dict[str, float | None] = {"co2": None, "temperature": None, "humidity": None}

    def start(self, pressure_mbar=0):
        """Measure continuously; ``pressure_mbar`` (700–1400) compensates, 0 leaves it off."""
        if pressure_mbar and not 700 <= pressure_mbar <= 1400:
            raise ValueError("SCD30 ambient pressure must be 0 (off) or 700-1400 mbar")
        self._command_arg(_START, pressure_mbar, _GAP_MS)

    def stop(self):
        self._command(_STOP, _GAP_MS)

    def set_interval(self, seconds):
        if not 2 <= seconds <= 1800:
            raise ValueError("SCD30 measurement interval must be 2-1800 s, not %r" % (seconds,))
        self._command_arg(_INTERVAL, seconds, _GAP_MS)

    def set_auto_calibration(self, on):
        self._command_arg(_AUTO_CALIBRATION, 1 if on else 0, _GAP_MS)

    def set_temperature_offset(self, celsius):
        """Subtract ``celsius`` (≥ 0, the kit's self-heating) from the temperature."""
        self._command_arg(_TEMPERATURE_OFFSET, int(celsius * 100), _GAP_MS)

    def set_altitude(self, metres):
        self._command_arg(_ALTITUDE, metres, _GAP_MS)

    def calibrate(self, co2_ppm):
        """Forced recalibration to a known concentration (400–2000 ppm)."""
        self._command_arg(_FORCED_RECALIBRATION, co2_ppm, _GAP_MS)

    def firmware_version(self):
        self._read_words(_FIRMWARE, self._word_buf, _GAP_MS)
        return (self._word_buf[0], self._word_buf[1])

    def reset(self):
        self._command(_SOFT_RESET, 2000)

    def ready(self):
        self._read_words(_READY, self._word_buf, _GAP_MS)
        return self._word(self._word_buf, 0) == 1

    def read(self, timeout_ms=0):
        """The newest measurement not read before, or None if the sensor has none (yet)."""
        start = time.ticks_ms()
        while not self.ready():
            if time.ticks_diff(time.ticks_ms(), start) >= timeout_ms:
                return None
            time.sleep_ms(_POLL_MS)
        data = self._data
        self._read_words(_READ, data, _GAP_MS)
        values = self.values
        values["co2"] = self._float_at(data, 0)
        values["temperature"] = self._float_at(data, 1)
        values["humidity"] = self._float_at(data, 2)
        self.reads += 1
        return values
