# MicroPython tests of the DNMS driver: airRohr's command sequence, a literal answer with
# CRCs, the version check, the correction offset and recovery after errors.
import fake_i2c
from fake_sensirion import FakeDNMS
from machine import I2C

from drivers.dnms import DNMS
from drivers.errors import SensorError

MPY_HEAP = "128k"

# LAeq 45.3, LAmin 38.1, LAmax 61.7 dB(A) as three big-endian floats, CRC after each word.
LEVELS = bytes.fromhex("4235e1 333388 42182b 666693 42768f cccd94")
# "DNMS V5.8.2", NUL padded to 18 characters, CRC after each pair.
VERSION = bytes.fromhex("444ea9 4d5365 205685 352edd 382e9d 3200ea 000081 000081 000081")


def raises(kind, fn, *args):
    try:
        fn(*args)
    except kind as exc:
        return str(exc)
    raise AssertionError(f"{kind.__name__} not raised")


class Scripted:
    address = 0x55

    def __init__(self, version=VERSION):
        self.writes = []
        self.answer = b""
        self.version = version

    def write(self, data):
        self.writes.append(bytes(data))
        command = data[0] << 8 | data[1]
        answers = {0x0002: self.version, 0x0004: b"\x00\x01\xb0", 0x0005: LEVELS}
        self.answer = answers.get(command, b"")

    def read_into(self, buf):
        buf[:] = self.answer


def sensor_with(device, **kwargs):
    fake_i2c.reset()
    i2c = I2C(0)
    i2c.attach(device)
    return i2c, DNMS(i2c, **kwargs)


def test_literal_levels_and_airrohr_command_sequence():
    device = Scripted()
    _, sensor = sensor_with(device)
    assert sensor.start() == "DNMS V5.8.2"
    values = sensor.read()
    for name, level in (("noise_laeq", 45.3), ("noise_lamin", 38.1), ("noise_lamax", 61.7)):
        assert abs(values[name] - level) < 1e-5, values
    # version, calculate Leq (opens the interval); calculate Leq, data ready, read Leq.
    assert device.writes == [b"\x00\x02", b"\x00\x03", b"\x00\x03", b"\x00\x04", b"\x00\x05"]


def test_not_a_dnms():
    _, sensor = sensor_with(Scripted(version=bytes.fromhex("534325 44331d 300033" + "000081" * 6)))
    msg = raises(SensorError, sensor.version)
    assert "not a DNMS" in msg and "0x55" in msg, msg


def test_correction_offset_and_fake():
    fake = FakeDNMS(laeq=50.0, lamin=40.0, lamax=70.0)
    _, sensor = sensor_with(fake, correction_db=1.5)
    sensor.start()
    assert sensor.read() == {"noise_laeq": 51.5, "noise_lamin": 41.5, "noise_lamax": 71.5}
    assert fake.intervals == 2


def test_error_resets_the_module_and_next_read_works():
    fake = FakeDNMS()
    i2c, sensor = sensor_with(fake)
    sensor.start()
    fake.corrupt_next = 3
    raises(SensorError, sensor.read)
    assert fake.resets == 1
    i2c.fail(0x55, fake_i2c.ENODEV)
    raises(SensorError, sensor.read)
    assert fake.resets == 2
    assert abs(sensor.read()["noise_laeq"] - 48.3) < 1e-5
