# MicroPython tests of the Sensirion CRC-8 and word handling shared by the I2C drivers.
import fake_sensirion

from drivers import sensirion

MPY_HEAP = "64k"

# Sensirion's SCD30 interface description: a measurement (CO2 439.09 ppm, 27.24 °C,
# 48.81 %RH), each word followed by its CRC as published.
SCD30_EXAMPLE = bytes.fromhex("43 db cb 8c 2e 8f 41 d9 70 e7 ff f5 42 43 bf 3a 1b 74")


def test_crc_of_0xbeef_is_0x92():
    assert sensirion.crc8(b"\xbe\xef") == 0x92
    assert sensirion.crc_word(0xBE, 0xEF) == 0x92
    assert fake_sensirion.crc8(b"\xbe\xef") == 0x92  # the fakes' own, bitwise routine


def test_crc_of_every_published_word():
    for i in range(0, 18, 3):
        assert sensirion.crc8(SCD30_EXAMPLE[i : i + 2]) == SCD30_EXAMPLE[i + 2], i
    # Argument words in Sensirion's documents: 0x0000 (SCD30 start) and 0x0300 (SPS30 floats).
    assert sensirion.crc_word(0x00, 0x00) == 0x81
    assert sensirion.crc_word(0x03, 0x00) == 0xAC


def test_table_and_bitwise_routines_agree_on_all_words():
    crc = fake_sensirion.crc8
    for msb in range(0, 256, 5):
        for lsb in range(256):
            assert sensirion.crc_word(msb, lsb) == crc(bytes((msb, lsb))), (msb, lsb)


def test_crc8_allocates_nothing():
    import gc

    data = bytearray(SCD30_EXAMPLE)
    sensirion.crc8(data)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(100):
        sensirion.crc8(data)
    assert gc.mem_alloc() - before == 0
