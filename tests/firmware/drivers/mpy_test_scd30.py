# MicroPython tests of the SCD30 driver against Sensirion's published example frame and the
# fake sensor (firmware/sim/fake_sensirion.py), including bus faults and CRC errors.
import fake_i2c
from fake_sensirion import FakeSCD30
from machine import I2C

from drivers.errors import SensorError
from drivers.scd30 import SCD30

MPY_HEAP = "128k"

# Sensirion's SCD30 interface description: read measurement -> CO2 0x43DB8C2E (439.09 ppm),
# T 0x41D9E7FF (27.24 °C), RH 0x42433A1B (48.81 %), each word with its published CRC.
EXAMPLE = bytes.fromhex("43 db cb 8c 2e 8f 41 d9 70 e7 ff f5 42 43 bf 3a 1b 74")
# "Start continuous measurement without ambient pressure compensation": 0x0010, 0x0000, CRC 0x81.
START = bytes.fromhex("00 10 00 00 81")


class Scripted:
    """Answers data-ready with 1 and measurements with a literal frame; records writes."""

    address = 0x61

    def __init__(self, frame):
        self.frame = frame
        self.writes = []
        self.answer = b""

    def write(self, data):
        self.writes.append(bytes(data))
        command = data[0] << 8 | data[1]
        self.answer = {0x0202: b"\x00\x01\xb0", 0x0300: self.frame}.get(command, b"")

    def read_into(self, buf):
        for i in range(len(buf)):
            buf[i] = self.answer[i]


def raises(kind, fn, *args):
    try:
        fn(*args)
    except kind as exc:
        return str(exc)
    raise AssertionError(f"{kind.__name__} not raised")


def bus_with(device):
    fake_i2c.reset()
    i2c = I2C(0, freq=50000)
    i2c.attach(device)
    return i2c


def test_published_example_frame():
    device = Scripted(EXAMPLE)
    sensor = SCD30(bus_with(device))
    sensor.start()
    values = sensor.read()
    assert abs(values["co2"] - 439.0952) < 1e-4, values
    assert abs(values["temperature"] - 27.2383) < 1e-4, values
    assert abs(values["humidity"] - 48.8067) < 1e-4, values
    assert device.writes == [START, b"\x02\x02", b"\x03\x00"], device.writes


def test_bad_crc_is_rejected_and_counted():
    frame = bytearray(EXAMPLE)
    frame[5] ^= 0x01  # the CRC of word 1 (CO2's low half)
    device = Scripted(bytes(frame))
    sensor = SCD30(bus_with(device))
    msg = raises(SensorError, sensor.read)
    assert "SCD30" in msg and "word 1 " in msg and "0x0300" in msg, msg
    assert sensor.checksum_errors == 1 and sensor.values["co2"] is None
    device.frame = EXAMPLE
    assert abs(sensor.read()["co2"] - 439.0952) < 1e-4


def test_fake_sensor_and_settings():
    fake = FakeSCD30(co2=812.5, temperature=19.5, humidity=55.25)
    sensor = SCD30(bus_with(fake))
    sensor.set_interval(5)
    sensor.set_auto_calibration(False)
    sensor.set_temperature_offset(1.5)
    sensor.set_altitude(12)
    sensor.start(pressure_mbar=1013)
    assert sensor.read() == {"co2": 812.5, "temperature": 19.5, "humidity": 55.25}
    assert (fake.interval, fake.auto_calibration, fake.temperature_offset) == (5, False, 150)
    assert (fake.altitude, fake.pressure) == (12, 1013)
    assert sensor.firmware_version() == (3, 0x42)
    assert "2-1800" in raises(ValueError, sensor.set_interval, 1)
    sensor.stop()
    assert not fake.measuring
    assert sensor.read() is None  # not measuring: no new data
    assert fake.bad_crc == 0


def test_nack_and_timeout_surface_and_the_next_read_recovers():
    fake = FakeSCD30()
    i2c = bus_with(fake)
    sensor = SCD30(i2c)
    sensor.start()
    i2c.fail(0x61, fake_i2c.ENODEV)
    msg = raises(SensorError, sensor.read)
    assert "SCD30 at I2C 0x61" in msg and "NACK" in msg, msg
    i2c.fail(0x61, fake_i2c.ETIMEDOUT)
    msg = raises(SensorError, sensor.read)
    assert "time-out" in msg, msg
    assert sensor.bus_errors == 2
    assert sensor.read()["co2"] == 612.5


def test_corrupted_answer_from_the_fake():
    fake = FakeSCD30()
    sensor = SCD30(bus_with(fake))
    sensor.start()
    fake.corrupt_next = 4  # word 4 (humidity's high half): the data-ready answer has none
    raises(SensorError, sensor.read)
    assert sensor.checksum_errors == 1
    assert sensor.read()["humidity"] == 48.0


def test_missing_sensor():
    fake_i2c.reset()
    sensor = SCD30(I2C(0))
    msg = raises(SensorError, sensor.start)
    assert "NACK" in msg and "wiring" in msg, msg
