"""A fake Bosch BME280 / BMP280 on the fake I2C bus: the chip's register map.

Chip id, calibration registers (laid out as Bosch lays them out, including the nibble-split
H4/H5), control registers, status and the data registers. Writing ctrl_meas with forced
mode "measures": the raw ADC values set on the fake go into 0xF7–0xFE, or the reset value
0x80000 for a quantity whose oversampling is "skipped". Reads and writes auto-increment::

    bme = FakeBME280()                        # the BMP280 datasheet's worked example
    bme.set_raw(adc_t=519888, adc_p=415148, adc_h=30281)
    fake_i2c.connect(0, bme)
"""

# Calibration of the worked example in Bosch's BMP280 datasheet (3.12), with typical
# humidity coefficients (the BMP280 has none).
DATASHEET_CALIBRATION = {
    "T1": 27504,
    "T2": 26435,
    "T3": -1000,
    "P1": 36477,
    "P2": -10685,
    "P3": 3024,
    "P4": 2855,
    "P5": 140,
    "P6": -7,
    "P7": 15500,
    "P8": -14600,
    "P9": 6000,
    "H1": 75,
    "H2": 362,
    "H3": 0,
    "H4": 313,
    "H5": 50,
    "H6": 30,
}

BME280_ID = 0x60
BMP280_ID = 0x58


def _le16(regs, at, value):
    value &= 0xFFFF
    regs[at] = value & 0xFF
    regs[at + 1] = value >> 8


class FakeBME280:
    def __init__(
        self,
        address=0x76,
        chip_id=BME280_ID,
        calibration=None,
        adc_t=519888,
        adc_p=415148,
        adc_h=30281,
    ):
        self.address = address
        self.chip_id = chip_id
        self.regs = bytearray(256)
        self._pointer = 0
        self.measurements = 0
        self.resets = 0
        self.set_calibration(calibration or DATASHEET_CALIBRATION)
        self._reset()
        self.set_raw(adc_t, adc_p, adc_h)

    def set_calibration(self, c):
        regs = self.regs
        regs[0xD0] = self.chip_id
        for i, name in enumerate(
            ("T1", "T2", "T3", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9")
        ):
            _le16(regs, 0x88 + 2 * i, c[name])
        if self.chip_id == BME280_ID:
            regs[0xA1] = c["H1"]
            _le16(regs, 0xE1, c["H2"])
            regs[0xE3] = c["H3"]
            h4 = c["H4"] & 0xFFF
            h5 = c["H5"] & 0xFFF
            regs[0xE4] = h4 >> 4
            regs[0xE5] = (h4 & 0x0F) | (h5 & 0x0F) << 4
            regs[0xE6] = h5 >> 4
            regs[0xE7] = c["H6"] & 0xFF

    def set_raw(self, adc_t, adc_p, adc_h=0):
        self.adc_t = adc_t
        self.adc_p = adc_p
        self.adc_h = adc_h

    def _reset(self):
        regs = self.regs
        for reg in (0xF2, 0xF3, 0xF4, 0xF5):
            regs[reg] = 0
        regs[0xF7:0xFF] = b"\x80\x00\x00\x80\x00\x00\x80\x00"

    def _measure(self):
        regs = self.regs
        ctrl = regs[0xF4]
        osrs_t = ctrl >> 5
        osrs_p = (ctrl >> 2) & 7
        osrs_h = regs[0xF2] & 7
        t = self.adc_t if osrs_t else 0x80000
        p = self.adc_p if osrs_p else 0x80000
        regs[0xF7] = p >> 12
        regs[0xF8] = (p >> 4) & 0xFF
        regs[0xF9] = (p & 0x0F) << 4
        regs[0xFA] = t >> 12
        regs[0xFB] = (t >> 4) & 0xFF
        regs[0xFC] = (t & 0x0F) << 4
        if self.chip_id == BME280_ID:
            h = self.adc_h if osrs_h else 0x8000
            regs[0xFD] = h >> 8
            regs[0xFE] = h & 0xFF
        regs[0xF4] = ctrl & 0xFC  # back to sleep mode
        self.measurements += 1

    def _store(self, reg, value):
        if reg == 0xE0:
            if value == 0xB6:
                self.resets += 1
                self._reset()
        elif reg == 0xF2 or reg == 0xF5:
            self.regs[reg] = value
        elif reg == 0xF4:
            self.regs[reg] = value
            if value & 3 in (1, 2):
                self._measure()

    # -- the I2C device interface (fake_i2c.py) --------------------------------------------

    def write(self, data):
        if len(data) == 0:
            return
        self._pointer = data[0]
        for i in range(1, len(data)):
            self._store(self._pointer, data[i])
            self._pointer = (self._pointer + 1) & 0xFF

    def write_mem(self, reg, data):
        for i in range(len(data)):
            self._store((reg + i) & 0xFF, data[i])

    def select(self, reg):
        self._pointer = reg

    def read_into(self, buf):
        regs = self.regs
        at = self._pointer
        for i in range(len(buf)):
            buf[i] = regs[(at + i) & 0xFF]
