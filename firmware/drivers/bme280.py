"""Bosch BME280 (temperature, pressure, humidity) and BMP280 (no humidity) on I2C, 0x76 or 0x77.

The chip id (register 0xD0) tells them apart: 0x60 is a BME280, 0x58 a BMP280 (0x56 and
0x57 are BMP280 samples). Each read starts one measurement in forced mode, waits for it,
reads the data registers in one burst and applies Bosch's compensation (the floating-point
form of the datasheet and bme280.c) with the chip's own calibration registers::

    from machine import I2C, Pin
    from drivers.bme280 import BME280
    sensor = BME280(I2C(0, scl=Pin(22), sda=Pin(21)), address=0x76)
    sensor.start()         # chip id, soft reset, calibration
    sensor.read()          # {"temperature": 9.3, "pressure": 1012.6, "humidity": 81.2}
    sensor.MODEL           # "BME280", or "BMP280" (whose read() has no humidity)
"""

from micropython import const

from drivers.bus import I2CDevice, sleep_ms
from drivers.errors import SensorError

ADDRESS = const(0x76)
_CHIP_ID = const(0xD0)
_RESET = const(0xE0)
_RESET_WORD = const(0xB6)
_CALIB_TP = const(0x88)
_CALIB_H1 = const(0xA1)
_CALIB_H = const(0xE1)
_CTRL_HUM = const(0xF2)
_STATUS = const(0xF3)
_CTRL_MEAS = const(0xF4)
_CONFIG = const(0xF5)
_DATA = const(0xF7)
_MEASURING = const(0x08)
_IM_UPDATE = const(0x01)
_FORCED = const(0x01)
_SKIPPED_20 = const(0x80000)
_SKIPPED_16 = const(0x8000)

CHIP_BME280 = const(0x60)
CHIP_BMP280 = (0x56, 0x57, 0x58)


def _u16(buf, i):
    return buf[i] | buf[i + 1] << 8


def _s16(buf, i):
    v = buf[i] | buf[i + 1] << 8
    return v - 65536 if v > 32767 else v


def _s8(v):
    return v - 256 if v > 127 else v


