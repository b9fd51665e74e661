# MicroPython tests of the SHT4x driver: its humidity formula (-6 + 125·S/65535, clamped),
# which differs from the SHT3x's, a literal frame, the fake sensor and faults.
import fake_i2c
from fake_sensirion import FakeSHT4x
from machine import I2C

from drivers.errors import SensorError
from drivers.sht4x import SHT4x

MPY_HEAP = "128k"


def raises(kind, fn, *args):
    try:
        fn(*args)
    except kind as exc:
        return str(exc)
    raise AssertionError(f"{kind.__name__} not raised")


def sensor_with(fake):
    fake_i2c.reset()
    i2c = I2C(0)
    i2c.attach(fake)
    return i2c, SHT4x(i2c, fake.address)


def test_humidity_formula_and_clamping():
    fake = FakeSHT4x()
    _, sensor = sensor_with(fake)
    fake.set_raw(0x6666, 0x8000)
    values = sensor.read()
    assert values["temperature"] == 25.0, values
    assert abs(values["humidity"] - 56.501) < 1e-3, values  # the SHT3x formula gives 50.0
    fake.set_raw(0, 0)  # -6 %RH by the formula
    assert sensor.read() == {"temperature": -45.0, "humidity": 0.0}
    fake.set_raw(0xFFFF, 0xFFFF)  # 119 %RH by the formula
    assert sensor.read() == {"temperature": 130.0, "humidity": 100.0}


def test_literal_frame_and_command_byte():
    class Literal:
        address = 0x44

        def __init__(self):
            self.written = []

        def write(self, data):
            self.written.append(bytes(data))

        def read_into(self, buf):
            buf[:] = b"\x66\x66\x93\x80\x00\xa2"

    device = Literal()
    _, sensor = sensor_with(device)
    assert abs(sensor.read()["humidity"] - 56.501) < 1e-3
    assert device.written == [b"\xfd"]  # measure, high precision


def test_serial_and_fake_round_trip():
    fake = FakeSHT4x(temperature=31.25, humidity=12.5, address=0x46)
    _, sensor = sensor_with(fake)
    assert sensor.start() == 0x0F3A2B1C
    values = sensor.read()
    assert abs(values["temperature"] - 31.25) < 0.003 and abs(values["humidity"] - 12.5) < 0.002


def test_bad_crc_and_nack():
    fake = FakeSHT4x()
    i2c, sensor = sensor_with(fake)
    fake.corrupt_next = 0
    raises(SensorError, sensor.read)
    i2c.fail(0x44, fake_i2c.ENODEV)
    assert "SHT4x at I2C 0x44" in raises(SensorError, sensor.read)
    assert (sensor.checksum_errors, sensor.bus_errors) == (1, 1)
    sensor.read()
