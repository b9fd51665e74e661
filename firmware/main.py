"""The kit's entry point on the ESP32: run the kit runtime; on any crash, note why and reset.

MicroPython runs ``boot.py`` and then this file at every start (also after the watchdog or
a deep sleep). The runtime returns only to restart with new settings from the set-up portal;
an exception is recorded in ``crash.txt`` (shown in the next boot's status) and the reset
counts towards the crash-loop guard, which puts the kit in safe mode after three failed
boots (firmware/kit/runtime.py). Ctrl-C on the serial console stops the kit at the REPL
for a developer (or mpremote); it is noted as a stop by a person, which the guard does not
count.

Firmware releases (docs/fleet.md): ``slots.boot()`` first puts the release the kit runs in
front of the path (and counts a trial's boots); a release that waits in ``offer.json`` is
downloaded before the kit starts (kit/update.py). A release on trial that cannot be imported
or runs out of memory is rolled back at once.

Maintenance mode (``lokaalmeten deploy``; docs/kit.md): when ``maint.txt`` exists, this file
removes it and stays at the REPL without starting the kit, so that nothing measures and no
watchdog of a measuring loop can reset the board in the middle of a copy. Only a watchdog
with the time-out written in the file runs, so that a kit whose deploy vanished goes back to
measuring by itself. Nothing from ``kit`` is imported on that path.
"""

import os
import sys

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


def _measure():
    import slots

    running = slots.boot()  # before anything of kit is imported: the slot's kit, if any
    if slots.OFFER in os.listdir():
        try:
            from kit import update

            offer = update.pending(running)
            if offer is not None:
                update.run(offer, running)  # download, check, switch, or say why not
                machine.reset()
        except Exception as exc:  # the offer is dropped; the gateway's stays, and is retried
            try:
                os.remove(slots.OFFER)
            except OSError:
                pass
            sys.print_exception(exc)
            machine.reset()
    try:
        from kit.runtime import Kit, forget, note_stop, record_crash
    except Exception as exc:  # a slot that does not even import: back to the one before
        slots.rollback("%s: %s" % (type(exc).__name__, exc))
        sys.print_exception(exc)
        machine.reset()
    forget("kit.update")  # a stale offer's check: its bytecode is not needed while measuring
    forget("slots")  # loaded again only for the slot's commit or rollback
    try:
        Kit().run()
    except KeyboardInterrupt:
        note_stop()
        raise
    except MemoryError as exc:
        record_crash(exc)
        import slots

        slots.rollback("MemoryError: %s" % exc)  # only when on trial
    except Exception as exc:  # anything: note it, then start afresh
        record_crash(exc)
    machine.reset()


_seconds = _maintenance_s()
if _seconds:
    machine.WDT(timeout=_seconds * 1000)  # never fed: the way back if deploy vanished
    print("lokaalmeten: maintenance mode for %d s, not measuring" % _seconds)
else:
    _measure()
