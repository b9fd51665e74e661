"""Board profiles: the boards citizens buy, their default pins and the heap MicroPython gives.

    board = board_by_name("esp32s3-n16r8")
    board.pins["i2c"]                          # {"i2c": 0, "sda": 8, "scl": 9}
    board_from_machine("Generic ESP32S3 module with Octal-SPIRAM with ESP32S3").name
    check_fit(board_by_name("esp32-devkitc"), ["noise", "sds011", ...])   # FitError if too big

The kit reports its chip and whether its MicroPython image uses PSRAM in
``os.uname().machine`` (``sys.implementation._machine``): "Generic ESP32 module with ESP32",
"... with SPIRAM with ESP32", "... with Octal-SPIRAM with ESP32S3", "... with ESP32C3".
esptool says "Embedded PSRAM" in its Features line for chips with PSRAM in the package
(S3 R8 parts); a WROVER's PSRAM is a separate chip that esptool does not see, so the running
MicroPython's answer decides. The firmware checks pins against the same facts
(firmware/kit/pins.py ``BOARDS``); this module and that table must agree (tests/kit_tools).

Heap figures: what a stock MicroPython image leaves for the kit. A WROOM-32 without PSRAM
starts with 56 KiB, grows once to about 112 KB and must leave about 40 KB for Wi-Fi: 96 KiB
is the budget there. With PSRAM, MicroPython gives the heap the whole PSRAM (4 MB on a
WROVER, 8 MB on an N16R8); 2 MiB is counted. The C3 has 400 KB SRAM and no PSRAM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lokaalmeten.kit_tools.budget import heap_needed_kib


class FitError(ValueError):
    """The sensor set does not fit the board; the message says which board or set would."""


@dataclass(frozen=True)
class Board:
    name: str  # the profile's id: deploy --board, config.json "board"
    title: str  # as the shop names it
    chip: str  # esptool's chip name
    psram: bool
    heap_kib: int  # the heap budget for the kit on this board
    pins: dict[str, dict[str, int]]  # bus kind -> default bus number and pins
    gpio_max: int
    missing: tuple[int, ...] = ()  # numbers in 0..gpio_max the chip does not have
    flash: tuple[int, ...] = ()  # wired to the SPI flash
    psram_pins: tuple[int, ...] = ()  # wired to the PSRAM
    input_only: tuple[int, ...] = ()
    notes: tuple[str, ...] = field(default=())


_ESP32_PINS = {
    "uart": {"uart": 2, "rx": 16, "tx": 17},
    "i2c": {"i2c": 0, "sda": 21, "scl": 22},
    "i2s": {"i2s": 0, "sck": 26, "ws": 25, "sd": 33},
}

BOARDS = (
    Board(
        "esp32-devkitc",
        "ESP32-DevKitC (ESP32-WROOM-32, no PSRAM)",
        "ESP32",
        False,
        96,
        _ESP32_PINS,
        39,
        missing=(20, 24, 28, 29, 30, 31),
        flash=(6, 7, 8, 9, 10, 11),
        input_only=(34, 35, 36, 37, 38, 39),
    ),
    Board(
        # GPIO 16 and 17 drive the WROVER's PSRAM: the UART moves to 4 (rx) and 27 (tx).
        "esp32-wrover",
        "ESP32 with PSRAM (ESP32-WROVER, e.g. ESP32-DevKitC-VE)",
        "ESP32",
        True,
        2048,
        {**_ESP32_PINS, "uart": {"uart": 2, "rx": 4, "tx": 27}},
        39,
        missing=(20, 24, 28, 29, 30, 31),
        flash=(6, 7, 8, 9, 10, 11),
        psram_pins=(16, 17),
        input_only=(34, 35, 36, 37, 38, 39),
    ),
    Board(
        # GPIO 26-32 are the flash's, 33-37 the octal PSRAM's (35-37 are on the header of
        # an ESP32-S3-DevKitC-1 N16R8 but taken); 19/20 are USB, 43/44 the console.
        "esp32s3-n16r8",
        "ESP32-S3-DevKitC-1 N16R8 (octal PSRAM)",
        "ESP32-S3",
        True,
        2048,
        {
            "uart": {"uart": 1, "rx": 18, "tx": 17},
            "i2c": {"i2c": 0, "sda": 8, "scl": 9},
            "i2s": {"i2s": 0, "sck": 12, "ws": 11, "sd": 10},
        },
        48,
        missing=(22, 23, 24, 25),
        flash=(26, 27, 28, 29, 30, 31, 32),
        psram_pins=(33, 34, 35, 36, 37),
    ),
    Board(
        # GPIO 12-17 are the flash's; 18/19 USB, 20/21 the console; 2, 8, 9 strapping pins.
        "esp32c3",
        "ESP32-C3 (ESP32-C3-DevKitM-1, ESP32-C3 SuperMini)",
        "ESP32-C3",
        False,
        128,
        {
            "uart": {"uart": 1, "rx": 7, "tx": 10},
            "i2c": {"i2c": 0, "sda": 5, "scl": 6},
            "i2s": {"i2s": 0, "sck": 0, "ws": 1, "sd": 3},
        },
        21,
        flash=(12, 13, 14, 15, 16, 17),
    ),
)


def board_by_name(name: str) -> Board:
    for board in BOARDS:
        if board.name == name.strip().lower():
            return board
    raise FitError(f"no board profile {name!r}; profiles: {', '.join(b.name for b in BOARDS)}")


def board_for_chip(chip: str, psram: bool | None = None) -> Board:
    """The profile for a chip (esptool's name); ``psram`` None: the chip's usual board."""
    found = [b for b in BOARDS if b.chip == chip]
    if not found:
        raise FitError(
            f"no board profile for the {chip}; profiles: "
            + ", ".join(f"{b.name} ({b.chip})" for b in BOARDS)
        )
    if psram is not None:
        for board in found:
            if board.psram == psram:
                return board
    return found[0]


def board_from_machine(machine: str) -> Board:
    """The profile for a running MicroPython's ``os.uname().machine``."""
    compact = machine.upper().replace("-", "")
    chip = "ESP32"
    for name in ("ESP32S3", "ESP32C3", "ESP32C6", "ESP32S2"):
        if compact.endswith("WITH " + name) or ("WITH " + name) in compact:
            chip = name[:5] + "-" + name[5:]
    return board_for_chip(chip, "SPIRAM" in compact)


def psram_in_esptool(esptool_output: str) -> bool:
    """esptool's Features line names PSRAM in the package ("Embedded PSRAM 8MB")."""
    return any(
        line.strip().startswith("Features:") and "PSRAM" in line
        for line in esptool_output.splitlines()
    )


def check_fit(board: Board, sensors: Sequence[str]) -> float:
    """The heap the set needs (KiB); FitError naming a board or a smaller set that fits."""
    need = heap_needed_kib(sensors)
    if need <= board.heap_kib:
        return need
    bigger = [b for b in BOARDS if b.heap_kib >= need]
    kept = list(dict.fromkeys(sensors))
    while kept and heap_needed_kib(kept) > board.heap_kib:
        kept.remove(max(kept, key=lambda kind: heap_needed_kib([kind])))
    advice = []
    if bigger:
        advice.append(
            "a board with more memory: "
            + ", ".join(f"{b.title} (--board {b.name})" for b in bigger)
        )
    if kept:
        advice.append(
            f"a smaller set: --sensors {','.join(kept)} ({heap_needed_kib(kept):.0f} KiB)"
        )
    raise FitError(
        f"the sensors {','.join(dict.fromkeys(sensors))} need {need:.0f} KiB of heap, but an "
        f"{board.title} gives the kit {board.heap_kib} KiB; use " + " or ".join(advice)
    )


def with_board(config: dict[str, object], board: Board) -> dict[str, object]:
    """config.json for this board: its name and every sensor on the board's default pins."""
    sensors = config.get("sensors") or []
    placed = []
    for spec in sensors if isinstance(sensors, list) else []:
        kind = _bus_of(str(spec["type"]))
        placed.append({**board.pins[kind], **spec})
    return {**config, "board": board.name, "sensors": placed}


def _bus_of(sensor_type: str) -> str:
    if sensor_type in ("sds011", "pms5003"):
        return "uart"
    return "i2s" if sensor_type == "noise" else "i2c"
