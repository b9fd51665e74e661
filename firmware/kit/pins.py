"""The board profiles' pins (lokaalmeten/kit_tools/boards.py has the same facts): which
GPIOs a chip has, which are wired to flash or PSRAM, which are input-only.

    from kit import pins
    check = pins.checker("esp32-devkitc")     # KitError for an unknown board
    check("sensors[0]", "rx", 6)              # KitError: GPIO 6 is wired to the flash ...

kit.config loads this module only while it checks a sensor table.
"""

import os

from kit.errors import KitError

# Board profile (lokaalmeten/kit_tools/boards.py, which deploy writes as "board"):
# (chip, highest GPIO, GPIOs the chip lacks, flash pins, PSRAM pins, input-only pins).
BOARDS = {
    "esp32-devkitc": ("ESP32", 39, (20, 24, 28, 29, 30, 31), range(6, 12), (), range(34, 40)),
    "esp32-wrover": ("ESP32", 39, (20, 24, 28, 29, 30, 31), range(6, 12), (16, 17), range(34, 40)),
    "esp32s3-n16r8": ("ESP32-S3", 48, (22, 23, 24, 25), range(26, 33), range(33, 38), ()),
    "esp32c3": ("ESP32-C3", 21, (), range(12, 18), (), ()),
}
_OUTPUTS = ("tx", "sda", "scl", "sck", "ws")  # pins the kit drives (I2C lines both ways)


def running_board():
    """The profile for this chip when config.json names none (``os.uname().machine``)."""
    try:
        machine = os.uname().machine.upper().replace("-", "")
    except AttributeError:
        machine = ""
    if "WITH ESP32S3" in machine:
        return "esp32s3-n16r8"
    if "WITH ESP32C3" in machine:
        return "esp32c3"
    return "esp32-wrover" if "SPIRAM" in machine else "esp32-devkitc"


def _check(where, name, gpio, board):
    chip, top, missing, flash, psram, input_only = BOARDS[board]
    if gpio > top or gpio in missing:
        raise KitError(
            "%s.%s: GPIO %d does not exist on an %s (board %s)" % (where, name, gpio, chip, board)
        )
    if gpio in flash:
        raise KitError(
            "%s.%s: GPIO %d is wired to the flash on an %s (board %s); pick another pin"
            % (where, name, gpio, chip, board)
        )
    if gpio in psram:
        raise KitError(
            "%s.%s: GPIO %d is wired to the PSRAM on the %s board; pick another pin"
            % (where, name, gpio, board)
        )
    if name in _OUTPUTS and gpio in input_only:
        raise KitError(
            "%s.%s: GPIO %d is input-only on an %s and cannot drive %s; pick another pin"
            % (where, name, gpio, chip, name)
        )


def checker(board):
    """A function (where, name, gpio) that raises KitError for a pin this board refuses."""
    if board not in BOARDS:
        raise KitError("'board' must be one of %s, got %r" % (", ".join(BOARDS), board))

    def check(where, name, gpio):
        _check(where, name, gpio, board)

    return check
