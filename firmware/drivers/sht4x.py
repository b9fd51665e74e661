"""Sensirion SHT4x (SHT40/41/45) temperature and humidity sensor on I2C (0x44; 0x45, 0x46).

One-byte commands; high precision measurement 0xFD, answer after at most 8.3 ms as two
words with a CRC each. The humidity formula differs from the SHT3x's::

    T [°C] = -45 + 175 · S_T / 65535        RH [%] = -6 + 125 · S_RH / 65535, clamped to 0–100

    from machine import I2C, Pin
    from drivers.sht4x import SHT4x
    sensor = SHT4x(I2C(0, scl=Pin(22), sda=Pin(21)))
    sensor.start()         # soft reset, then reads the serial number
    sensor.read()          # {"temperature": 21.3, "humidity": 48.2}
"""

from micropython import const

from drivers.bus import sleep_ms
from drivers.sensirion import SensirionDevice

ADDRESS = const(0x44)
_MEASURE_HIGH = const(0xFD)
_MEASURE_MS = const(10)
_SERIAL = const(0x89)
_SOFT_RESET = const(0x94)


class SHT4x(SensirionDevice):
    MODEL = "SHT4x"
    QUANTITIES: tuple[str, ...] = ("temperature", "humidity")
    WARMUP_MS = 1

    def __init__(self, i2c, address=ADDRESS):
        super().__init__(i2c, address)
        self._byte = bytearray(1)
        self._data = bytearray(6)
        self.values: dict[str, float | None] = {"temperature": None, "humidity": None}

    def _command1(self, command, delay_ms):
        self._byte[0] = command
        self._write(self._byte)
        sleep_ms(delay_ms)

    def start(self):
        """Soft reset, then read the serial number to check the sensor answers."""
        self._command1(_SOFT_RESET, 1)
        return self.serial()

    def stop(self):
        """Nothing to stop: the sensor idles between single measurements."""

    def serial(self):
        self._command1(_SERIAL, 1)
        data = self._data
        self._read_into(data)
        self._check(data, _SERIAL)
        return self._word(data, 0) << 16 | self._word(data, 1)

    def read(self):
        data = self._data
        self._command1(_MEASURE_HIGH, _MEASURE_MS)
        self._read_into(data)
        self._check(data, _MEASURE_HIGH)
        raw_t = data[0] << 8 | data[1]
        raw_rh = data[3] << 8 | data[4]
        # Integer numerators, one division each; the clamp compares integers.
        rh = 125 * raw_rh - 6 * 65535
        values = self.values
        values["temperature"] = (175 * raw_t - 45 * 65535) / 65535
        if rh <= 0:
            values["humidity"] = 0.0
        elif rh >= 100 * 65535:
            values["humidity"] = 100.0
        else:
            values["humidity"] = rh / 65535
        self.reads += 1
        return values
