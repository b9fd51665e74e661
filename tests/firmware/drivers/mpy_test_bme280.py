# MicroPython tests of the BME280/BMP280 driver: the worked example of Bosch's BMP280
# datasheet from a literal register map, Bosch's integer forms as independent references,
# the calibration layout, BMP280 recognition and bus faults.
import fake_i2c
from fake_bme280 import BMP280_ID, DATASHEET_CALIBRATION, FakeBME280
from machine import I2C

from drivers.bme280 import BME280
from drivers.errors import SensorError

MPY_HEAP = "128k"

# BMP280 datasheet 3.12: dig_T1..dig_P9 = 27504, 26435, -1000, 36477, -10685, 3024, 2855,
# 140, -7, 15500, -14600, 6000 (registers 0x88-0x9F, little-endian), and the raw readings
# adc_P = 415148, adc_T = 519888 (registers 0xF7-0xFC); the datasheet gets t_fine = 128422,
# T = 25.08 °C and p = 100653 Pa.
CALIBRATION = bytes.fromhex(
    "70 6b 43 67 18 fc 7d 8e 43 d6 d0 0b 27 0b 8c 00 f9 ff 8c 3c f8 c6 70 17"
)
BURST = bytes.fromhex("65 5a c0 7e ed 00")
DATASHEET_TP = (27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)


class RegisterMap:
    """A BMP280 made of literal register contents; records register writes."""

    address = 0x77

    def __init__(self):
        self.regs = bytearray(256)
        self.regs[0xD0] = 0x58
        self.regs[0x88:0xA0] = CALIBRATION
        self.regs[0xF7:0xFD] = BURST
        self.pointer = 0
        self.written = []

    def select(self, reg):
        self.pointer = reg

    def write_mem(self, reg, data):
        self.written.append((reg, bytes(data)))

    def read_into(self, buf):
        for i in range(len(buf)):
            buf[i] = self.regs[self.pointer + i]


def raises(kind, fn, *args):
    try:
        fn(*args)
    except kind as exc:
        return str(exc)
    raise AssertionError(f"{kind.__name__} not raised")


def sensor_with(device, **kwargs):
    fake_i2c.reset()
    i2c = I2C(0)
    i2c.attach(device)
    return i2c, BME280(i2c, device.address, **kwargs)


def pressure_int64(c, adc_p, t_fine):
    """Bosch's 64-bit integer pressure compensation (BMP280 datasheet 3.11.3), in Pa."""
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = c[3:12]
    var1 = t_fine - 128000
    var2 = var1 * var1 * p6
    var2 = var2 + ((var1 * p5) << 17)
    var2 = var2 + (p4 << 35)
    var1 = ((var1 * var1 * p3) >> 8) + ((var1 * p2) << 12)
    var1 = (((1 << 47) + var1) * p1) >> 33
    p = 1048576 - adc_p
    p = (((p << 31) - var2) * 3125) // var1
    var1 = (p9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (p8 * p) >> 19
    return (((p + var1 + var2) >> 8) + (p7 << 4)) / 256


def humidity_int32(c, adc_h, t_fine):
    """Bosch's integer humidity compensation (BME280 datasheet 4.2.3), in %RH."""
    h1, h2, h3, h4, h5, h6 = c[12:18]
    x = t_fine - 76800
    v = (((adc_h << 14) - (h4 << 20) - (h5 * x)) + 16384) >> 15
    scale = ((((x * h6) >> 10) * (((x * h3) >> 11) + 32768)) >> 10) + 2097152
    v = v * ((scale * h2 + 8192) >> 14)
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * h1) >> 4)
    v = min(max(v, 0), 419430400)
    return (v >> 12) / 1024


