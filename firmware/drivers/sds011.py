"""Nova Fitness SDS011 particulate matter sensor on a UART (9600 8N1): PM2.5 and PM10.

Frames (Nova "Laser Dust Sensor Control Protocol V1.3"), checksum = low byte of the sum of
the bytes between the type byte and the checksum::

    measurement  AA C0 PM25_L PM25_H PM10_L PM10_H ID1 ID2 CHK AB   (µg/m³ × 10)
    reply        AA C5 CMD b3 b4 b5 ID1 ID2 CHK AB
    command      AA B4 CMD d2 … d13 ID1 ID2 CHK AB                  (ID FF FF: any sensor)

The parser takes the byte stream as it comes: it finds frames in a stream that starts
mid-frame or carries garbage, rejects and counts frames with a wrong checksum or tail, and
allocates nothing::

    from machine import UART
    from drivers.sds011 import SDS011
    sensor = SDS011(UART(2, baudrate=9600, rx=16, tx=17, timeout=0))
    sensor.start()            # fan and laser on, a measurement every second
    sensor.read()             # {"pm25": 7.4, "pm10": 12.1}
    sensor.stop()             # asleep: fan and laser off
"""

import time

from micropython import const

from drivers.errors import SensorError

_HEAD = const(0xAA)
_TAIL = const(0xAB)
_DATA = const(0xC0)
_REPLY = const(0xC5)
_COMMAND = const(0xB4)
_FRAME = const(10)
_RX = const(32)
_POLL_MS = const(20)

_CMD_REPORTING_MODE = const(2)
_CMD_QUERY = const(4)
_CMD_SLEEP_WORK = const(6)
_CMD_FIRMWARE = const(7)
_CMD_WORKING_PERIOD = const(8)
_SET = const(1)


