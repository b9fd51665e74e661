"""Sensirion SCD40 / SCD41 CO2, temperature and humidity sensor on I2C (0x62).

A measurement is three words with a CRC each. Unlike the SHT3x/SHT4x the conversion divides
by 2^16, not 2^16 - 1 (Sensirion's embedded-i2c-scd4x driver)::

    CO2 [ppm] = word0    T [°C] = -45 + 175 · word1 / 65536    RH [%] = 100 · word2 / 65536

While measuring periodically the sensor answers only read, data-ready, stop and the ambient
pressure command::

    from machine import I2C, Pin
    from drivers.scd4x import SCD4x
    sensor = SCD4x(I2C(0, scl=Pin(22), sda=Pin(21)))
    sensor.start()                 # a measurement every 5 s (low_power=True: every 30 s)
    sensor.read()                  # {"co2": 612, "temperature": 21.3, "humidity": 48.0}
    sensor.stop()                  # takes 500 ms
"""

import time

from micropython import const

from drivers.sensirion import SensirionDevice

ADDRESS = const(0x62)
_START_PERIODIC = const(0x21B1)
_START_LOW_POWER = const(0x21AC)
_READ = const(0xEC05)
_STOP = const(0x3F86)
_READY = const(0xE4B8)
_TEMPERATURE_OFFSET = const(0x241D)
_ALTITUDE = const(0x2427)
_AMBIENT_PRESSURE = const(0xE000)
_AUTO_CALIBRATION = const(0x2416)
_PERSIST = const(0x3615)
_SERIAL = const(0x3682)
_REINIT = const(0x3646)
_POLL_MS = const(100)


class SCD4x(SensirionDevice):
    MODEL = "SCD4x"
    QUANTITIES: tuple[str, ...] = ("co2", "temperature", "humidity")
    WARMUP_MS = 5000

    def __init__(self, i2c, address=ADDRESS):
        super().__init__(i2c, address)
        self._word_buf = bytearray(3)
        self._data = bytearray(9)
        self.values: dict[str, float | None] = {"co2": None, "temperature": None, "humidity": None}

    def start(self, low_power=False):
        self._command(_START_LOW_POWER if low_power else _START_PERIODIC)

    def stop(self):
        """Stop periodic measurement; the sensor takes commands again after 500 ms."""
        self._command(_STOP, 500)

    def ready(self):
        self._read_words(_READY, self._word_buf, 1)
        return self._word(self._word_buf, 0) & 0x07FF != 0

    def read(self, timeout_ms=0):
        """The newest measurement not read before, or None if the sensor has none (yet)."""
        start = time.ticks_ms()
        while not self.ready():
            if time.ticks_diff(time.ticks_ms(), start) >= timeout_ms:
                return None
            time.sleep_ms(_POLL_MS)
        data = self._data
        self._read_words(_READ, data, 1)
        values = self.values
        values["co2"] = data[0] << 8 | data[1]
        values["temperature"] = (175 * (data[3] << 8 | data[4]) - 45 * 65536) / 65536
        values["humidity"] = 100 * (data[6] << 8 | data[7]) / 65536
        self.reads += 1
        return values

    def set_temperature_offset(self, celsius):
        """Offset for the kit's self-heating (0–20 °C; Sensirion's default is 4 °C)."""
        self._command_arg(_TEMPERATURE_OFFSET, int(celsius * 65536 / 175 + 0.5), 1)

    def set_altitude(self, metres):
        self._command_arg(_ALTITUDE, metres, 1)

    def set_ambient_pressure(self, hpa):
        """Pressure compensation, also while measuring (overrides the altitude)."""
        self._command_arg(_AMBIENT_PRESSURE, int(hpa + 0.5), 1)

    def set_auto_calibration(self, on):
        self._command_arg(_AUTO_CALIBRATION, 1 if on else 0, 1)

    def persist_settings(self):
        """Store the settings in EEPROM (at most 2000 writes in a sensor's life)."""
        self._command(_PERSIST, 800)

    def serial(self):
        buf = bytearray(9)
        self._read_words(_SERIAL, buf, 1)
        return self._word(buf, 0) << 32 | self._word(buf, 1) << 16 | self._word(buf, 2)

    def reinit(self):
        self._command(_REINIT, 30)
