# MicroPython tests of the SHT3x driver: the datasheet's conversion at its end points and a
# literal frame, the fake sensor, CRC rejection and bus faults.
import fake_i2c
from fake_sensirion import FakeSHT3x
from machine import I2C

from drivers.errors import SensorError
from drivers.sht3x import SHT3x

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
    return i2c, SHT3x(i2c, fake.address)


def test_conversion_at_the_ends_of_the_scale():
    fake = FakeSHT3x()
    _, sensor = sensor_with(fake)
    fake.set_raw(0, 0)
    assert sensor.read() == {"temperature": -45.0, "humidity": 0.0}
    fake.set_raw(0xFFFF, 0xFFFF)
    assert sensor.read() == {"temperature": 130.0, "humidity": 100.0}


def test_literal_frame():
    # S_T 0x6666 (25 °C: 26214 / 65535 is 0.4 exactly) and S_RH 0x8000 (50.00 %),
    # CRCs 0x93 and 0xA2.
    class Literal:
        address = 0x44

        def write(self, data):
            assert bytes(data) == b"\x24\x00", data  # single shot, high repeatability

        def read_into(self, buf):
            buf[:] = b"\x66\x66\x93\x80\x00\xa2"

    _, sensor = sensor_with(Literal())
    values = sensor.read()
    assert values["temperature"] == 25.0, values
    assert abs(values["humidity"] - 50.0008) < 1e-4, values


def test_fake_values_round_trip():
    fake = FakeSHT3x(temperature=-12.5, humidity=93.0, address=0x45)
    _, sensor = sensor_with(fake)
    assert sensor.start() == 0x0010
    values = sensor.read()
    assert abs(values["temperature"] + 12.5) < 0.003 and abs(values["humidity"] - 93.0) < 0.002
    sensor.heater(True)
    assert sensor.status() & 0x2000


def test_bad_crc_and_recovery():
    fake = FakeSHT3x()
    _, sensor = sensor_with(fake)
    fake.corrupt_next = 1
    assert "SHT3x" in raises(SensorError, sensor.read)
    assert sensor.values == {"temperature": None, "humidity": None}
    assert abs(sensor.read()["humidity"] - 48.2) < 0.002


def test_timeout_then_recovery():
    fake = FakeSHT3x()
    i2c, sensor = sensor_with(fake)
    i2c.fail(0x44, fake_i2c.ETIMEDOUT)
    assert "pull-ups" in raises(SensorError, sensor.read)
    assert sensor.bus_errors == 1
    sensor.read()
