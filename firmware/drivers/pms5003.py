"""Plantower PMS5003 / PMS7003 particulate matter sensor on a UART (9600 8N1): PM1, PM2.5, PM10.

A data frame is 32 bytes: ``42 4D``, the frame length (16-bit big-endian, 28), thirteen
16-bit big-endian words and a 16-bit checksum = the sum of all bytes before it, the
``42 4D`` included. Words 1–3 are PM1/PM2.5/PM10 at "CF=1", words 4–6 the same for the
"atmospheric environment" (what Sensor.Community and this driver report, µg/m³), words 7–12
particle counts per 0.1 L above 0.3/0.5/1/2.5/5/10 µm, word 13 version and error code.
Commands are 7 bytes ``42 4D CMD DATAH DATAL CHKH CHKL``; the sensor acknowledges mode and
sleep commands with an 8-byte frame of length 4.

The parser resynchronises on a stream that starts mid-frame or carries garbage, rejects and
counts bad frames, and allocates nothing::

    from machine import UART
    from drivers.pms5003 import PMS5003
    sensor = PMS5003(UART(2, baudrate=9600, rx=16, tx=17, timeout=0))
    sensor.start()
    sensor.read()          # {"pm1": 3, "pm25": 7, "pm10": 9}
    sensor.stop()          # asleep: fan off
"""

import time
from array import array

from micropython import const

from drivers.errors import SensorError

_HEAD1 = const(0x42)
_HEAD2 = const(0x4D)
_DATA_LENGTH = const(28)
_REPLY_LENGTH = const(4)
_MAX_FRAME = const(32)
_RX = const(32)
_POLL_MS = const(20)

_CMD_READ = const(0xE2)
_CMD_MODE = const(0xE1)
_CMD_SLEEP = const(0xE4)


