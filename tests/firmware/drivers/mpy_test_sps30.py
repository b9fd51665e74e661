# MicroPython tests of the SPS30 driver: a real measurement re-framed for I2C, Sensirion's
# command bytes, the fake sensor, faults and memory.
import gc

import fake_i2c
from fake_sensirion import FakeSPS30
from machine import I2C

from drivers.errors import SensorError
from drivers.sps30 import SPS30

MPY_HEAP = "128k"

# The first measurement of a real SPS30 (avaldebe/PyPMS tests/captured_data/SPS30.hexdump,
# taken over UART: 10 floats, byte stuffing removed) as the I2C read returns it, each word
# followed by its CRC; PyPMS decoded pm01 5.2, pm25 9.5, pm04 12.6, pm10 13.3, n0_5 26.31,
# n1_0 37.00, n2_5 41.52, n4_0 42.41, n10_0 42.54, diam 0.8 (SPS30.csv).
CAPTURE = bytes.fromhex(
    "40a763 832009 411728 77bb41 414a1a 5f83d6 415446 8dddaa 41d29a 833e55"
    " 4213c1 fc85a2 4226f1 1722a5 4229df a4d971 422a8c 29bc5c 3f5521 b7e7e8"
)
# Start measurement with float output: 0x0010, argument 0x0300, CRC 0xAC (datasheet).
START = bytes.fromhex("00 10 03 00 ac")


class Scripted:
    address = 0x69

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
    i2c = I2C(0)
    i2c.attach(device)
    return i2c


def test_real_measurement_decodes_to_the_published_values():
    device = Scripted(CAPTURE)
    sensor = SPS30(bus_with(device))
    sensor.start()
    values = sensor.read()
    expected = {"pm1": 5.2, "pm25": 9.5, "pm4": 12.6, "pm10": 13.3}
    for name in expected:
        assert abs(values[name] - expected[name]) < 0.05, values
    numbers = (26.31, 37.00, 41.52, 42.41, 42.54)
    for k in range(5):
        assert abs(sensor.numbers[k] - numbers[k]) < 0.005, sensor.numbers
    assert abs(sensor.typical_size - 0.8) < 0.05
    assert device.writes == [START, b"\x02\x02", b"\x03\x00"], device.writes


def test_bad_crc_anywhere_rejects_the_whole_reading():
    for word in (0, 9, 19):
        frame = bytearray(CAPTURE)
        frame[3 * word + 1] ^= 0x40  # a data bit, not the CRC
        sensor = SPS30(bus_with(Scripted(bytes(frame))))
        msg = raises(SensorError, sensor.read)
        assert f"word {word} " in msg, msg
        assert sensor.values["pm25"] is None and sensor.checksum_errors == 1


def test_fake_sensor_start_read_clean_stop():
    fake = FakeSPS30(pm1=1.5, pm25=2.5, pm4=3.5, pm10=4.5)
    sensor = SPS30(bus_with(fake))
    assert sensor.read() is None  # not measuring yet
    sensor.start()
    assert sensor.read() == {"pm1": 1.5, "pm25": 2.5, "pm4": 3.5, "pm10": 4.5}
    sensor.clean_fan()
    assert fake.cleanings == 1
    sensor.set_cleaning_interval(7200)
    assert fake.cleaning_interval == 7200 and fake.bad_crc == 0
    sensor.stop()
    assert not fake.measuring
    assert sensor.serial() == "E0B6A04A3F5E4E1D"


def test_sleep_and_wake():
    fake = FakeSPS30()
    sensor = SPS30(bus_with(fake))
    sensor.sleep()
    assert fake.asleep
    sensor.wake()  # the first wake-up is not acknowledged, by design
    assert not fake.asleep and sensor.bus_errors == 0
    sensor.start()
    assert sensor.read()["pm10"] == 13.300000190734863


def test_nack_then_recovery():
    fake = FakeSPS30()
    i2c = bus_with(fake)
    sensor = SPS30(i2c)
    sensor.start()
    i2c.fail(0x69, fake_i2c.ENODEV)
    assert "SPS30 at I2C 0x69: no acknowledge" in raises(SensorError, sensor.read)
    assert sensor.read()["pm1"] == 5.199999809265137


def test_read_allocates_only_the_floats():
    fake = FakeSPS30()
    fake.log_commands = False
    sensor = SPS30(bus_with(fake))
    sensor.start()
    sensor.read()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(50):
        sensor.read()
    per_read = (gc.mem_alloc() - before) / 50
    # Ten floats decoded (4 kept in values, 5 stored into a float array, the size): one GC
    # block each at most, nothing else.
    assert per_read <= 10 * 32, per_read
