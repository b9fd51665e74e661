"""The kit's entry point on the ESP32: run the kit runtime; on any crash, note why and reset.

MicroPython runs ``boot.py`` and then this file at every start (also after the watchdog or
a deep sleep). The runtime returns only to restart with new settings from the set-up portal;
an exception is recorded in ``crash.txt`` (shown in the next boot's status) and the reset
counts towards the crash-loop guard, which puts the kit in safe mode after three failed
boots (firmware/kit/runtime.py). Ctrl-C on the serial console stops the kit at the REPL
for a developer (or mpremote); it is noted as a stop by a person, which the guard does not
count.

Maintenance mode (``lokaalmeten deploy``; docs/kit.md): when ``maint.txt`` exists, this file
removes it and stays at the REPL without starting the kit, so that nothing measures and no
watchdog of a measuring loop can reset the board in the middle of a copy. Only a watchdog
with the time-out written in the file runs, so that a kit whose deploy vanished goes back to
measuring by itself. Nothing from ``kit`` is imported on that path.
"""

import os

import machine

MAINTENANCE_FILE = "maint.txt"


def _maintenance_s():
    try:
        with open(MAINTENANCE_FILE) as f:
            text = f.read()
    except OSError:
        return 0
    try:
        os.remove(MAINTENANCE_FILE)  # consumed: the next reset measures again
    except OSError:
        pass
    try:
        return min(3600, max(2, int(text.split()[0])))
    except (ValueError, IndexError):
        return 900


_seconds = _maintenance_s()
if _seconds:
    machine.WDT(timeout=_seconds * 1000)  # never fed: the way back if deploy vanished
    print("lokaalmeten: maintenance mode for %d s, not measuring" % _seconds)
else:
    from kit.runtime import Kit, note_stop, record_crash

    try:
        Kit().run()
    except KeyboardInterrupt:
        note_stop()
        raise
    except Exception as exc:  # anything: note it, then start afresh
        record_crash(exc)
    machine.reset()
