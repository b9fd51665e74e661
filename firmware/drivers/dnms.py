"""The Sensor.Community DNMS noise module on I2C (0x55): LAeq, LAmin and LAmax in dB(A).

The DNMS measures on its own microcontroller; the host closes an interval with "calculate
Leq" (0x0003), waits for data-ready (0x0004) and reads the three levels (0x0005) as
big-endian floats, two Sensirion-style words with a CRC each. Commands carry no CRC.
The levels cover the time since the previous "calculate Leq" (airRohr's sequence, from
its dnms_i2c driver)::

    from machine import I2C, Pin
    from drivers.dnms import DNMS
    sensor = DNMS(I2C(0, scl=Pin(22), sda=Pin(21)))
    sensor.start()         # checks the version, opens the first interval
    ...                    # one measurement interval later
    sensor.read()          # {"noise_laeq": 48.3, "noise_lamin": 41.0, "noise_lamax": 63.2}
"""

import time

from micropython import const

from drivers.errors import SensorError
from drivers.sensirion import SensirionDevice

ADDRESS = const(0x55)
_RESET = const(0x0001)
_VERSION = const(0x0002)
_CALCULATE_LEQ = const(0x0003)
_READY = const(0x0004)
_READ_LEQ = const(0x0005)
_POLL_MS = const(2)


class DNMS(SensirionDevice):
    MODEL = "DNMS"
    QUANTITIES: tuple[str, ...] = ("noise_laeq", "noise_lamin", "noise_lamax")
    WARMUP_MS = 1000

    def __init__(self, i2c, address=ADDRESS, correction_db=0.0):
        super().__init__(i2c, address)
        self.correction_db = correction_db
        self._word_buf = bytearray(3)
        self._data = bytearray(18)
        self.values: dict[str, float | None] = {
            "noise_laeq": None,
            "noise_lamin": None,
            "noise_lamax": None,
        }

    def start(self):
        """Check that a DNMS answers, and open the first measurement interval."""
        version = self.version()
        self._command(_CALCULATE_LEQ)
        return version

    def stop(self):
        """Nothing to stop: the DNMS measures all the time; ``read()`` closes intervals."""

    def reset(self):
        self._command(_RESET, 10)

    def version(self):
        """The module's version text, e.g. "DNMS V5.8.2"."""
        buf = bytearray(27)
        self._read_words(_VERSION, buf)
        text = bytearray()
        for i in range(0, 27, 3):
            for b in (buf[i], buf[i + 1]):
                if b:
                    text.append(b)
        version = text.decode()
        if not version.startswith("DNMS"):
            raise SensorError(
                "the device at I2C 0x%02x is not a DNMS (its version reads %r)"
                % (self.address, version)
            )
        return version

    def read(self, timeout_ms=100):
        """Close the interval and return its levels (plus ``correction_db``)."""
        try:
            self._command(_CALCULATE_LEQ)
            start = time.ticks_ms()
            while True:
                self._read_words(_READY, self._word_buf)
                if self._word(self._word_buf, 0):
                    break
                if time.ticks_diff(time.ticks_ms(), start) >= timeout_ms:
                    raise SensorError(
                        "DNMS: levels not ready within %d ms after calculate Leq" % timeout_ms
                    )
                time.sleep_ms(_POLL_MS)
            data = self._data
            self._read_words(_READ_LEQ, data)
        except SensorError:
            # airRohr resets the module after a failed read; the next read starts afresh.
            try:
                self._command(_RESET)
            except SensorError:
                pass
            raise
        values = self.values
        values["noise_laeq"] = self._float_at(data, 0)
        values["noise_lamin"] = self._float_at(data, 1)
        values["noise_lamax"] = self._float_at(data, 2)
        correction = self.correction_db
        if correction:
            values["noise_laeq"] += correction
            values["noise_lamin"] += correction
            values["noise_lamax"] += correction
        self.reads += 1
        return values