class PMS5003:
    MODEL = "PMS5003"
    QUANTITIES: tuple[str, ...] = ("pm1", "pm25", "pm10")
    WARMUP_MS = 30000
    STALE_MS = 10000

    def __init__(self, uart, passive=False):
        self._uart = uart
        self.passive = passive
        self._rx = bytearray(_RX)
        self._frame = bytearray(_MAX_FRAME)
        self._pos = 0
        self._length = 0
        self._replay = bytearray(_MAX_FRAME)
        self._spare = bytearray(_MAX_FRAME)
        self._replay_at = 0
        self._replay_end = 0
        self._command_buf = bytearray(7)
        self._fresh = 0
        self._awake = True  # it powers up measuring
        self._last_ms = time.ticks_ms()
        self.values: dict[str, float | None] = {"pm1": None, "pm25": None, "pm10": None}
        # The 13 data words of the newest valid frame.
        self.words = array("H", [0] * 13)
        self.frames = 0
        self.acks = 0
        self.last_ack = 0
        self.checksum_errors = 0
        self.framing_errors = 0
        self.skipped_bytes = 0

    # -- the parser ------------------------------------------------------------------------

    def poll(self):
        """Parse the bytes the UART holds now; return how many data frames were new."""
        uart = self._uart
        rx = self._rx
        pending = uart.any()
        new = 0
        while pending > 0:
            n = uart.readinto(rx, pending if pending < _RX else _RX)
            if not n:
                break
            pending -= n
            new += self._parse(rx, n)
        self._fresh += new
        return new

    def _parse(self, src, n):
        # Bytes of a rejected frame after its first are examined again (the "replay"), so
        # a good frame that began inside a bad or truncated one is still found.
        frame = self._frame
        pos = self._pos
        length = self._length
        replay = self._replay
        new = 0
        i = 0
        while True:
            if self._replay_end:
                b = replay[self._replay_at]
                self._replay_at += 1
                if self._replay_at == self._replay_end:
                    self._replay_end = 0
            elif i < n:
                b = src[i]
                i += 1
            else:
                break
            if pos == 0:
                if b != _HEAD1:
                    self.skipped_bytes += 1
                    continue
            elif pos == 1 and b != _HEAD2:
                self.skipped_bytes += 1
                if b != _HEAD1:
                    self.skipped_bytes += 1
                    pos = 0
                continue
            frame[pos] = b
            pos += 1
            if pos == 4:
                length = frame[2] << 8 | frame[3]
                if length != _DATA_LENGTH and length != _REPLY_LENGTH:
                    self.framing_errors += 1
                    replay = self._reject(4)
                    pos = 0
                continue
            if pos < 4 or pos < length + 4:
                continue
            # A whole frame: the checksum covers every byte before its last two.
            end = length + 2
            total = 0
            for k in range(end):
                total += frame[k]
            if total != frame[end] << 8 | frame[end + 1]:
                self.checksum_errors += 1
                replay = self._reject(end + 2)
            elif length == _DATA_LENGTH:
                words = self.words
                for k in range(13):
                    words[k] = frame[4 + 2 * k] << 8 | frame[5 + 2 * k]
                self.frames += 1
                self._last_ms = time.ticks_ms()
                new += 1
            else:
                self.acks += 1
                self.last_ack = frame[4]
            pos = 0
        self._pos = pos
        self._length = length
        return new

    def _reject(self, size):
        """Drop the first byte of a rejected frame and queue the rest to be examined again."""
        frame = self._frame
        old = self._replay
        spare = self._spare
        k = 0
        for j in range(1, size):
            spare[k] = frame[j]
            k += 1
        if self._replay_end:
            for j in range(self._replay_at, self._replay_end):
                spare[k] = old[j]
                k += 1
        self._replay = spare
        self._spare = old
        self._replay_at = 0
        self._replay_end = k
        self.skipped_bytes += 1
        return spare

    # -- measurements ----------------------------------------------------------------------

    def read(self, timeout_ms=0):
        """The newest atmospheric-environment PM values (µg/m³) not read before, or None.

        In passive mode each read also asks for the next frame. An awake sensor that sent
        no valid frame for ``STALE_MS`` is an error: wiring, power or the SET pin.
        """
        self.poll()
        if self.passive and not self._fresh:
            self._send(_CMD_READ, 0)
            self.poll()
        start = time.ticks_ms()
        while not self._fresh:
            if time.ticks_diff(time.ticks_ms(), start) >= timeout_ms:
                if self._awake and time.ticks_diff(time.ticks_ms(), self._last_ms) > self.STALE_MS:
                    raise SensorError(
                        "PMS5003: no valid frame for %d s; check the sensor's TX to the ESP32's "
                        "RX pin, its 5 V supply and its SET pin (high = awake)"
                        % (time.ticks_diff(time.ticks_ms(), self._last_ms) // 1000)
                    )
                return None
            time.sleep_ms(_POLL_MS)
            self.poll()
        self._fresh = 0
        words = self.words
        values = self.values
        values["pm1"] = words[3]
        values["pm25"] = words[4]
        values["pm10"] = words[5]
        if self.passive:
            self._send(_CMD_READ, 0)
        return values

    def counts(self):
        """Particles per 0.1 L above 0.3, 0.5, 1, 2.5, 5 and 10 µm (newest frame)."""
        return tuple(self.words[6:12])

    # -- commands --------------------------------------------------------------------------

    def start(self):
        self.wake()
        self.set_passive(self.passive)

    def stop(self):
        self.sleep()

    def sleep(self):
        self._send(_CMD_SLEEP, 0)
        self._awake = False
        self._fresh = 0

    def wake(self):
        """Fan on; data is stable about 30 s after waking (Plantower's datasheet)."""
        self._send(_CMD_SLEEP, 1)
        self._awake = True
        self._last_ms = time.ticks_ms()

    def set_passive(self, on):
        """Passive mode: the sensor sends a frame only when asked (``read()`` asks)."""
        self._send(_CMD_MODE, 0 if on else 1)
        self.passive = bool(on)

    def _send(self, command, data):
        buf = self._command_buf
        buf[0] = _HEAD1
        buf[1] = _HEAD2
        buf[2] = command
        buf[3] = data >> 8
        buf[4] = data & 0xFF
        total = _HEAD1 + _HEAD2 + command + (data >> 8) + (data & 0xFF)
        buf[5] = total >> 8
        buf[6] = total & 0xFF
        self._uart.write(buf)
