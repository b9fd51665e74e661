"""The thin bus interface the sensor drivers depend on, and their I2C base class.

A driver is built on a bus object it is given; it never creates one. On the ESP32 the bus
is ``machine.UART`` or ``machine.I2C``/``SoftI2C``; under the unix port the fakes in
firmware/sim play the same part. Drivers use only these methods:

    UART: any(), readinto(buf, nbytes), write(buf)       (construct it with timeout=0)
    I2C:  writeto(addr, buf), readfrom_into(addr, buf),
          writeto_mem(addr, reg, buf), readfrom_mem_into(addr, reg, buf)

Every driver has the same shape::

    from machine import I2C, Pin
    from drivers.scd30 import SCD30
    sensor = SCD30(I2C(0, scl=Pin(22), sda=Pin(21), freq=100000))
    sensor.start()
    values = sensor.read()        # {"co2": 612.4, "temperature": 21.3, "humidity": 48.0}
    sensor.stop()

``read()`` returns the driver's own dict of canonical quantities (the protocol's names and
units), updated in place at each read (copy it to keep it), or ``None`` while there is no
new valid measurement; it never waits long. Failures raise ``drivers.errors.SensorError``
with a message that names the sensor and what to check (NACK, time-out, a checksum or CRC
that does not match, no frames at all); a failed read leaves the driver ready for the next.
"""

import time

from micropython import const

from drivers.errors import SensorError

_ENODEV = const(19)
_EIO = const(5)
_ETIMEDOUT = const(110)
_ETIMEDOUT_NEWLIB = const(116)  # ESP-IDF (newlib) numbers ETIMEDOUT 116


def bus_error(name, address, exc):
    """A SensorError for an OSError from ``machine.I2C``, with a message that says what to fix."""
    code = exc.args[0] if exc.args else 0
    if code == _ENODEV:
        why = "no acknowledge (NACK): check power, SDA/SCL wiring and the address"
    elif code in (_ETIMEDOUT, _ETIMEDOUT_NEWLIB):
        why = "bus time-out: check the pull-ups and that nothing holds SCL low"
    elif code == _EIO:
        why = "I/O error on the bus"
    else:
        why = "bus error " + str(code)
    return SensorError("%s at I2C 0x%02x: %s" % (name, address, why))


class I2CDevice:
    """Base of the I2C drivers: counts bus errors and turns OSError into SensorError."""

    MODEL = "I2C sensor"

    def __init__(self, i2c, address):
        self._i2c = i2c
        self.address = address
        self.bus_errors = 0
        self.checksum_errors = 0
        self.reads = 0

    def _write(self, buf):
        try:
            self._i2c.writeto(self.address, buf)
        except OSError as exc:
            self.bus_errors += 1
            raise bus_error(self.MODEL, self.address, exc)

    def _read_into(self, buf):
        try:
            self._i2c.readfrom_into(self.address, buf)
        except OSError as exc:
            self.bus_errors += 1
            raise bus_error(self.MODEL, self.address, exc)

    def _write_reg(self, reg, buf):
        try:
            self._i2c.writeto_mem(self.address, reg, buf)
        except OSError as exc:
            self.bus_errors += 1
            raise bus_error(self.MODEL, self.address, exc)

    def _read_reg(self, reg, buf):
        try:
            self._i2c.readfrom_mem_into(self.address, reg, buf)
        except OSError as exc:
            self.bus_errors += 1
            raise bus_error(self.MODEL, self.address, exc)


# The datasheets' waits (conversion times, command gaps). The decode benchmark turns them
# off, as its fake sensors answer at once; firmware never does.
DELAYS = True


def sleep_ms(ms):
    if ms > 0 and DELAYS:
        time.sleep_ms(ms)
