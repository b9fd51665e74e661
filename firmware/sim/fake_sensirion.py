"""Fake Sensirion-protocol I2C devices: SPS30, SHT3x, SHT4x, SCD30, SCD4x and the DNMS.

Each answers its datasheet's commands with words followed by a CRC-8 computed here, bit by
bit, independently of the drivers' table. Arguments the controller sends are CRC-checked
as the real sensors do; a bad one is counted and the command ignored. Answers to
measurement reads are encoded once when values are set, so reading allocates nothing::

    scd = FakeSCD30(co2=612.5, temperature=21.3, humidity=48.0)
    fake_i2c.connect(0, scd)
    scd.corrupt_next = 1          # flip a bit in the CRC of word 1 of the next answer
                                  # that has a word 1
"""

import struct

ENODEV = 19


def crc8(data):
    """Sensirion CRC-8: polynomial 0x31, init 0xFF, MSB first, no final XOR."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_words(words):
    """Words as Sensirion sends them: MSB, LSB, CRC for each."""
    out = bytearray()
    for w in words:
        pair = bytes((w >> 8, w & 0xFF))
        out.extend(pair)
        out.append(crc8(pair))
    return bytes(out)


def float_words(*values):
    """Big-endian IEEE-754 floats as pairs of 16-bit words."""
    words = []
    for v in values:
        b = struct.pack(">f", v)
        words.append(b[0] << 8 | b[1])
        words.append(b[2] << 8 | b[3])
    return words


WORD_0 = encode_words([0])
WORD_1 = encode_words([1])
SCD4X_READY = encode_words([0x8006])
SCD4X_NOT_READY = encode_words([0x8000])


def text_words(text, n):
    """ASCII text, NUL padded to ``n`` words."""
    raw = text.encode() + bytes(2 * n - len(text))
    return [raw[i] << 8 | raw[i + 1] for i in range(0, 2 * n, 2)]


NO_ARGS = []


class FakeSensirion:
    """Command parsing, CRC-checked arguments and answers shared by the fakes below."""

    address = 0
    command_bytes = 2

    def __init__(self):
        self._answer = bytearray(64)
        self._answer_len = 0
        self.corrupt_next = -1
        self.commands = []
        self.bad_crc = 0
        # Tests read the command log; benchmarks turn it off to keep reads allocation-free.
        self.log_commands = True

    def write(self, data):
        n = self.command_bytes
        command = data[0] << 8 | data[1] if n == 2 else data[0]
        args = NO_ARGS
        if len(data) > n:
            args = []
            for i in range(n, len(data) - 2, 3):
                if crc8(data[i : i + 2]) != data[i + 2]:
                    self.bad_crc += 1
                    return
                args.append(data[i] << 8 | data[i + 1])
        if self.log_commands:
            self.commands.append(command)
        self._answer_len = 0
        self.command(command, args)

    def answer(self, encoded):
        """Queue an answer (bytes from encode_words) for the next read."""
        n = len(encoded)
        self._answer[0:n] = encoded
        self._answer_len = n
        at = 3 * self.corrupt_next + 2
        if 0 <= at < n:  # the next answer long enough to have that word
            self._answer[at] ^= 0x01
            self.corrupt_next = -1

    def read_into(self, buf):
        n = self._answer_len
        if n == 0:
            raise OSError(ENODEV)  # nothing to say: the sensor does not acknowledge the read
        answer = self._answer
        for i in range(len(buf)):
            buf[i] = answer[i] if i < n else 0xFF
        self._answer_len = 0

    def command(self, command, args):
        raise NotImplementedError


class FakeSPS30(FakeSensirion):
    address = 0x69

    def __init__(
        self,
        pm1=5.2,
        pm25=9.5,
        pm4=12.6,
        pm10=13.3,
        numbers=(30.1, 36.0, 36.7, 36.9, 37.0),
        typical_size=0.52,
    ):
        super().__init__()
        self.measuring = False
        self.asleep = False
        self.cleanings = 0
        self.cleaning_interval = 604800
        self.serial = "E0B6A04A3F5E4E1D"
        self.set(pm1, pm25, pm4, pm10, numbers, typical_size)

    def set(self, pm1, pm25, pm4, pm10, numbers=None, typical_size=None):
        if numbers is not None:
            self.numbers = tuple(numbers)
        if typical_size is not None:
            self.typical_size = typical_size
        self.measurement = encode_words(
            float_words(pm1, pm25, pm4, pm10, *self.numbers, self.typical_size)
        )

    def write(self, data):
        if self.asleep:
            if data[0] << 8 | data[1] == 0x1103 and not getattr(self, "_pulsed", False):
                self._pulsed = True  # the first wake-up only pulses SDA: not acknowledged
                raise OSError(ENODEV)
            if data[0] << 8 | data[1] != 0x1103:
                raise OSError(ENODEV)
        super().write(data)

    def command(self, command, args):
        if command == 0x0010:
            self.measuring = args == [0x0300]
        elif command == 0x0104:
            self.measuring = False
        elif command == 0x0202:
            self.answer(WORD_1 if self.measuring else WORD_0)
        elif command == 0x0300:
            if self.measuring:
                self.answer(self.measurement)
        elif command == 0x5607:
            if self.measuring:
                self.cleanings += 1
        elif command == 0x8004:
            if len(args) == 2:
                self.cleaning_interval = args[0] << 16 | args[1]
            else:
                self.answer(
                    encode_words([self.cleaning_interval >> 16, self.cleaning_interval & 0xFFFF])
                )
        elif command == 0x1001 and not self.measuring:
            self.asleep = True
            self._pulsed = False
        elif command == 0x1103:
            self.asleep = False
        elif command == 0xD033:
            self.answer(encode_words(text_words(self.serial, 16)))
        elif command == 0xD304:
            self.measuring = False


class FakeSHT3x(FakeSensirion):
    address = 0x44

    def __init__(self, temperature=21.3, humidity=48.2, address=0x44):
        super().__init__()
        self.address = address
        self.status = 0x8010
        self.set(temperature, humidity)

    def set(self, temperature, humidity):
        self.set_raw(round((temperature + 45) * 65535 / 175), round(humidity * 65535 / 100))

    def set_raw(self, raw_t, raw_rh):
        self.measurement = encode_words([raw_t, raw_rh])

    def command(self, command, args):
        if command == 0x2400:
            self.answer(self.measurement)
        elif command == 0xF32D:
            self.answer(encode_words([self.status]))
        elif command == 0x306D:
            self.status |= 0x2000
        elif command == 0x3066:
            self.status &= ~0x2000
        elif command == 0x30A2:
            self.status = 0x0010  # reset detected


class FakeSHT4x(FakeSensirion):
    address = 0x44
    command_bytes = 1

    def __init__(self, temperature=21.3, humidity=48.2, address=0x44, serial=0x0F3A2B1C):
        super().__init__()
        self.address = address
        self.serial = serial
        self.set(temperature, humidity)

    def set(self, temperature, humidity):
        self.set_raw(round((temperature + 45) * 65535 / 175), round((humidity + 6) * 65535 / 125))

    def set_raw(self, raw_t, raw_rh):
        self.measurement = encode_words([raw_t, raw_rh])

    def command(self, command, args):
        if command == 0xFD:
            self.answer(self.measurement)
        elif command == 0x89:
            self.answer(encode_words([self.serial >> 16, self.serial & 0xFFFF]))


class FakeSCD30(FakeSensirion):
    address = 0x61

    def __init__(self, co2=612.5, temperature=21.3, humidity=48.0):
        super().__init__()
        self.measuring = False
        self.pressure = 0
        self.interval = 2
        self.auto_calibration = True
        self.temperature_offset = 0
        self.altitude = 0
        self.set(co2, temperature, humidity)

    def set(self, co2, temperature, humidity):
        self.measurement = encode_words(float_words(co2, temperature, humidity))

    def command(self, command, args):
        if command == 0x0010:
            self.measuring = True
            self.pressure = args[0] if args else 0
        elif command == 0x0104:
            self.measuring = False
        elif command == 0x4600:
            self.interval = args[0]
        elif command == 0x0202:
            self.answer(WORD_1 if self.measuring else WORD_0)
        elif command == 0x0300:
            if self.measuring:
                self.answer(self.measurement)
        elif command == 0x5306:
            self.auto_calibration = bool(args[0])
        elif command == 0x5403:
            self.temperature_offset = args[0]
        elif command == 0x5102:
            self.altitude = args[0]
        elif command == 0xD100:
            self.answer(encode_words([0x0342]))
        elif command == 0xD304:
            self.measuring = False


class FakeSCD4x(FakeSensirion):
    address = 0x62

    def __init__(self, co2=612, temperature=21.3, humidity=48.0, serial=0x5D2F1B0A7C31):
        super().__init__()
        self.measuring = False
        self.low_power = False
        self.serial = serial
        self.temperature_offset = None
        self.altitude = 0
        self.pressure = None
        self.auto_calibration = True
        self.persisted = 0
        self.set(co2, temperature, humidity)

    def set(self, co2, temperature, humidity):
        self.set_raw(co2, round((temperature + 45) * 65536 / 175), round(humidity * 65536 / 100))

    def set_raw(self, co2, raw_t, raw_rh):
        self.measurement = encode_words([co2, raw_t, raw_rh])

    def command(self, command, args):
        # While measuring periodically an SCD4x takes only these commands.
        if self.measuring and not (
            command == 0xEC05 or command == 0xE4B8 or command == 0x3F86 or command == 0xE000
        ):
            self.ignored = command
            return
        if command in (0x21B1, 0x21AC):
            self.measuring = True
            self.low_power = command == 0x21AC
        elif command == 0x3F86:
            self.measuring = False
        elif command == 0xE4B8:
            self.answer(SCD4X_READY if self.measuring else SCD4X_NOT_READY)
        elif command == 0xEC05:
            if self.measuring:
                self.answer(self.measurement)
        elif command == 0x241D:
            self.temperature_offset = args[0]
        elif command == 0x2427:
            self.altitude = args[0]
        elif command == 0xE000:
            self.pressure = args[0]
        elif command == 0x2416:
            self.auto_calibration = bool(args[0])
        elif command == 0x3615:
            self.persisted += 1
        elif command == 0x3682:
            s = self.serial
            self.answer(encode_words([s >> 32, (s >> 16) & 0xFFFF, s & 0xFFFF]))


class FakeDNMS(FakeSensirion):
    address = 0x55

    def __init__(self, laeq=48.3, lamin=41.0, lamax=63.2, version="DNMS V5.8.2"):
        super().__init__()
        self.version = version
        self.intervals = 0
        self.resets = 0
        self.ready = False
        self.set(laeq, lamin, lamax)

    def set(self, laeq, lamin, lamax):
        self.measurement = encode_words(float_words(laeq, lamin, lamax))

    def command(self, command, args):
        if command == 0x0001:
            self.resets += 1
            self.ready = False
        elif command == 0x0002:
            self.answer(encode_words(text_words(self.version, 9)))
        elif command == 0x0003:
            self.intervals += 1
            self.ready = True
        elif command == 0x0004:
            self.answer(WORD_1 if self.ready else WORD_0)
        elif command == 0x0005 and self.ready:
            self.answer(self.measurement)
            self.ready = False
