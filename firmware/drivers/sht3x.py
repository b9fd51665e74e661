"""Sensirion SHT3x (SHT30/31/35) temperature and humidity sensor on I2C (0x44, or 0x45).

Single-shot measurement, high repeatability, no clock stretching (command 0x2400); the
answer is two words with a CRC each::

    T [°C] = -45 + 175 · S_T / 65535        RH [%] = 100 · S_RH / 65535

    from machine import I2C, Pin
    from drivers.sht3x import SHT3x
    sensor = SHT3x(I2C(0, scl=Pin(22), sda=Pin(21)))
    sensor.start()         # soft reset; checks the sensor answers
    sensor.read()          # {"temperature": 21.3, "humidity": 48.2}
"""

from micropython import const

from drivers.sensirion import SensirionDevice

ADDRESS = const(0x44)
_MEASURE_HIGH = const(0x2400)
_MEASURE_MS = const(16)  # at most 15.5 ms at high repeatability
_SOFT_RESET = const(0x30A2)
_HEATER_ON = const(0x306D)
_HEATER_OFF = const(0x3066)
_STATUS = const(0xF32D)


class SHT3x(SensirionDevice):
    MODEL = "SHT3x"
    QUANTITIES: tuple[str, ...] = ("temperature", "humidity")
    WARMUP_MS = 2

    def __init__(self, i2c, address=ADDRESS):
        super().__init__(i2c, address)
        self._data = bytearray(6)
        self._status_buf = bytearray(3)
        self.values: dict[str, float | None] = {"temperature": None, "humidity": None}

    def start(self):
        """Soft reset, then read the status register to check the sensor answers."""
        self._command(_SOFT_RESET, 2)
        return self.status()

    def stop(self):
        """Nothing to stop: the sensor idles between single measurements."""

    def status(self):
        self._read_words(_STATUS, self._status_buf)
        return self._word(self._status_buf, 0)

    def heater(self, on):
        """The built-in heater (to check the sensor or drive off condensation)."""
        self._command(_HEATER_ON if on else _HEATER_OFF)

    def read(self):
        data = self._data
        self._read_words(_MEASURE_HIGH, data, _MEASURE_MS)
        raw_t = data[0] << 8 | data[1]
        raw_rh = data[3] << 8 | data[4]
        values = self.values
        # One integer numerator, one division: a single float per value.
        values["temperature"] = (175 * raw_t - 45 * 65535) / 65535
        values["humidity"] = 100 * raw_rh / 65535
        self.reads += 1
        return values
