"""The kit's entry point on the ESP32: run the kit runtime; on any crash, note why and reset.

MicroPython runs ``boot.py`` and then this file at every start (also after the watchdog or
a deep sleep). The runtime returns only to restart with new settings from the set-up portal;
an exception is recorded in ``crash.txt`` (shown in the next boot's status) and the reset
counts towards the crash-loop guard, which puts the kit in safe mode after three failed
boots (firmware/kit/runtime.py). Ctrl-C on the serial console stops the kit at the REPL
for a developer (or mpremote); it is noted as a stop by a person, which the guard does not
count.
"""

import machine

from kit.runtime import Kit, note_stop, record_crash

try:
    Kit().run()
except KeyboardInterrupt:
    note_stop()
    raise
except Exception as exc:  # noqa: BLE001 - anything: note it, then start afresh
    record_crash(exc)
machine.reset()
