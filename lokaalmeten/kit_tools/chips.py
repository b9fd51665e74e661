"""The ESP32 chips a kit can have: flash offset, mpy-cross architecture, image chip id.

    chip = chip_by_name("ESP32-S3")
    chip.offset, chip.march, chip.board       # 0x0, "xtensawin", "ESP32_GENERIC_S3"
    detected_chip(esptool_output)             # "ESP32-S3", parsed from esptool's own lines
    image_chip_id(Path("ESP32_GENERIC_S3-v1.24.1.bin").read_bytes()[:64])   # 9

Offsets are MicroPython's (ports/esp32/boards/*/board.json ``flash_offset``): the ESP32's
bootloader sits at 0x1000, the S3's, C3's and C6's at 0x0. The image chip id is the one in
the ESP-IDF image header (byte 12, little-endian u16) that esptool checks as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class ChipError(ValueError):
    """A chip or image that does not fit; the message says what to do."""


@dataclass(frozen=True)
class Chip:
    name: str  # as esptool names it: "ESP32", "ESP32-S3"
    esptool: str  # esptool's --chip value
    offset: int  # where the MicroPython image is written
    march: str  # mpy-cross -march for native and viper code
    image_id: int  # chip id in the image header
    board: str  # MicroPython's download name for a generic board


CHIPS = (
    Chip("ESP32", "esp32", 0x1000, "xtensawin", 0, "ESP32_GENERIC"),
    Chip("ESP32-S3", "esp32s3", 0x0, "xtensawin", 9, "ESP32_GENERIC_S3"),
    Chip("ESP32-C3", "esp32c3", 0x0, "rv32imc", 5, "ESP32_GENERIC_C3"),
    Chip("ESP32-C6", "esp32c6", 0x0, "rv32imc", 13, "ESP32_GENERIC_C6"),
)

DOWNLOAD_PAGE = "https://micropython.org/download/"

# MicroPython's native architectures, as numbered in sys.implementation._mpy >> 10
# (py/persistentcode.h, MP_NATIVE_ARCH_*); mpy-cross's -march takes the same names.
NATIVE_ARCHES = (
    None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
    "xtensa", "xtensawin", "rv32imc", "rv64imc",
)  # fmt: skip


def chip_by_name(name: str) -> Chip:
    wanted = name.strip().lower().replace("-", "").replace("_", "")
    for chip in CHIPS:
        if wanted in (chip.esptool, chip.name.lower().replace("-", "")):
            return chip
    known = ", ".join(c.name for c in CHIPS)
    raise ChipError(f"{name} is not a chip lokaalmeten supports; supported: {known}")


# esptool 4 and 5 both print "Detecting chip type... ESP32-S3"; esptool 4 then says
# "Chip is ESP32-S3 (QFN56) (revision v0.2)", esptool 5 "Chip type:          ESP32-S3 (QFN56)".
_DETECTED = (
    re.compile(r"Detecting chip type\.\.\.\s*(ESP[0-9A-Z-]+)"),
    re.compile(r"^Chip (?:is|type:)\s+(ESP[0-9A-Z-]+)", re.M),
)


def detected_chip(esptool_output: str) -> str | None:
    """The chip name esptool reported, or None if its output names none."""
    for pattern in _DETECTED:
        found = pattern.search(esptool_output)
        if found:
            return found.group(1).rstrip("-")
    return None


def supported_chip(esptool_output: str) -> Chip:
    """The detected chip, or ChipError saying which chip it was and what is supported."""
    name = detected_chip(esptool_output)
    if name is None:
        raise ChipError("esptool did not say which chip the board has")
    try:
        return chip_by_name(name)
    except ChipError:
        known = ", ".join(c.name for c in CHIPS)
        raise ChipError(
            f"the board has an {name}; lokaalmeten kits use {known} "
            "(an ESP8266 or ESP32-S2 has too little memory or no driver support here)"
        ) from None


def image_chip_id(header: bytes) -> int | None:
    """The chip id of an ESP-IDF image (a MicroPython .bin starts with the bootloader's).

    Header: magic 0xE9, segment count, flash mode, size/frequency, entry point (u32), then
    the extended header: WP pin, drive settings (3 bytes), chip id (u16 at byte 12).
    """
    if len(header) < 24 or header[0] != 0xE9:
        return None
    return int.from_bytes(header[12:14], "little")


def check_image(header: bytes, chip: Chip, name: str) -> None:
    """Refuse an image that is not an ESP image or was built for another chip."""
    found = image_chip_id(header)
    if found is None:
        raise ChipError(
            f"{name} is not an ESP32 firmware image (it does not start with the image magic "
            f"byte 0xE9); download the .bin for {chip.board} from {DOWNLOAD_PAGE}{chip.board}/"
        )
    if found != chip.image_id:
        other = next((c.name for c in CHIPS if c.image_id == found), f"chip id {found}")
        raise ChipError(
            f"{name} is built for the {other}, but the board has an {chip.name}; download "
            f"the image for {chip.board} from {DOWNLOAD_PAGE}{chip.board}/"
        )


def arch_of_mpy(mpy: int) -> str | None:
    """The native architecture in ``sys.implementation._mpy`` (None: no native code)."""
    index = mpy >> 10
    return NATIVE_ARCHES[index] if index < len(NATIVE_ARCHES) else None


def mpy_version(mpy: int) -> tuple[int, int]:
    """The .mpy (version, sub-version) an interpreter reads, from ``_mpy``."""
    return mpy & 0xFF, (mpy >> 8) & 3
