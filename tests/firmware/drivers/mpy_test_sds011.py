# MicroPython tests of the SDS011 driver (run by tests/firmware/conftest.py), against a real
# capture, the examples of Nova's control protocol V1.3 and the fake sensor in firmware/sim.
import gc
import time

from fake_pm_uart import FakeSDS011, sds011_frame
from machine import UART

from drivers.errors import SensorError
from drivers.sds011 import SDS011

MPY_HEAP = "128k"

# Ten frames from a real SDS011, one per 10 s (avaldebe/PyPMS tests/captured_data/
# SDS01x.hexdump), and the PM2.5 = PM10 values PyPMS decoded from them (SDS01x.csv).
CAPTURE = bytes.fromhex(
    "aac00600060058d93dab aac00900090058d943ab aac00900090058d943ab aac00900090058d943ab"
    " aac00900090058d943ab aac00900090058d943ab aac00900090058d943ab aac00800080058d941ab"
    " aac00800080058d941ab aac00800080058d941ab"
)
CAPTURE_PM = (0.6, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8)

# Nova's protocol document: the reply of sensor A160 to "query data" (PM2.5 123.6, PM10 261.8).
DATASHEET_REPLY = bytes.fromhex("aa c0 d4 04 3a 0a a1 60 1d ab")

# Nova's protocol document: command frames to any sensor (ID FF FF).
SET_QUERY_MODE = bytes.fromhex("aa b4 02 01 01 00 00 00 00 00 00 00 00 00 00 ff ff 02 ab")
SET_ACTIVE_MODE = bytes.fromhex("aa b4 02 01 00 00 00 00 00 00 00 00 00 00 00 ff ff 01 ab")
QUERY_DATA = bytes.fromhex("aa b4 04 00 00 00 00 00 00 00 00 00 00 00 00 ff ff 02 ab")
SLEEP = bytes.fromhex("aa b4 06 01 00 00 00 00 00 00 00 00 00 00 00 ff ff 05 ab")
WORK = bytes.fromhex("aa b4 06 01 01 00 00 00 00 00 00 00 00 00 00 ff ff 06 ab")
PERIOD_1_MIN = bytes.fromhex("aa b4 08 01 01 00 00 00 00 00 00 00 00 00 00 ff ff 08 ab")


