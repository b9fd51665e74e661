"""Maintenance mode: a kit that is measuring is brought to a halt before deploy copies to it.

An ESP32's watchdog cannot be stopped once started. Interrupting the kit's loop (mpremote's
Ctrl-C) leaves it unfed, and it resets the board ``watchdog_s`` later, in the middle of the
copy. So deploy asks for maintenance first: it writes ``maint.txt`` (the safety time-out in
seconds) and resets the board, which stops the watchdog. At boot ``main.py`` consumes the
file and stays at the REPL without starting the kit; only a watchdog with the long safety
time-out runs, so that a kit whose deploy vanished (cable pulled) measures again after it.
deploy copies, checks, and resets the kit into normal operation::

    state = enter_maintenance(port, run, echo)   # "maintenance", "idle" or "old-firmware"

See docs/kit.md, "Maintenance mode".
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

FLAG = "maint.txt"
SAFETY_S = 900  # longer than deploy's own time limits for copying (600 s) and checking
BOOT_WAIT_S = 2.0  # an ESP32 reaches main.py within about a second of a reset

REQUEST_SCRIPT = f"with open({FLAG!r}, 'w') as f:\n    f.write('{SAFETY_S}\\n')\n"

# After the reset: main.py consumed the flag (maintenance), or there is no main.py (a kit
# not yet deployed: nothing runs), or firmware older than maintenance mode ignored it (then
# the flag must go, or the new main.py would find it at the final reset).
CHECK_SCRIPT = f"""import os, json
names = os.listdir()
left = {FLAG!r} in names
if left:
    os.remove({FLAG!r})
print(json.dumps({{"left": left, "main": "main.py" in names}}))
"""


def _mpremote(port: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "mpremote", "connect", port, *args]


def request_command(port: str) -> list[str]:
    return _mpremote(port, "exec", REQUEST_SCRIPT, "+", "reset")


def check_command(port: str) -> list[str]:
    return _mpremote(port, "exec", CHECK_SCRIPT)


def enter_maintenance(
    port: str,
    run: Callable[[list[str], str, float], str],
    echo: Callable[[str], None],
    wait: Callable[[float], None] = time.sleep,
) -> str:
    """Put the kit on ``port`` in maintenance mode; say which state it is in."""
    echo("stopping the kit's measurements: maintenance mode ...")
    run(request_command(port), "putting the kit in maintenance mode", 30)
    wait(BOOT_WAIT_S)
    answer = {}
    for line in reversed(run(check_command(port), "checking maintenance mode", 30).splitlines()):
        if line.startswith("{"):
            answer = json.loads(line)
            break
    if not answer.get("left"):
        echo(f"the kit is in maintenance mode (back to measuring by itself after {SAFETY_S} s)")
        return "maintenance"
    if not answer.get("main"):
        return "idle"  # no firmware yet: nothing runs, no watchdog
    echo(
        "warning: the kit's firmware predates maintenance mode, so its watchdog may reset it "
        "during the copy; if deploy fails, run it again (the kit then has maintenance mode)"
    )
    return "old-firmware"
