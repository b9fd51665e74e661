# MicroPython tests of the SCD4x driver: conversion by 2^16 (not 2^16 - 1), the example
# words of Sensirion's datasheet, the fake sensor and its command restrictions.
import fake_i2c
from fake_sensirion import FakeSCD4x
from machine import I2C

from drivers.errors import SensorError
from drivers.scd4x import SCD4x

MPY_HEAP = "128k"

# read_measurement example of the SCD4x datasheet: CO2 0x01F4 (500 ppm), T 0x6667 (25 °C),
# RH 0x5EB9 (37 %), each word followed by its CRC.
EXAMPLE = bytes.fromhex("01 f4 33 66 67 a2 5e b9 3c")


def raises(kind, fn, *args):
    try:
        fn(*args)
    except kind as exc:
        return str(exc)
    raise AssertionError(f"{kind.__name__} not raised")


class Scripted:
    address = 0x62

    def __init__(self):
        self.writes = []
        self.answer = b""

    def write(self, data):
        self.writes.append(bytes(data))
        command = data[0] << 8 | data[1]
        self.answer = {0xE4B8: b"\x80\x06\x04", 0xEC05: EXAMPLE}.get(command, b"")

    def read_into(self, buf):
        buf[:] = self.answer


def sensor_with(device):
    fake_i2c.reset()
    i2c = I2C(0)
    i2c.attach(device)
    return i2c, SCD4x(i2c)


def test_datasheet_example():
    device = Scripted()
    _, sensor = sensor_with(device)
    sensor.start()
    values = sensor.read()
    assert values["co2"] == 500
    assert abs(values["temperature"] - 25.0) < 0.002, values  # 25.0016
    assert abs(values["humidity"] - 37.0) < 0.002, values  # 37.0010
    assert device.writes == [b"\x21\xb1", b"\xe4\xb8", b"\xec\x05"], device.writes


def test_divides_by_65536_not_65535():
    fake = FakeSCD4x()
    _, sensor = sensor_with(fake)
    sensor.start()
    fake.set_raw(400, 0xFFFF, 0xFFFF)
    values = sensor.read()
    assert values["temperature"] == -45 + 175 * 65535 / 65536  # 129.997, not 130.0
    assert values["humidity"] == 100 * 65535 / 65536


def test_fake_round_trip_and_settings():
    fake = FakeSCD4x(co2=1234, temperature=22.5, humidity=61.0)
    _, sensor = sensor_with(fake)
    sensor.set_temperature_offset(4.0)
    sensor.set_altitude(5)
    assert sensor.serial() == 0x5D2F1B0A7C31
    sensor.start(low_power=True)
    assert fake.low_power
    values = sensor.read()
    assert values["co2"] == 1234
    assert abs(values["temperature"] - 22.5) < 0.002 and abs(values["humidity"] - 61.0) < 0.002
    sensor.set_ambient_pressure(1013.4)
    assert fake.pressure == 1013 and fake.temperature_offset == 1498 and fake.altitude == 5
    sensor.stop()
    assert sensor.read() is None


def test_faults():
    fake = FakeSCD4x()
    i2c, sensor = sensor_with(fake)
    sensor.start()
    fake.corrupt_next = 2
    raises(SensorError, sensor.read)
    i2c.fail(0x62, fake_i2c.ENODEV, 2)
    raises(SensorError, sensor.read)
    raises(SensorError, sensor.read)
    assert (sensor.checksum_errors, sensor.bus_errors) == (1, 2)
    assert sensor.read()["co2"] == 612