def raises(kind, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except kind as exc:
        return str(exc)
    raise AssertionError(f"{kind.__name__} not raised")


def quiet():
    """A UART with nothing on the other end: tests feed it bytes."""
    uart = UART(2, baudrate=9600, rx=16, tx=17, timeout=0)
    return uart, SDS011(uart)


def test_capture_decodes_to_the_published_values():
    uart, sensor = quiet()
    for i, pm in enumerate(CAPTURE_PM):
        uart.feed(CAPTURE, 10 * i, 10 * i + 10)
        assert sensor.read(timeout_ms=0) == {"pm25": pm, "pm10": pm}, (i, sensor.values)
    assert sensor.device_id == 0x58D9
    assert (sensor.frames, sensor.checksum_errors, sensor.framing_errors) == (10, 0, 0)
    assert sensor.skipped_bytes == 0


def test_datasheet_reply_of_sensor_a160():
    uart, sensor = quiet()
    uart.feed(DATASHEET_REPLY)
    assert sensor.read(timeout_ms=0) == {"pm25": 123.6, "pm10": 261.8}
    assert sensor.device_id == 0xA160


def test_commands_are_the_datasheet_bytes():
    uart = UART(2, baudrate=9600, timeout=0)
    uart.attach(FakeSDS011())
    sensor = SDS011(uart)
    sensor.sleep()
    sensor.wake()
    sensor.set_query_mode(True)
    sensor.read()
    sensor.set_query_mode(False)
    sensor.set_working_period(1)
    expected = SLEEP + WORK + SET_QUERY_MODE + QUERY_DATA + SET_ACTIVE_MODE + PERIOD_1_MIN
    assert bytes(uart.written) == expected, uart.written


def test_stream_that_starts_mid_frame():
    uart, sensor = quiet()
    uart.feed(CAPTURE[5:])
    assert sensor.poll() == 9
    assert sensor.skipped_bytes == 5
    assert sensor.checksum_errors == 0 and sensor.framing_errors == 0


def test_garbage_between_frames_is_skipped():
    uart, sensor = quiet()
    garbage = (b"\x00\xff", b"\xaa", b"\xaa\xaa\x01", b"\xab\xc0", b"\xaa\xc5\x01", b"")
    for i in range(6):
        uart.feed(garbage[i])
        uart.feed(CAPTURE, 10 * i, 10 * i + 10)
    assert sensor.poll() == 6
    assert sensor.values == {"pm25": None, "pm10": None}  # poll() does not convert
    assert sensor.read(timeout_ms=0) == {"pm25": 0.9, "pm10": 0.9}
    # "aa c5 01" starts a reply frame that swallows the next bytes: rejected, then resynced.
    assert sensor.frames == 6


def test_bad_checksum_is_rejected_and_counted():
    uart, sensor = quiet()
    bad = bytearray(CAPTURE[0:10])
    bad[8] ^= 0x10
    uart.feed(bad)
    assert sensor.poll() == 0
    assert sensor.checksum_errors == 1
    assert sensor.read() is None  # nothing valid yet
    uart.feed(CAPTURE, 10, 20)
    assert sensor.read(timeout_ms=0)["pm25"] == 0.9


def test_corrupt_value_byte_is_caught_by_the_checksum():
    uart, sensor = quiet()
    bad = bytearray(CAPTURE[10:20])
    bad[2] = 0x99  # PM2.5 low byte changed in transit
    uart.feed(bad)
    uart.feed(CAPTURE, 0, 10)
    assert sensor.read(timeout_ms=0) == {"pm25": 0.6, "pm10": 0.6}
    assert sensor.checksum_errors == 1 and sensor.frames == 1


def test_truncated_frame_followed_by_a_good_one():
    uart, sensor = quiet()
    uart.feed(CAPTURE, 0, 6)  # cut off after six bytes
    uart.feed(CAPTURE, 70, 80)
    assert sensor.poll() == 1
    assert sensor.read(timeout_ms=0) == {"pm25": 0.8, "pm10": 0.8}
    assert sensor.framing_errors == 1
    assert sensor.skipped_bytes == 6


def test_frame_arriving_in_pieces():
    uart, sensor = quiet()
    for i in range(10):
        uart.feed(DATASHEET_REPLY, i, i + 1)
        assert sensor.poll() == (1 if i == 9 else 0)


def test_reply_frames_are_not_measurements():
    uart, sensor = quiet()
    uart.feed(sds011_frame(0xC5, 6, 1, 0, 0, 0xA1, 0x60))
    assert sensor.poll() == 0
    assert sensor.frames == 0 and sensor.checksum_errors == 0


def test_active_mode_with_the_fake_sensor():
    uart = UART(2, baudrate=9600, timeout=0)
    fake = FakeSDS011(pm25=12.3, pm10=45.6)
    uart.attach(fake)
    sensor = SDS011(uart)
    sensor.start()
    assert sensor.read() == {"pm25": 12.3, "pm10": 45.6}
    fake.set(pm25=999.9, pm10=999.9)
    assert sensor.read() == {"pm25": 999.9, "pm10": 999.9}


def test_query_mode_asks_for_each_measurement():
    uart = UART(2, baudrate=9600, timeout=0)
    fake = FakeSDS011(pm25=3.1, pm10=4.2)
    uart.attach(fake)
    sensor = SDS011(uart, query_mode=True)
    sensor.start()
    assert fake.query_mode
    assert sensor.read() == {"pm25": 3.1, "pm10": 4.2}
    # each read asks for the next measurement, to be there for the next read
    assert fake.commands[-1] == (4, 0, 0)
    sent = fake.frames_sent
    assert sensor.read() == {"pm25": 3.1, "pm10": 4.2}
    assert fake.frames_sent == sent + 1  # one query, one answer per read
    fake.set(pm25=5.5, pm10=6.6)
    assert sensor.read() == {"pm25": 3.1, "pm10": 4.2}  # asked before the change
    assert sensor.read() == {"pm25": 5.5, "pm10": 6.6}


def test_sleep_stops_measurements():
    uart = UART(2, baudrate=9600, timeout=0)
    fake = FakeSDS011()
    uart.attach(fake)
    sensor = SDS011(uart)
    sensor.start()
    sensor.stop()
    assert not fake.awake
    uart.clear()
    assert sensor.read(timeout_ms=30) is None
    sensor.start()
    assert sensor.read()["pm10"] == 12.1


def test_working_period_and_firmware_version():
    uart = UART(2, baudrate=9600, timeout=0)
    fake = FakeSDS011()
    uart.attach(fake)
    sensor = SDS011(uart)
    sensor.set_working_period(5)
    assert fake.period == 5
    assert "0 (continuous) to 30" in raises(ValueError, sensor.set_working_period, 31)
    assert sensor.firmware_version() == (18, 11, 16)


def test_unanswered_command_names_the_wire_to_check():
    _, sensor = quiet()
    msg = raises(SensorError, sensor._set, 6, 0, 20)
    assert "did not answer" in msg and "TX" in msg, msg


def test_silent_sensor_is_an_error_that_names_the_wires():
    uart, sensor = quiet()
    assert sensor.read() is None  # just started: no frame yet is no error
    sensor.STALE_MS = 20
    time.sleep_ms(30)
    msg = raises(SensorError, sensor.read)
    assert "no valid frame" in msg and "RX pin" in msg and "9600" in msg, msg
    uart.feed(CAPTURE, 0, 10)
    assert sensor.read() == {"pm25": 0.6, "pm10": 0.6}


def test_steady_state_parsing_allocates_nothing():
    uart = UART(2, baudrate=9600, timeout=0)
    uart.attach(FakeSDS011())
    sensor = SDS011(uart)
    for _ in range(3):
        sensor.poll()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(200):
        sensor.poll()
    used = gc.mem_alloc() - before
    assert used == 0, used
    assert sensor.frames == 203


def test_read_allocates_only_the_two_floats():
    uart = UART(2, baudrate=9600, timeout=0)
    uart.attach(FakeSDS011())
    sensor = SDS011(uart)
    sensor.read()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(100):
        sensor.read()
    per_read = (gc.mem_alloc() - before) / 100
    # Two boxed floats, one GC block each: 32 bytes on this 64-bit host, 16 on the ESP32.
    assert per_read <= 64, per_read
