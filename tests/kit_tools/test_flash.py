"""lokaalmeten flash: chips, offsets, image checks, esptool commands, port errors.

No ESP32 board is attached here. Real esptool runs against a pseudo-terminal: one that
never answers (no board), and one where tests/kit_tools/fake_rom.py plays the board's
serial bootloader, so that detection, erasing, writing, esptool's MD5 verification and the
progress percentages are esptool's own. The esptool 4 output in the parser tests is written
as its format strings print it; the busy port is a real pseudo-terminal locked with flock,
as esptool and mpremote lock it.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

import pytest

from lokaalmeten.kit_tools.chips import (
    CHIPS,
    ChipError,
    arch_of_mpy,
    check_image,
    chip_by_name,
    detected_chip,
    image_chip_id,
    mpy_version,
    supported_chip,
)
from lokaalmeten.kit_tools.flash import (
    FlashError,
    Step,
    detect,
    explain_failure,
    find_image,
    flash_steps,
    run_esptool,
)
from lokaalmeten.kit_tools.serialport import PortError, check_port
from tests.test_cli import lm

ESPTOOL5_S3 = """esptool v5.6.0
Connected to ESP32-S3 on /dev/ttyACM0:
Chip type:          ESP32-S3 (QFN56) (revision v0.2)
Features:           Wi-Fi, BT 5 (LE), Dual Core + LP Core, 240MHz, Embedded PSRAM 8MB (AP_3v3)
Crystal frequency:  40MHz
MAC:                f4:12:fa:aa:bb:cc
"""
ESPTOOL4_ESP32 = """esptool.py v4.8.1
Serial port /dev/ttyUSB0
Connecting....
Detecting chip type... Unsupported detection protocol, switching and trying again...
Connecting.....
Detecting chip type... ESP32
Chip is ESP32-D0WD-V3 (revision v3.1)
Features: WiFi, BT, Dual Core, 240MHz, VRef calibration in efuse, Coding Scheme None
MAC: 08:3a:f2:aa:bb:cc
"""
ESPTOOL5_ESP8266 = "Connected to ESP8266 on /dev/ttyUSB0:\nChip type:          ESP8266EX\n"
ESPTOOL_NO_BOARD = (
    "Connecting......................................\n\n"
    "A fatal error occurred: Failed to connect to ESP32: No serial data received.\n"
)


def image_header(chip_id: int) -> bytes:
    """The first bytes of an ESP-IDF image: magic, segments, mode, size/freq, entry, ext."""
    entry = (0x40080000).to_bytes(4, "little")
    extended = bytes([0xEE, 0, 0, 0]) + chip_id.to_bytes(2, "little") + bytes(10)
    return bytes([0xE9, 3, 2, 0x20]) + entry + extended


@pytest.mark.parametrize(
    ("name", "offset", "march"),
    [("ESP32", 0x1000, "xtensawin"), ("esp32s3", 0x0, "xtensawin"), ("ESP32-C3", 0x0, "rv32imc")],
)
def test_each_chip_has_its_offset_and_architecture(name: str, offset: int, march: str) -> None:
    chip = chip_by_name(name)
    assert (chip.offset, chip.march) == (offset, march)


def test_esptool_commands_per_chip(tmp_path: Path) -> None:
    image = tmp_path / "ESP32_GENERIC-v1.25.0.bin"
    erase, write = flash_steps("/dev/ttyUSB0", chip_by_name("ESP32"), image)
    base = [sys.executable, "-m", "esptool", "--port", "/dev/ttyUSB0", "--chip", "esp32"]
    assert erase.command == [*base, "erase-flash"]
    assert write.command == [*base, "--baud", "460800", "write-flash", "0x1000", str(image)]
    s3 = flash_steps("/dev/ttyACM0", chip_by_name("ESP32-S3"), image, baud=115200)[1]
    assert s3.command[-5:] == ["--baud", "115200", "write-flash", "0x0", str(image)]
    assert s3.command[5:7] == ["--chip", "esp32s3"]


def test_the_esptool_commands_exist_in_the_installed_esptool() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "esptool", "--help"], capture_output=True, text=True
    )
    for command in ("erase-flash", "write-flash", "read-mac"):
        assert command in done.stdout


def test_chip_detection_reads_esptool_4_and_5() -> None:
    assert detected_chip(ESPTOOL5_S3) == "ESP32-S3"
    assert detected_chip(ESPTOOL4_ESP32) == "ESP32"
    assert supported_chip(ESPTOOL5_S3).offset == 0
    assert detected_chip("Connecting....") is None


def test_a_wrong_chip_is_named() -> None:
    with pytest.raises(ChipError, match="the board has an ESP8266"):
        supported_chip(ESPTOOL5_ESP8266)
    with pytest.raises(ChipError, match="did not say which chip"):
        supported_chip("A fatal error occurred")


def test_detect_runs_esptool_and_explains_a_silent_board() -> None:
    seen: list[list[str]] = []

    def run(command: list[str]) -> tuple[int, str]:
        seen.append(command)
        return 0, ESPTOOL4_ESP32

    assert detect("/dev/ttyUSB0", run).name == "ESP32"
    assert seen[0][-3:] == ["--chip", "auto", "read-mac"]
    with pytest.raises(FlashError, match="hold its BOOT button"):
        detect("/dev/ttyUSB0", lambda c: (2, ESPTOOL_NO_BOARD))
    assert "busy" in explain_failure("Could not exclusively lock port /dev/ttyUSB0")


def test_image_header_chip_ids_match_esptool() -> None:
    from esptool.targets import CHIP_DEFS  # type: ignore[import-untyped]

    for chip in CHIPS:
        assert chip.image_id == CHIP_DEFS[chip.esptool].IMAGE_CHIP_ID
        assert chip.name == CHIP_DEFS[chip.esptool].CHIP_NAME
        assert image_chip_id(image_header(chip.image_id)) == chip.image_id


def test_an_image_for_another_chip_is_refused(tmp_path: Path) -> None:
    esp32 = chip_by_name("ESP32")
    check_image(image_header(0), esp32, "x.bin")
    with pytest.raises(ChipError, match="built for the ESP32-S3, but the board has an ESP32"):
        check_image(image_header(9), esp32, "ESP32_GENERIC_S3.bin")
    with pytest.raises(ChipError, match="not an ESP32 firmware image"):
        check_image(b"<html>404</html>" + bytes(40), esp32, "page.bin")


def test_find_image_takes_the_newest_for_the_chip(tmp_path: Path) -> None:
    c3 = chip_by_name("ESP32-C3")
    for name, chip_id in [
        ("ESP32_GENERIC_C3-20240602-v1.23.0.bin", 5),
        ("ESP32_GENERIC_C3-20250415-v1.25.0.bin", 5),
        ("ESP32_GENERIC-20250415-v1.25.0.bin", 0),
    ]:
        (tmp_path / name).write_bytes(image_header(chip_id) + bytes(100))
    assert find_image(None, c3, (tmp_path,)).name == "ESP32_GENERIC_C3-20250415-v1.25.0.bin"


def test_a_missing_image_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FlashError, match=r"micropython.org/download/ESP32_GENERIC_S3/"):
        find_image(None, chip_by_name("ESP32-S3"), (tmp_path,))
    with pytest.raises(FlashError, match=r"nothing\.bin does not exist"):
        find_image(tmp_path / "nothing.bin", chip_by_name("ESP32"))


def test_progress_comes_from_esptool_output(tmp_path: Path) -> None:
    script = tmp_path / "fake_esptool.py"
    script.write_text(
        "import sys\n"
        "for p in (0, 25.5, 100):\n"
        "    sys.stdout.write('\\rWriting at 0x00010000 [====] %5.1f%% 1/4 bytes' % p)\n"
        "print('\\nHash of data verified.')\n"
    )
    percents: list[float] = []
    lines: list[str] = []
    run_esptool(Step("write", [sys.executable, str(script)]), percents.append, lines.append)
    assert percents == [0.0, 25.5, 100.0]
    assert lines == ["Hash of data verified."]
    failing = Step("write", [sys.executable, "-c", "print('Failed to connect to ESP32');exit(2)"])
    with pytest.raises(FlashError, match="BOOT"):
        run_esptool(failing, percents.append, lines.append)


def test_a_missing_port_is_reported() -> None:
    with pytest.raises(PortError, match="/dev/ttyUSB9 does not exist"):
        check_port("/dev/ttyUSB9")


def test_a_file_is_not_a_port(tmp_path: Path) -> None:
    (tmp_path / "port").write_text("")
    with pytest.raises(PortError, match="not a serial device"):
        check_port(str(tmp_path / "port"))


def test_a_locked_port_is_busy_and_a_free_one_is_fine() -> None:
    controller, device = os.openpty()
    path = os.ttyname(device)
    try:
        check_port(path)  # free
        holder = os.open(path, os.O_RDWR | os.O_NOCTTY)
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as pyserial's exclusive=True does
        try:
            with pytest.raises(PortError, match="is busy"):
                check_port(path)
        finally:
            os.close(holder)
        check_port(path)
    finally:
        os.close(device)
        os.close(controller)


def test_mpy_fields_of_the_real_interpreter() -> None:
    # sys.implementation._mpy of the unix port here (x86-64), and of an ESP32 build.
    import shutil
    import subprocess

    micropython = shutil.which("micropython", path=str(Path(sys.executable).parent))
    if micropython is None:
        pytest.skip("micropython not installed")
    out = subprocess.run(
        [micropython, "-c", "import sys; print(sys.implementation._mpy)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert arch_of_mpy(int(out)) in ("x64", "aarch64", None)
    assert mpy_version(int(out))[0] == 6
    assert arch_of_mpy(10 << 10 | 3 << 8 | 6) == "xtensawin"


def test_flash_command_errors(tmp_path: Path) -> None:
    out = lm("flash", "--port", "/dev/ttyUSB9", cwd=tmp_path)
    assert out.returncode == 2 and "does not exist" in out.stderr
    out = lm("flash", "--port", "/dev/ttyUSB0", "--chip", "esp8266", "--dry-run", cwd=tmp_path)
    assert out.returncode == 2 and "not a chip lokaalmeten supports" in out.stderr
    assert "Traceback" not in out.stderr


def test_flash_dry_run_prints_the_commands(tmp_path: Path) -> None:
    image = tmp_path / "ESP32_GENERIC_S3-20250415-v1.25.0.bin"
    image.write_bytes(image_header(9) + bytes(64))
    out = lm("flash", "--port", "/dev/ttyACM0", "--chip", "ESP32-S3", "--dry-run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "python -m esptool --port /dev/ttyACM0 --chip esp32s3 erase-flash",
        "python -m esptool --port /dev/ttyACM0 --chip esp32s3 --baud 460800 write-flash 0x0 "
        + image.name,
    ]


def test_real_esptool_on_a_port_where_no_board_answers() -> None:
    """esptool itself, on a pseudo-terminal that never answers: the message says what to do."""
    controller, device = os.openpty()
    try:
        with pytest.raises(FlashError, match="hold its BOOT button"):
            detect(os.ttyname(device))
    finally:
        os.close(device)
        os.close(controller)


# Real esptool against a stand-in for the board's serial bootloader (tests/kit_tools/fake_rom.py).


def test_real_esptool_detects_an_esp32_by_its_magic_value() -> None:
    from tests.kit_tools.fake_rom import FakeRom

    with FakeRom.esp32() as rom:
        assert detect(rom.port).name == "ESP32"
        assert 0x14 in rom.commands and 0x0A in rom.commands  # security info refused, magic read


def test_real_esptool_detects_an_esp32_s3_by_its_chip_id() -> None:
    from tests.kit_tools.fake_rom import FakeRom

    with FakeRom.esp32s3() as rom:
        assert detect(rom.port).name == "ESP32-S3"


def test_real_esptool_erases_writes_and_verifies_with_progress(tmp_path: Path) -> None:
    from tests.kit_tools.fake_rom import FakeRom

    image = tmp_path / "ESP32_GENERIC_S3-20250415-v1.25.0.bin"
    image.write_bytes(image_header(9) + os.urandom(150_000))  # incompressible: many blocks
    with FakeRom.esp32s3() as rom:
        percents: list[float] = []
        lines: list[str] = []
        erase, write = flash_steps(rom.port, chip_by_name("ESP32-S3"), image)
        run_esptool(erase, percents.append, lines.append)
        assert 0xD0 in rom.commands  # ERASE_FLASH
        run_esptool(write, percents.append, lines.append)
        assert bytes(rom.flash[: image.stat().st_size]) == image.read_bytes()
    assert len(percents) > 5 and percents == sorted(percents) and percents[-1] == 100.0
    assert "Hash of data verified." in lines


def test_the_flash_command_end_to_end(tmp_path: Path) -> None:
    from tests.kit_tools.fake_rom import FakeRom

    image = tmp_path / "ESP32_GENERIC-20250415-v1.25.0.bin"
    image.write_bytes(image_header(0) + os.urandom(40_000))
    wrong = tmp_path / "other" / "ESP32_GENERIC_C3-20250415-v1.25.0.bin"
    wrong.parent.mkdir()
    wrong.write_bytes(image_header(5) + bytes(100))
    with FakeRom.esp32() as rom:
        out = lm("flash", "--port", rom.port, "--firmware", str(wrong), cwd=tmp_path)
        assert out.returncode == 2 and "built for the ESP32-C3" in out.stderr
        assert 0xD0 not in rom.commands  # nothing erased
        out = lm("flash", "--port", rom.port, cwd=tmp_path, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "chip: ESP32, MicroPython goes at offset 0x1000" in out.stdout
        assert bytes(rom.flash[0x1000 : 0x1000 + image.stat().st_size]) == image.read_bytes()