class BME280(I2CDevice):
    MODEL = "BME280"
    QUANTITIES: tuple[str, ...] = ("temperature", "pressure", "humidity")
    WARMUP_MS = 2

    def __init__(self, i2c, address=ADDRESS, oversampling=1):
        """``oversampling`` 1–5 stands for ×1, ×2, ×4, ×8, ×16, for all three quantities."""
        if not 1 <= oversampling <= 5:
            raise ValueError(
                "BME280 oversampling must be 1 (x1) to 5 (x16), not %r" % (oversampling,)
            )
        super().__init__(i2c, address)
        self._oversampling = oversampling
        self._byte = bytearray(1)
        self._burst = bytearray(8)
        self._burst6 = memoryview(self._burst)[:6]  # a BMP280 has no humidity registers
        self.humidity = False
        self.calibration: tuple[int, ...] = ()
        self.t_fine = 0
        self.values: dict[str, float | None] = {
            "temperature": None,
            "pressure": None,
            "humidity": None,
        }

    def start(self):
        """Identify the chip, reset it and load its calibration."""
        byte = self._byte
        self._read_reg(_CHIP_ID, byte)
        chip = byte[0]
        if chip == CHIP_BME280:
            self.MODEL = "BME280"
            self.QUANTITIES = ("temperature", "pressure", "humidity")
            self.humidity = True
        elif chip in CHIP_BMP280:
            self.MODEL = "BMP280"
            self.QUANTITIES = ("temperature", "pressure")
            self.humidity = False
            self.values = {"temperature": None, "pressure": None}
        else:
            raise SensorError(
                "the chip at I2C 0x%02x has id 0x%02x: not a BME280 (0x60) or BMP280 (0x58); "
                "a BMP180 or another sensor at that address?" % (self.address, chip)
            )
        byte[0] = _RESET_WORD
        self._write_reg(_RESET, byte)
        sleep_ms(2)
        for _ in range(10):
            self._read_reg(_STATUS, byte)
            if not byte[0] & _IM_UPDATE:
                break
            sleep_ms(2)
        tp = bytearray(24)
        self._read_reg(_CALIB_TP, tp)
        cal = [_u16(tp, 0), _s16(tp, 2), _s16(tp, 4), _u16(tp, 6)]
        for i in range(8, 24, 2):
            cal.append(_s16(tp, i))
        if self.humidity:
            self._read_reg(_CALIB_H1, byte)
            h = bytearray(7)
            self._read_reg(_CALIB_H, h)
            cal.append(byte[0])  # H1, unsigned
            cal.append(_s16(h, 0))  # H2
            cal.append(h[2])  # H3, unsigned
            cal.append(_s8(h[3]) * 16 | (h[4] & 0x0F))  # H4: 0xE4 is bits 11..4, 0xE5 3..0
            cal.append(_s8(h[5]) * 16 | (h[4] >> 4))  # H5: 0xE6 is bits 11..4, 0xE5 7..4
            cal.append(_s8(h[6]))  # H6
        if cal[0] == 0 or cal[3] == 0:
            raise SensorError(
                "%s at I2C 0x%02x: calibration registers read as zero" % (self.MODEL, self.address)
            )
        self.calibration = tuple(cal)
        byte[0] = 0  # no IIR filter: forced readings are independent
        self._write_reg(_CONFIG, byte)
        return self.MODEL

    def stop(self):
        """Nothing to stop: the sensor idles between single measurements."""

    def read(self):
        if not self.calibration:
            self.start()  # also after a failed start: the driver recovers on the next read
        byte = self._byte
        osr = self._oversampling
        if self.humidity:
            byte[0] = osr
            self._write_reg(_CTRL_HUM, byte)  # takes effect with the ctrl_meas write below
        byte[0] = osr << 5 | osr << 2 | _FORCED
        self._write_reg(_CTRL_MEAS, byte)
        # Datasheet 9.1: at most 1.25 + 2.3·T_os + 2.3·P_os + 0.575 + 2.3·H_os + 0.575 ms.
        n = 1 << (osr - 1)
        sleep_ms(3 + (23 * n * 3 + 11) // 10)
        for _ in range(20):
            self._read_reg(_STATUS, byte)
            if not byte[0] & _MEASURING:
                break
            sleep_ms(2)
        burst = self._burst
        if self.humidity:
            self._read_reg(_DATA, burst)
        else:
            self._read_reg(_DATA, self._burst6)
        adc_p = burst[0] << 12 | burst[1] << 4 | burst[2] >> 4
        adc_t = burst[3] << 12 | burst[4] << 4 | burst[5] >> 4
        if adc_t == _SKIPPED_20 or adc_p == _SKIPPED_20:
            raise SensorError(
                "%s at I2C 0x%02x: no measurement in the data registers"
                % (self.MODEL, self.address)
            )
        values = self.values
        values["temperature"] = self.compensate_temperature(adc_t)
        values["pressure"] = self.compensate_pressure(adc_p) / 100
        if self.humidity:
            adc_h = burst[6] << 8 | burst[7]
            if adc_h == _SKIPPED_16:
                raise SensorError("BME280 at I2C 0x%02x: humidity was not measured" % self.address)
            values["humidity"] = self.compensate_humidity(adc_h)
        self.reads += 1
        return values

    # Bosch's floating-point compensation (BMP280 datasheet 8.1, BME280 datasheet 8.1).

    def compensate_temperature(self, adc_t):
        """°C; also sets ``t_fine``, which pressure and humidity need."""
        t1, t2, t3 = self.calibration[0:3]
        var1 = (adc_t / 16384 - t1 / 1024) * t2
        var2 = adc_t / 131072 - t1 / 8192
        var2 = var2 * var2 * t3
        self.t_fine = int(var1 + var2)
        return (var1 + var2) / 5120

    def compensate_pressure(self, adc_p):
        """Pa (uses ``t_fine`` from the temperature of the same measurement)."""
        c = self.calibration
        var1 = self.t_fine / 2 - 64000
        var2 = var1 * var1 * c[8] / 32768
        var2 = var2 + var1 * c[7] * 2
        var2 = var2 / 4 + c[6] * 65536
        var1 = (c[5] * var1 * var1 / 524288 + c[4] * var1) / 524288
        var1 = (1 + var1 / 32768) * c[3]
        if var1 == 0:
            raise SensorError("%s: pressure compensation divides by zero" % self.MODEL)
        p = 1048576 - adc_p
        p = (p - var2 / 4096) * 6250 / var1
        var1 = c[11] * p * p / 2147483648
        var2 = p * c[10] / 32768
        return p + (var1 + var2 + c[9]) / 16

    def compensate_humidity(self, adc_h):
        """% RH, clamped to 0–100 (uses ``t_fine``)."""
        c = self.calibration
        h1, h2, h3, h4, h5, h6 = c[12:18]
        h = self.t_fine - 76800
        h = (adc_h - (h4 * 64 + h5 / 16384 * h)) * (
            h2 / 65536 * (1 + h6 / 67108864 * h * (1 + h3 / 67108864 * h))
        )
        h = h * (1 - h1 * h / 524288)
        return 100.0 if h > 100 else 0.0 if h < 0 else h
