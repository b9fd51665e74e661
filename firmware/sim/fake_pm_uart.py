"""Fake SDS011 and PMS5003 sensors at the far end of a fake UART (fake_uart.py).

They speak the datasheets' protocols: frames are built from the values set on them with
the checksum computed here (independently of the drivers), commands are parsed and
checked, and answered as the real sensors answer them::

    sds = FakeSDS011(pm25=7.4, pm10=12.1)     # active mode: a frame whenever the line is idle
    uart.attach(sds)
    sds.set(pm25=35.2, pm10=50.0)             # the next frames carry the new values
"""


def sds011_frame(kind, b2, b3, b4, b5, b6, b7):
    """A 10-byte SDS011 frame (``kind`` 0xC0 measurement, 0xC5 reply) with its checksum."""
    return bytes((0xAA, kind, b2, b3, b4, b5, b6, b7, (b2 + b3 + b4 + b5 + b6 + b7) % 256, 0xAB))


def sds011_command(command, b3=0, b4=0, device_id=0xFFFF):
    """A 19-byte SDS011 command frame with its checksum (the sum of data bytes 1–15)."""
    data = [command, b3, b4] + [0] * 10 + [device_id >> 8, device_id & 0xFF]
    return bytes([0xAA, 0xB4] + data + [sum(data) % 256, 0xAB])


def pms_frame(words):
    """A PMS5003 frame: 42 4D, length, the words, and the 16-bit sum of all bytes before."""
    body = bytearray(b"\x42\x4d")
    length = 2 * len(words) + 2
    body.append(length >> 8)
    body.append(length & 0xFF)
    for w in words:
        body.append(w >> 8)
        body.append(w & 0xFF)
    total = sum(body)
    body.append((total >> 8) & 0xFF)
    body.append(total & 0xFF)
    return bytes(body)


def pms_command(command, data=0):
    body = bytes((0x42, 0x4D, command, data >> 8, data & 0xFF))
    total = sum(body)
    return body + bytes((total >> 8, total & 0xFF))


class FakeSDS011:
    """Nova SDS011: active or query reporting, sleep/work, working period, firmware date."""

    def __init__(self, pm25=7.4, pm10=12.1, device_id=0xA160, firmware=(18, 11, 16)):
        self.device_id = device_id
        self.firmware = firmware
        self.awake = True
        self.query_mode = False
        self.period = 0
        self.frames_sent = 0
        self.bad_commands = 0
        self.commands = []
        self._rx = bytearray()
        self.set(pm25, pm10)

    def set(self, pm25, pm10):
        p25 = round(pm25 * 10)  # an int, on MicroPython as on CPython
        p10 = round(pm10 * 10)
        self.frame = sds011_frame(
            0xC0,
            p25 & 0xFF,
            p25 >> 8,
            p10 & 0xFF,
            p10 >> 8,
            self.device_id >> 8,
            self.device_id & 0xFF,
        )

    def service(self, uart):
        if self.awake and not self.query_mode and uart._count == 0:
            self._send(uart, self.frame)

    def _send(self, uart, frame):
        uart.feed(frame)
        self.frames_sent += 1

    def _reply(self, uart, command, b3, b4, b5=0):
        uart.feed(
            sds011_frame(0xC5, command, b3, b4, b5, self.device_id >> 8, self.device_id & 0xFF)
        )

    def receive(self, uart, data):
        self._rx.extend(data)
        while len(self._rx) >= 19:
            start = self._rx.find(b"\xaa\xb4")
            if start < 0:
                self._rx = bytearray()
                return
            if len(self._rx) - start < 19:
                self._rx = self._rx[start:]
                return
            frame = bytes(self._rx[start : start + 19])
            self._rx = self._rx[start + 19 :]
            if frame[18] != 0xAB or sum(frame[2:17]) % 256 != frame[17]:
                self.bad_commands += 1
                continue
            target = frame[15] << 8 | frame[16]
            if target not in (0xFFFF, self.device_id):
                continue
            self._command(uart, frame[2], frame[3], frame[4])

    def _command(self, uart, command, setting, value):
        self.commands.append((command, setting, value))
        if command == 6:  # sleep / work: the only command a sleeping sensor hears
            if setting:
                self.awake = bool(value)
            self._reply(uart, 6, setting, 1 if self.awake else 0)
            return
        if not self.awake:
            return
        if command == 2:
            if setting:
                self.query_mode = bool(value)
            self._reply(uart, 2, setting, 1 if self.query_mode else 0)
        elif command == 4:
            self._send(uart, self.frame)
        elif command == 7:
            year, month, day = self.firmware
            self._reply(uart, 7, year, month, day)
        elif command == 8:
            if setting:
                self.period = value
            self._reply(uart, 8, setting, self.period)


class FakePMS5003:
    """Plantower PMS5003/PMS7003: active or passive mode, sleep/wake, acknowledgements."""

    def __init__(self, pm1=3, pm25=7, pm10=9, counts=(1200, 350, 60, 8, 2, 1), version=0x97):
        self.version = version
        self.error = 0
        self.awake = True
        self.passive = False
        self.frames_sent = 0
        self.bad_commands = 0
        self.commands = []
        self._rx = bytearray()
        self.set(pm1, pm25, pm10, counts)

    def set(self, pm1, pm25, pm10, counts=None, cf1=None):
        """Atmospheric PM values (µg/m³); CF=1 values default to the same."""
        if counts is not None:
            self.counts = tuple(counts)
        cf1 = cf1 or (pm1, pm25, pm10)
        self.words = (
            list(cf1) + [pm1, pm25, pm10] + list(self.counts) + [self.version << 8 | self.error]
        )
        self.frame = pms_frame(self.words)

    def service(self, uart):
        if self.awake and not self.passive and uart._count == 0:
            self._send(uart, self.frame)

    def _send(self, uart, frame):
        uart.feed(frame)
        self.frames_sent += 1

    def receive(self, uart, data):
        self._rx.extend(data)
        while len(self._rx) >= 7:
            start = self._rx.find(b"\x42\x4d")
            if start < 0:
                self._rx = bytearray()
                return
            if len(self._rx) - start < 7:
                self._rx = self._rx[start:]
                return
            frame = bytes(self._rx[start : start + 7])
            self._rx = self._rx[start + 7 :]
            if sum(frame[:5]) != frame[5] << 8 | frame[6]:
                self.bad_commands += 1
                continue
            self._command(uart, frame[2], frame[3] << 8 | frame[4])

    def _ack(self, uart, command, data):
        body = bytes((0x42, 0x4D, 0x00, 0x04, command, data & 0xFF))
        total = sum(body)
        uart.feed(body + bytes((total >> 8, total & 0xFF)))

    def _command(self, uart, command, data):
        self.commands.append((command, data))
        if command == 0xE4:
            if data:
                self.awake = True  # waking answers with data frames, not an acknowledgement
            else:
                self.awake = False
                self._ack(uart, 0xE4, 0)
        elif not self.awake:
            return
        elif command == 0xE1:
            self.passive = data == 0
            self._ack(uart, 0xE1, data)
        elif command == 0xE2 and self.passive:
            self._send(uart, self.frame)
