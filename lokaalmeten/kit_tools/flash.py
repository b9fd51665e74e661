"""``lokaalmeten flash``: put MicroPython on a kit's ESP32 with esptool.

    chip = detect(port)                                  # esptool read-mac, its output parsed
    for step in flash_steps(port, chip, image):          # erase, then write at chip.offset
        run_esptool(step, progress)

esptool runs as ``python -m esptool`` (the same Python, so the one installed with
lokaalmeten); its output is passed on, and its percentages drive the progress bar.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lokaalmeten.kit_tools.chips import DOWNLOAD_PAGE, Chip, ChipError, check_image, supported_chip

BAUD = 460800  # MicroPython's deploy instructions; esptool falls back to 115200 to connect


class FlashError(RuntimeError):
    """Flashing failed; the message says what to check."""


@dataclass(frozen=True)
class Step:
    what: str  # "erase", "write", "detect"
    command: list[str]


def esptool(*args: str) -> list[str]:
    return [sys.executable, "-m", "esptool", *args]


def detect_step(port: str) -> Step:
    return Step("detect", esptool("--port", port, "--chip", "auto", "read-mac"))


def flash_steps(port: str, chip: Chip, image: Path, baud: int = BAUD) -> list[Step]:
    """Erase the whole flash (a fresh file system), then write the image at the chip's offset."""
    base = ("--port", port, "--chip", chip.esptool)
    return [
        Step("erase", esptool(*base, "erase-flash")),
        Step(
            "write",
            esptool(*base, "--baud", str(baud), "write-flash", hex(chip.offset), str(image)),
        ),
    ]


# What esptool says when the board does not answer, and what a person can do about it.
_CONNECT_HINTS = (
    (
        re.compile(r"Failed to connect|No serial data received|Wrong boot mode", re.I),
        "the board did not answer esptool: hold its BOOT button, press and release EN/RST, "
        "release BOOT, and run the command again; a charge-only USB cable never connects",
    ),
    (
        re.compile(r"Could not (?:open|exclusively lock)|port is busy", re.I),
        "the port is busy or gone: close serial monitors and check the cable",
    ),
)


def explain_failure(output: str) -> str:
    for pattern, hint in _CONNECT_HINTS:
        if pattern.search(output):
            return hint
    last = [line for line in output.strip().splitlines() if line.strip()][-3:]
    return "esptool failed: " + " / ".join(line.strip() for line in last)


def detect(port: str, run: Callable[[list[str]], tuple[int, str]] | None = None) -> Chip:
    """Ask the board which chip it has (esptool read-mac); ChipError or FlashError if not."""
    code, output = (run or _capture)(detect_step(port).command)
    if code != 0:
        raise FlashError(explain_failure(output))
    return supported_chip(output)


def _capture(command: list[str]) -> tuple[int, str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def find_image(given: Path | None, chip: Chip, folders: tuple[Path, ...] = (Path("."),)) -> Path:
    """The MicroPython image to write: the one given, or the newest for the chip's board."""
    if given is not None:
        if not given.is_file():
            raise FlashError(f"{given} does not exist; {_where_to_get(chip)}")
        image = given
    else:
        pattern = re.compile(rf"^{chip.board}-.*\.bin$")
        found = sorted(
            (p for folder in folders if folder.is_dir() for p in folder.iterdir()
             if pattern.match(p.name)),
            key=lambda p: p.name,
        )  # fmt: skip
        if not found:
            raise FlashError(
                f"no MicroPython image for the {chip.name} here; {_where_to_get(chip)}"
            )
        image = found[-1]
    with image.open("rb") as f:
        check_image(f.read(64), chip, image.name)
    return image


def _where_to_get(chip: Chip) -> str:
    return (
        f"download the latest release (.bin) for the {chip.name} from "
        f"{DOWNLOAD_PAGE}{chip.board}/ (MicroPython 1.23 or newer) and pass it with "
        f"--firmware FILE, or put it in the current folder"
    )


_PERCENT = re.compile(rb"(\d{1,3}(?:\.\d)?) ?%")


def run_esptool(step: Step, progress: Callable[[float], None], echo: Callable[[str], None]) -> None:
    """Run one esptool step; percentages go to ``progress``, other lines to ``echo``."""
    try:
        process = subprocess.Popen(step.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        raise FlashError(f"cannot run esptool: {exc}") from None
    assert process.stdout is not None
    output = bytearray()
    line = bytearray()
    while chunk := os.read(process.stdout.fileno(), 4096):
        output += chunk
        for byte in chunk:
            if byte in b"\r\n":
                _line(bytes(line), progress, echo)
                line.clear()
            else:
                line.append(byte)
    _line(bytes(line), progress, echo)
    if process.wait() != 0:
        raise FlashError(explain_failure(output.decode(errors="replace")))


def _line(text: bytes, progress: Callable[[float], None], echo: Callable[[str], None]) -> None:
    found = _PERCENT.search(text)
    if found and (b"Writing at" in text or b"Erasing" in text or b"[" in text):
        progress(float(found.group(1)))
    elif text.strip():
        echo(text.decode(errors="replace").rstrip())


__all__ = ["ChipError", "FlashError", "detect", "find_image", "flash_steps", "run_esptool"]