def test_bmp280_datasheet_example_from_literal_registers():
    device = RegisterMap()
    _, sensor = sensor_with(device)
    assert sensor.start() == "BMP280"
    assert sensor.QUANTITIES == ("temperature", "pressure")
    assert sensor.calibration[:12] == DATASHEET_TP
    values = sensor.read()
    assert sorted(values) == ["pressure", "temperature"], values  # a BMP280 has no humidity
    assert sensor.t_fine == 128422
    assert abs(values["temperature"] - 25.08) < 0.005, values
    reference = pressure_int64(sensor.calibration, 415148, 128422)
    assert abs(reference - 100653.25) < 0.01, reference
    assert abs(values["pressure"] * 100 - reference) < 0.05, (values, reference)
    assert abs(values["pressure"] - 1006.53) < 0.005, values
    # soft reset, no IIR filter, then forced mode with x1 oversampling (no ctrl_hum write)
    assert device.written == [(0xE0, b"\xb6"), (0xF5, b"\x00"), (0xF4, b"\x25")], device.written


def test_bme280_humidity_matches_bosch_integer_form():
    fake = FakeBME280()
    _, sensor = sensor_with(fake)
    assert sensor.start() == "BME280"
    c = sensor.calibration
    assert c[12:] == (75, 362, 0, 313, 50, 30)
    for adc_h in range(22000, 40000, 1500):
        fake.set_raw(519888, 415148, adc_h)
        h = sensor.read()["humidity"]
        reference = humidity_int32(c, adc_h, sensor.t_fine)
        if 0 < reference < 100:
            assert abs(h - reference) < 0.01, (adc_h, h, reference)
    fake.set_raw(519888, 415148, 0)
    assert sensor.read()["humidity"] == 0.0
    fake.set_raw(519888, 415148, 0xFFFF)
    assert sensor.read()["humidity"] == 100.0


def test_humidity_calibration_nibbles_and_signs():
    cal = dict(DATASHEET_CALIBRATION)
    cal.update({"H2": -3, "H4": -100, "H5": -1234, "H6": -12, "H1": 255, "H3": 200})
    _, sensor = sensor_with(FakeBME280(calibration=cal))
    sensor.start()
    assert sensor.calibration[12:] == (255, -3, 200, -100, -1234, -12), sensor.calibration


def test_oversampling_and_forced_mode_registers():
    fake = FakeBME280()
    _, sensor = sensor_with(fake, oversampling=5)
    sensor.read()  # starts the sensor on first use
    assert fake.regs[0xF2] == 5
    assert fake.regs[0xF4] == 0xB4  # x16, x16, back in sleep mode after the measurement
    assert fake.measurements == 1
    assert "1 (x1) to 5 (x16)" in raises(ValueError, BME280, I2C(0), 0x76, 6)


def test_unknown_chip_is_named():
    fake = FakeBME280(chip_id=0x55)  # a BMP180 answers 0x55
    _, sensor = sensor_with(fake)
    msg = raises(SensorError, sensor.start)
    assert "id 0x55" in msg and "BMP180" in msg, msg


def test_bmp280_fake():
    fake = FakeBME280(address=0x77, chip_id=BMP280_ID)
    _, sensor = sensor_with(fake)
    values = sensor.read()
    assert sensor.MODEL == "BMP280" and "humidity" not in values


def test_nack_at_start_then_the_next_read_recovers():
    fake = FakeBME280()
    i2c, sensor = sensor_with(fake)
    i2c.fail(0x76, fake_i2c.ENODEV)
    msg = raises(SensorError, sensor.read)
    assert "BME280 at I2C 0x76" in msg and "NACK" in msg, msg
    assert abs(sensor.read()["temperature"] - 25.08) < 0.005
    i2c.fail(0x76, fake_i2c.ETIMEDOUT)
    raises(SensorError, sensor.read)
    assert sensor.bus_errors == 2
    assert abs(sensor.read()["pressure"] - 1006.53) < 0.005


def test_measurement_not_done_is_an_error():
    device = RegisterMap()
    device.regs[0xFA:0xFD] = b"\x80\x00\x00"  # the reset value: temperature skipped
    _, sensor = sensor_with(device)
    assert "no measurement" in raises(SensorError, sensor.read)
