"""Is the kit's serial port there, ours to use, and not busy? Checked before esptool/mpremote.

    check_port("/dev/ttyUSB0")    # returns, or raises PortError with what to do

esptool and mpremote lock the port with ``flock`` (pyserial's ``exclusive=True``); the same
lock held by another program (a serial monitor, a second ``lokaalmeten deploy``) makes the
port busy, and so does ModemManager probing a fresh USB device for a few seconds.
"""

from __future__ import annotations

import errno
import glob
import os
import stat


class PortError(OSError):
    """The port cannot be used; the message says why and what to do."""


def candidate_ports() -> list[str]:
    """USB serial ports on this machine, as a board shows up on Linux and macOS."""
    patterns = ("/dev/ttyUSB*", "/dev/ttyACM*", "/dev/cu.usbserial*", "/dev/cu.usbmodem*")
    return sorted(path for pattern in patterns for path in glob.glob(pattern))


def _hint() -> str:
    ports = candidate_ports()
    if ports:
        return "serial ports found on this machine: " + ", ".join(ports)
    return (
        "no USB serial port is present: plug the board in with a USB cable that carries "
        "data (some carry only power), then look for /dev/ttyUSB0 or /dev/ttyACM0"
    )


def check_port(port: str) -> None:
    """Raise PortError if ``port`` is missing, not a serial device, not allowed, or busy."""
    if os.name != "posix":
        return  # COM ports are no files to look at; esptool and mpremote say the rest
    import fcntl

    try:
        mode = os.stat(port).st_mode
    except FileNotFoundError:
        raise PortError(f"{port} does not exist; {_hint()}") from None
    except OSError as exc:
        raise PortError(f"cannot use {port}: {exc.strerror}") from None
    if not stat.S_ISCHR(mode):
        raise PortError(f"{port} is not a serial device; {_hint()}")
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except PermissionError:
        raise PortError(
            f"no permission to open {port}: add yourself to its group "
            f"(Debian: sudo usermod -aG dialout $USER, then log in again)"
        ) from None
    except OSError as exc:
        raise PortError(f"cannot open {port}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            raise PortError(
                f"{port} is busy: another program has it open (a serial monitor, Thonny, "
                "the Arduino IDE, another lokaalmeten command); close it and try again"
            ) from None
        raise PortError(f"cannot lock {port}: {exc.strerror}") from None
    finally:
        os.close(fd)  # closing also releases our lock
