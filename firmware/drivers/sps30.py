"""Sensirion SPS30 particulate matter sensor on I2C (address 0x69, SEL pin to GND, 5 V supply).

Mass concentrations PM1, PM2.5, PM4 and PM10 (µg/m³), number concentrations and typical
particle size, as big-endian IEEE-754 floats (two words with a CRC each, 60 bytes in all)::

    from machine import I2C, Pin
    from drivers.sps30 import SPS30
    sensor = SPS30(I2C(0, scl=Pin(22), sda=Pin(21), freq=100000))
    sensor.start()         # fan on, a new measurement every second
    sensor.read()          # {"pm1": 5.2, "pm25": 9.5, "pm4": 12.6, "pm10": 13.3}
    sensor.clean_fan()     # 10 s of full-speed fan, to blow out dust
    sensor.stop()
"""

import time
from array import array

from micropython import const

from drivers.bus import sleep_ms
from drivers.errors import SensorError
from drivers.sensirion import SensirionDevice, crc_word

ADDRESS = const(0x69)
_START = const(0x0010)
_FLOAT_FORMAT = const(0x0300)
_STOP = const(0x0104)
_READY = const(0x0202)
_READ = const(0x0300)
_SLEEP = const(0x1001)
_WAKE = const(0x1103)
_CLEAN = const(0x5607)
_CLEANING_INTERVAL = const(0x8004)
_SERIAL = const(0xD033)
_RESET = const(0xD304)
_POLL_MS = const(50)


class SPS30(SensirionDevice):
    MODEL = "SPS30"
    QUANTITIES: tuple[str, ...] = ("pm1", "pm25", "pm4", "pm10")
    WARMUP_MS = 30000

    def __init__(self, i2c, address=ADDRESS):
        super().__init__(i2c, address)
        self._ready_buf = bytearray(3)
        self._data = bytearray(60)
        self._interval_buf = bytearray(8)
        self.values: dict[str, float | None] = {
            "pm1": None,
            "pm25": None,
            "pm4": None,
            "pm10": None,
        }
        # Number concentrations (#/cm³) of PM0.5, PM1, PM2.5, PM4, PM10 and the typical
        # particle size (µm), from the newest measurement.
        self.numbers = array("f", [0.0] * 5)
        self.typical_size = 0.0

    def start(self):
        """Start measuring, with floats as the output format (takes about 20 ms)."""
        self._command_arg(_START, _FLOAT_FORMAT, 20)

    def stop(self):
        self._command(_STOP, 20)

    def ready(self):
        self._read_words(_READY, self._ready_buf)
        return self._word(self._ready_buf, 0) & 1 == 1

    def read(self, timeout_ms=0):
        """The newest measurement not read before, or None if the sensor has none (yet)."""
        start = time.ticks_ms()
        while not self.ready():
            if time.ticks_diff(time.ticks_ms(), start) >= timeout_ms:
                return None
            time.sleep_ms(_POLL_MS)
        data = self._data
        self._read_words(_READ, data)
        values = self.values
        values["pm1"] = self._float_at(data, 0)
        values["pm25"] = self._float_at(data, 1)
        values["pm4"] = self._float_at(data, 2)
        values["pm10"] = self._float_at(data, 3)
        numbers = self.numbers
        for k in range(5):
            numbers[k] = self._float_at(data, 4 + k)
        self.typical_size = self._float_at(data, 9)
        self.reads += 1
        return values

    def clean_fan(self):
        """Run the fan at full speed for 10 s (only while measuring)."""
        self._command(_CLEAN, 20)

    def set_cleaning_interval(self, seconds):
        """Automatic fan cleaning every ``seconds`` (Sensirion's default: 604800, a week)."""
        if not 0 <= seconds < 1 << 32:
            raise ValueError("SPS30 cleaning interval must be 0 to 2**32 - 1 seconds")
        buf = self._interval_buf
        buf[0] = _CLEANING_INTERVAL >> 8
        buf[1] = _CLEANING_INTERVAL & 0xFF
        buf[2] = seconds >> 24
        buf[3] = (seconds >> 16) & 0xFF
        buf[4] = crc_word(buf[2], buf[3])
        buf[5] = (seconds >> 8) & 0xFF
        buf[6] = seconds & 0xFF
        buf[7] = crc_word(buf[5], buf[6])
        self._write(buf)
        sleep_ms(20)

    def sleep(self):
        """Low-power sleep (firmware 2.0 and later); stop() first."""
        self._command(_SLEEP, 5)

    def wake(self):
        """Wake from sleep: the first command only pulses SDA and is not acknowledged."""
        try:
            self._command(_WAKE)
        except SensorError:
            self.bus_errors -= 1
        self._command(_WAKE, 5)

    def reset(self):
        self._command(_RESET, 100)

    def serial(self):
        """The serial number, an ASCII string of up to 32 characters."""
        buf = bytearray(48)
        self._read_words(_SERIAL, buf)
        chars = bytearray()
        for i in range(0, 48, 3):
            for b in (buf[i], buf[i + 1]):
                if b:
                    chars.append(b)
        return chars.decode()
