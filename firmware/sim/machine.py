"""A fake `machine` module for the unix port: the part of the ESP32 API the firmware uses.

On the path before the firmware (``lokaalmeten.simulate.micropython_env(fakes=True)``) it
replaces the unix port's small built-in ``machine``. Buses come from their own fake modules,
which play real byte frames from datasheets: ``fake_uart`` (UART), ``fake_i2c`` (I2C),
``fake_i2s`` (I2S). This file only gathers them with the board-level pieces below.

On a fake board (``LM_FAKE_BOARD`` names a control folder, tests/kit_tools/fake_kit.py) the
watchdog and ``reset`` are the board's: ``WDT`` writes its time-out and a feed count to
``<folder>/wdt`` at every feed and the relay resets the "board" once a feed is overdue;
``reset`` asks the relay for a hard reset and waits for it, as a real reset never returns;
``reset_cause`` is what the relay says (``LM_RESET_CAUSE``).
"""

import os
import time

# Buses, each in its own module (added as they are written):
from fake_i2c import I2C, SoftI2C  # noqa: F401
from fake_i2s import I2S  # noqa: F401
from fake_uart import UART  # noqa: F401

_UNIQUE_ID = b"\x24\x0a\xc4\x12\x34\x56"

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
_getenv = getattr(os, "getenv", lambda name: None)  # the webassembly port has no environment
_BOARD = _getenv("LM_FAKE_BOARD")
_reset_cause = int(_getenv("LM_RESET_CAUSE") or PWRON_RESET)


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self._value = 0 if value is None else value

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = 1 if v else 0

    def on(self):
        self._value = 1

    def off(self):
        self._value = 0


_FEEDS = [0]


class WDT:
    """Records feeds; ``expired()`` says whether the ESP32 would have reset by now."""

    def __init__(self, id=0, timeout=5000):
        if timeout < 1000:
            raise ValueError("WDT timeout too short")
        self.timeout = timeout
        self.feeds = 0
        self.feed()
        self.feeds = 0

    def feed(self):
        self.last_feed = time.ticks_ms()
        self.feeds += 1
        if _BOARD:
            _FEEDS[0] += 1  # each feed changes the file, also right after __init__'s
            with open(_BOARD + "/wdt", "w") as f:
                f.write("%d %d" % (self.timeout, _FEEDS[0]))

    def expired(self):
        return time.ticks_diff(time.ticks_ms(), self.last_feed) > self.timeout


def unique_id():
    return _UNIQUE_ID


def reset_cause():
    return _reset_cause


def reset():
    if _BOARD:
        with open(_BOARD + "/reset", "w") as f:
            f.write("reset")
        while True:
            time.sleep(1)
    raise SystemExit("machine.reset() called")


def freq(hz=None):
    return 240000000


def idle():
    pass