class SDS011:
    MODEL = "SDS011"
    QUANTITIES: tuple[str, ...] = ("pm25", "pm10")
    WARMUP_MS = 30000
    STALE_MS = 10000

    def __init__(self, uart, query_mode=False):
        self._uart = uart
        self.query_mode = query_mode
        self._rx = bytearray(_RX)
        self._frame = bytearray(_FRAME)
        self._pos = 0
        self._command_buf = bytearray(19)
        self._fresh = 0
        self._awake = True  # it powers up measuring
        self._last_ms = time.ticks_ms()
        self._reply_command = -1
        self._reply = bytearray(4)
        self.values: dict[str, float | None] = {"pm25": None, "pm10": None}
        self.pm25_tenths = 0
        self.pm10_tenths = 0
        self.device_id = None
        self.frames = 0
        self.checksum_errors = 0
        self.framing_errors = 0
        self.skipped_bytes = 0

    # -- the parser ------------------------------------------------------------------------

    def poll(self):
        """Parse the bytes the UART holds now; return how many measurement frames were new."""
        uart = self._uart
        rx = self._rx
        frame = self._frame
        pending = uart.any()
        new = 0
        while pending > 0:
            n = uart.readinto(rx, pending if pending < _RX else _RX)
            if not n:
                break
            pending -= n
            pos = self._pos
            for i in range(n):
                b = rx[i]
                if pos == 0:
                    if b != _HEAD:
                        self.skipped_bytes += 1
                        continue
                elif pos == 1 and b != _DATA and b != _REPLY:
                    self.skipped_bytes += 1  # the lone 0xAA before
                    if b != _HEAD:
                        self.skipped_bytes += 1
                        pos = 0
                    continue
                frame[pos] = b
                pos += 1
                if pos < _FRAME:
                    continue
                if frame[9] != _TAIL:
                    self.framing_errors += 1
                    pos = self._resync()
                elif (
                    frame[2] + frame[3] + frame[4] + frame[5] + frame[6] + frame[7]
                ) & 0xFF != frame[8]:
                    self.checksum_errors += 1
                    pos = self._resync()
                else:
                    pos = 0
                    if frame[1] == _DATA:
                        self.pm25_tenths = frame[2] | frame[3] << 8
                        self.pm10_tenths = frame[4] | frame[5] << 8
                        self.device_id = frame[6] << 8 | frame[7]
                        self.frames += 1
                        self._last_ms = time.ticks_ms()
                        new += 1
                    else:
                        self._reply_command = frame[2]
                        reply = self._reply
                        reply[0] = frame[3]
                        reply[1] = frame[4]
                        reply[2] = frame[5]
            self._pos = pos
        self._fresh += new
        return new

    def _resync(self):
        """After a rejected frame, keep its bytes from the next possible header on."""
        frame = self._frame
        for j in range(1, _FRAME):
            if frame[j] == _HEAD and (
                j == _FRAME - 1 or frame[j + 1] == _DATA or frame[j + 1] == _REPLY
            ):
                for k in range(_FRAME - j):
                    frame[k] = frame[j + k]
                self.skipped_bytes += j
                return _FRAME - j
        self.skipped_bytes += _FRAME
        return 0

    # -- measurements ----------------------------------------------------------------------

    def read(self, timeout_ms=0):
        """The newest measurement not read before, or None if none arrived (in ``timeout_ms``).

        In query mode each read also asks for the next measurement, so that its answer is
        there for the next read. An awake sensor that sent no valid frame for ``STALE_MS``
        is an error: wiring, power or baud rate.
        """
        self.poll()
        if self.query_mode and not self._fresh:
            self._send(_CMD_QUERY, 0, 0)
            self.poll()
        start = time.ticks_ms()
        while not self._fresh:
            if time.ticks_diff(time.ticks_ms(), start) >= timeout_ms:
                if self._awake and time.ticks_diff(time.ticks_ms(), self._last_ms) > self.STALE_MS:
                    raise SensorError(
                        "SDS011: no valid frame for %d s; check the sensor's TXD to the ESP32's "
                        "RX pin, its 5 V supply and the baud rate (9600)"
                        % (time.ticks_diff(time.ticks_ms(), self._last_ms) // 1000)
                    )
                return None
            time.sleep_ms(_POLL_MS)
            self.poll()
        self._fresh = 0
        values = self.values
        values["pm25"] = self.pm25_tenths / 10
        values["pm10"] = self.pm10_tenths / 10
        if self.query_mode:
            self._send(_CMD_QUERY, 0, 0)
        return values

    # -- commands --------------------------------------------------------------------------

    def start(self):
        """Wake the sensor and put it in the reporting mode this driver was made with."""
        self.wake()
        self.set_query_mode(self.query_mode)

    def stop(self):
        self.sleep()

    def sleep(self):
        """Fan and laser off; ``wake()`` turns them on again."""
        self._set(_CMD_SLEEP_WORK, 0)
        self._awake = False
        self._fresh = 0  # what arrived before is no measurement of the coming period

    def wake(self):
        self._set(_CMD_SLEEP_WORK, 1)
        self._awake = True
        self._last_ms = time.ticks_ms()

    def set_query_mode(self, on):
        """Query mode: the sensor measures only when asked (``read()`` asks)."""
        self._set(_CMD_REPORTING_MODE, 1 if on else 0)
        self.query_mode = bool(on)

    def set_working_period(self, minutes):
        """Measure every ``minutes`` (1–30, sleeping in between) or continuously (0)."""
        if not 0 <= minutes <= 30:
            raise ValueError(
                "SDS011 working period must be 0 (continuous) to 30 minutes, not %r" % (minutes,)
            )
        self._set(_CMD_WORKING_PERIOD, minutes)

    def firmware_version(self, timeout_ms=1000):
        """The firmware date as (year, month, day), e.g. (18, 11, 16)."""
        self._ask(_CMD_FIRMWARE, 0, 0, timeout_ms)
        reply = self._reply
        return (reply[0], reply[1], reply[2])

    def _set(self, command, value, timeout_ms=1000):
        self._ask(command, _SET, value, timeout_ms)
        if self._reply[1] != value:
            raise SensorError(
                "SDS011 answered command 0x%02x with %d instead of %d"
                % (command, self._reply[1], value)
            )

    def _ask(self, command, b3, b4, timeout_ms):
        self.poll()
        self._reply_command = -1
        self._send(command, b3, b4)
        start = time.ticks_ms()
        while self._reply_command != command:
            if time.ticks_diff(time.ticks_ms(), start) >= timeout_ms:
                raise SensorError(
                    "SDS011 did not answer command 0x%02x within %d ms; check the ESP32's TX pin "
                    "to the sensor's RXD and the 5 V supply" % (command, timeout_ms)
                )
            time.sleep_ms(_POLL_MS)
            self.poll()

    def _send(self, command, b3, b4):
        buf = self._command_buf
        buf[0] = _HEAD
        buf[1] = _COMMAND
        buf[2] = command
        buf[3] = b3
        buf[4] = b4
        for i in range(5, 15):
            buf[i] = 0
        buf[15] = 0xFF
        buf[16] = 0xFF
        total = 0
        for i in range(2, 17):
            total += buf[i]
        buf[17] = total & 0xFF
        buf[18] = _TAIL
        self._uart.write(buf)
