"""Sensirion's I2C conventions, shared by the SPS30, SHT3x, SHT4x, SCD30, SCD4x and the DNMS.

Commands are 16-bit big-endian. Data travels as 16-bit big-endian words, each followed by
a CRC-8 (polynomial 0x31, initial value 0xFF, no reflection, no final XOR); the datasheets'
example is CRC(0xBEEF) = 0x92::

    from drivers.sensirion import crc8
    crc8(b"\\xbe\\xef") == 0x92

A word whose CRC does not match is never turned into a value: the whole answer is
rejected, counted in ``checksum_errors`` and reported as ``SensorError``.
"""

import uctypes
from micropython import const

from drivers.bus import I2CDevice, sleep_ms
from drivers.errors import SensorError

_POLYNOMIAL = const(0x31)


def _make_table():
    table = bytearray(256)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = ((crc << 1) ^ _POLYNOMIAL) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table[i] = crc
    return table


_TABLE = _make_table()


def crc8(data):
    """CRC-8 of all bytes of ``data`` (table driven; allocation-free)."""
    table = _TABLE
    crc = 0xFF
    for i in range(len(data)):
        crc = table[crc ^ data[i]]
    return crc


def crc_word(msb, lsb):
    """CRC-8 of one 16-bit word given as its two bytes."""
    return _TABLE[_TABLE[0xFF ^ msb] ^ lsb]


class SensirionDevice(I2CDevice):
    """Commands, word reads with CRC checks, and big-endian floats made of two words."""

    def __init__(self, i2c, address):
        super().__init__(i2c, address)
        self._command_buf = bytearray(2)
        self._command_arg_buf = bytearray(5)
        self._float_bytes = bytearray(4)
        self._float = uctypes.struct(
            uctypes.addressof(self._float_bytes), {"v": uctypes.FLOAT32 | 0}, uctypes.BIG_ENDIAN
        )

    def _command(self, command, delay_ms=0):
        buf = self._command_buf
        buf[0] = command >> 8
        buf[1] = command & 0xFF
        self._write(buf)
        sleep_ms(delay_ms)

    def _command_arg(self, command, argument, delay_ms=0):
        buf = self._command_arg_buf
        buf[0] = command >> 8
        buf[1] = command & 0xFF
        buf[2] = argument >> 8
        buf[3] = argument & 0xFF
        buf[4] = crc_word(buf[2], buf[3])
        self._write(buf)
        sleep_ms(delay_ms)

    def _read_words(self, command, buf, delay_ms=0):
        """Send ``command``, wait, read ``len(buf)`` bytes (3 per word) and check every CRC."""
        self._command(command, delay_ms)
        self._read_into(buf)
        self._check(buf, command)

    def _check(self, buf, command):
        table = _TABLE
        for i in range(0, len(buf) - 2, 3):
            if table[table[0xFF ^ buf[i]] ^ buf[i + 1]] != buf[i + 2]:
                self.checksum_errors += 1
                raise SensorError(
                    "%s: CRC mismatch in word %d of the answer to command 0x%04x; reading "
                    "rejected (noise on the bus? check cable length and pull-ups)"
                    % (self.MODEL, i // 3, command)
                )

    @staticmethod
    def _word(buf, index):
        """The ``index``-th 16-bit word of a CRC-checked answer."""
        i = 3 * index
        return (buf[i] << 8) | buf[i + 1]

    def _float_at(self, buf, index):
        """The ``index``-th big-endian IEEE-754 float (two words) of a CRC-checked answer."""
        i = 6 * index
        f = self._float_bytes
        f[0] = buf[i]
        f[1] = buf[i + 1]
        f[2] = buf[i + 3]
        f[3] = buf[i + 4]
        return self._float.v
