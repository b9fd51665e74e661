# MicroPython tests of the PMS5003/PMS7003 driver (run by tests/firmware/conftest.py),
# against a real capture, the command frames Plantower documents and the fake sensor.
import gc
import time

from fake_pm_uart import FakePMS5003, pms_frame
from machine import UART

from drivers.errors import SensorError
from drivers.pms5003 import PMS5003

MPY_HEAP = "128k"

# Ten frames from a real PMSx003, one per 10 s (avaldebe/PyPMS tests/captured_data/
# PMSx003.hexdump), and what PyPMS decoded from them (PMSx003.csv): atmospheric PM1, PM2.5,
# PM10 in µg/m³ and counts above 0.3/0.5/1/2.5 µm in #/cm³ (the frame's per-0.1 L / 100).
CAPTURE = bytes.fromhex(
    "424d001c00000008000800000008000800d20046002d001e00000000970002c5"
    "424d001c00000007000700000007000700d20046002d001e00000000970002c1"
    "424d001c00000007000700000007000700bd003f002a001b000000009700029f"
    "424d001c00000007000700000007000700b4003c00270018000000009700028d"
    "424d001c00000007000700000007000700b4003c00270018000000009700028d"
    "424d001c00000006000600000006000600b4003c001d0015000000009700027c"
    "424d001c00000006000600000006000600b4003c001d0015000000009700027c"
    "424d001c000000060006000000060006009f0035001a0012000000009700025a"
    "424d001c000000060006000000060006009f0035001a0012000000009700025a"
    "424d001c000000050005000000050005008a002e0017000f0000000097000234"
)
CAPTURE_PM = (8, 7, 7, 7, 7, 6, 6, 6, 6, 5)
CAPTURE_COUNTS = (
    (2.10, 0.70, 0.45, 0.30),
    (2.10, 0.70, 0.45, 0.30),
    (1.89, 0.63, 0.42, 0.27),
    (1.80, 0.60, 0.39, 0.24),
    (1.80, 0.60, 0.39, 0.24),
    (1.80, 0.60, 0.29, 0.21),
    (1.80, 0.60, 0.29, 0.21),
    (1.59, 0.53, 0.26, 0.18),
    (1.59, 0.53, 0.26, 0.18),
    (1.38, 0.46, 0.23, 0.15),
)

# Plantower's command frames (also in airRohr's PMS_cmd and PyPMS's docs).
PASSIVE = bytes.fromhex("42 4d e1 00 00 01 70")
ACTIVE = bytes.fromhex("42 4d e1 00 01 01 71")
READ = bytes.fromhex("42 4d e2 00 00 01 71")
SLEEP = bytes.fromhex("42 4d e4 00 00 01 73")
WAKE = bytes.fromhex("42 4d e4 00 01 01 74")
SLEEP_ACK = bytes.fromhex("42 4d 00 04 e4 00 01 77")


def raises(kind, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except kind as exc:
        return str(exc)
    raise AssertionError(f"{kind.__name__} not raised")


def quiet():
    uart = UART(2, baudrate=9600, rx=16, tx=17, timeout=0)
    return uart, PMS5003(uart)


def frame(i):
    return CAPTURE[32 * i : 32 * i + 32]


def test_capture_decodes_to_the_published_values():
    uart, sensor = quiet()
    for i in range(10):
        uart.feed(frame(i))
        pm = CAPTURE_PM[i]
        assert sensor.read(timeout_ms=0) == {"pm1": 0, "pm25": pm, "pm10": pm}, sensor.values
        counts = sensor.counts()
        for k in range(4):
            assert abs(counts[k] / 100 - CAPTURE_COUNTS[i][k]) < 1e-9, (i, counts)
    assert sensor.words[12] == 0x9700  # version 0x97, no error
    assert (sensor.frames, sensor.checksum_errors, sensor.framing_errors) == (10, 0, 0)


def test_commands_are_the_documented_bytes():
    uart = UART(2, baudrate=9600, timeout=0)
    uart.attach(FakePMS5003())
    sensor = PMS5003(uart)
    sensor.set_passive(True)
    sensor.read()
    sensor.sleep()
    sensor.wake()
    sensor.set_passive(False)
    # the passive read asks for its frame and for the next read's
    expected = PASSIVE + READ + READ + SLEEP + WAKE + ACTIVE
    assert bytes(uart.written) == expected, uart.written


def test_stream_that_starts_mid_frame():
    uart, sensor = quiet()
    uart.feed(CAPTURE[17:])
    assert sensor.poll() == 9
    assert sensor.skipped_bytes == 15


def test_garbage_and_false_headers_between_frames():
    uart, sensor = quiet()
    garbage = (b"\x42", b"\x4d\x42", b"\x42\x4d\x00", b"\x42\x4d\xff\xff", b"\x00\x42\x4d", b"xyz")
    for i in range(6):
        uart.feed(garbage[i])
        uart.feed(frame(i))
    assert sensor.poll() == 6
    assert sensor.read(timeout_ms=0) == {"pm1": 0, "pm25": 6, "pm10": 6}
    assert sensor.framing_errors >= 1  # the 0xFFFF length


def test_bad_checksum_is_rejected_and_counted():
    uart, sensor = quiet()
    bad = bytearray(frame(0))
    bad[13] = 0x63  # atmospheric PM2.5 8 -> 99 in transit
    uart.feed(bad)
    assert sensor.poll() == 0
    assert sensor.checksum_errors == 1
    assert sensor.read() is None
    uart.feed(frame(9))
    assert sensor.read(timeout_ms=0)["pm25"] == 5


def test_truncated_frame_followed_by_a_good_one():
    uart, sensor = quiet()
    uart.feed(frame(0)[:20])
    uart.feed(frame(9))
    assert sensor.poll() == 1
    assert sensor.read(timeout_ms=0)["pm25"] == 5
    assert sensor.checksum_errors == 1
    assert sensor.skipped_bytes == 20


def test_acknowledgement_inside_a_broken_frame_is_still_seen():
    uart, sensor = quiet()
    uart.feed(frame(0)[:10])
    uart.feed(SLEEP_ACK)
    uart.feed(frame(0)[:30])  # truncated at the end of the stream
    uart.feed(frame(1))
    assert sensor.poll() == 1
    assert sensor.acks == 1 and sensor.last_ack == 0xE4


def test_implausible_length_is_a_framing_error():
    uart, sensor = quiet()
    uart.feed(pms_frame([1, 2, 3]))  # length 8: not a PMS5003 data or acknowledgement frame
    uart.feed(frame(2))
    assert sensor.poll() == 1
    assert sensor.framing_errors == 1


def test_byte_at_a_time():
    uart, sensor = quiet()
    f = frame(3)
    for i in range(32):
        uart.feed(f, i, i + 1)
        assert sensor.poll() == (1 if i == 31 else 0)


def test_passive_mode_asks_for_each_frame():
    uart = UART(2, baudrate=9600, timeout=0)
    fake = FakePMS5003(pm1=4, pm25=11, pm10=17)
    uart.attach(fake)
    sensor = PMS5003(uart, passive=True)
    sensor.start()
    assert fake.passive and fake.awake
    sent = fake.frames_sent
    assert sensor.read() == {"pm1": 4, "pm25": 11, "pm10": 17}
    assert fake.frames_sent == sent + 2  # this read's frame, and the next one asked for
    assert sensor.acks == 1  # the mode change


def test_sleep_stops_frames():
    uart = UART(2, baudrate=9600, timeout=0)
    fake = FakePMS5003()
    uart.attach(fake)
    sensor = PMS5003(uart)
    sensor.read()
    sensor.stop()
    sensor.poll()
    assert sensor.read(timeout_ms=30) is None
    assert sensor.last_ack == 0xE4
    sensor.STALE_MS = 0
    assert sensor.read() is None  # asleep: silence is expected
    sensor.start()
    assert sensor.read(timeout_ms=200)["pm10"] == 9


def test_silent_sensor_is_an_error_that_names_the_pins():
    _, sensor = quiet()
    sensor.STALE_MS = 20
    time.sleep_ms(30)
    msg = raises(SensorError, sensor.read)
    assert "PMS5003" in msg and "SET pin" in msg, msg


def test_steady_state_read_allocates_nothing():
    uart = UART(2, baudrate=9600, timeout=0)
    uart.attach(FakePMS5003())
    sensor = PMS5003(uart)
    for _ in range(3):
        sensor.read()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(200):
        sensor.read()
    used = gc.mem_alloc() - before
    assert used == 0, used
