"""The kit runtime: boot, the main loop, the watchdog and the crash-loop guard.

``main.py`` on the ESP32 is little more than::

    from kit.runtime import Kit, record_crash
    try:
        Kit().run()
    except Exception as exc:
        record_crash(exc)
    machine.reset()

One loop does everything, so the watchdog can be fed in one place: it is fed only while the
loop turns and records keep coming (a loop stuck anywhere, or one that stopped recording,
lets the ESP32 reset). Each turn: sample the sensors that are due, close the interval into a
record and append it to the outbox, keep Wi-Fi, NTP and MQTT up (``kit.link``), send what
the outbox holds, answer the set-up portal when it is open, then sleep until the next thing
is due. Three boots in a row that ended in a fault before reaching three records put the
kit in safe mode: no sensor drivers, the portal open, the outbox still sent, the status
saying why. A fault is a crash (``record_crash``), or a reset nobody announced: the
watchdog, a panic. A person stopping the kit (unplugging it, the reset button, Ctrl-C at
the REPL, a deploy) is no fault and never counts (docs/kit.md, "The crash-loop guard").
"""

import gc
import os
import sys
import time

from micropython import const

from kit import record
from kit.timebase import RealTime

# For the type check only (tools/typecheck-firmware sets it true): a const 0 that MicroPython's
# compiler drops with the block, so the kit never imports these here.
_TYPES = const(0)
if _TYPES:
    from machine import WDT

    from kit.link import Link
    from kit.outbox import Outbox
    from kit.sampler import Sampler

FIRMWARE_VERSION = "0.2.0"
BOOT_FILE = "boot.txt"  # "<faults in a row> <how the last boot ended> <boot number>"
CRASH_FILE = "crash.txt"
_HEALTHY_RECORDS = const(3)
_SAFE_MODE_MS = const(1800000)  # then try normal operation again
_DRAIN_MS = const(30000)  # after the last cycle of a finite run: time to send the rest


def _read_boot():
    """(faults in a row, how the last boot ended, boot number) from BOOT_FILE.

    The end is "run" while a boot is running (so still "run" at the next boot if it ended
    without a word), "ok" once it was healthy, "crash" after record_crash, "stop" when a
    person stopped it at the REPL. Older firmware wrote one number (boots not yet healthy,
    the last one included): the faults before the last, which ended without a word.
    """
    try:
        with open(BOOT_FILE) as f:
            parts = f.read().split()
        count = int(parts[0])
        if len(parts) < 3:
            return max(0, count - 1), "run", 0
        return count, parts[1], int(parts[2])
    except (OSError, ValueError, IndexError):
        return 0, "ok", 0


def _write_boot(count, end, boot):
    _write_text(BOOT_FILE, "%d %s %d\n" % (count, end, boot))


def _mark_end(end):
    """Say how this boot ends, unless it already was healthy (then nothing counts)."""
    count, was, boot = _read_boot()
    if was == "run":
        try:
            _write_boot(count, end, boot)
        except OSError:
            pass


def note_stop():
    """A person stopped the kit (Ctrl-C at the REPL, main.py calls this): not a fault."""
    _mark_end("stop")


def _write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def forget(name):
    """Unload a module used only at boot, so that its bytecode's heap is free again."""
    module = sys.modules.pop(name, None)
    package, _, short = name.rpartition(".")
    parent = sys.modules.get(package)
    if module is not None and parent is not None and hasattr(parent, short):
        delattr(parent, short)


def record_crash(exc):
    """Keep the reason of a crash for the next boot's status (main.py calls this)."""
    try:
        _write_text(CRASH_FILE, "%s: %s" % (type(exc).__name__, exc))
    except OSError:
        pass
    _mark_end("crash")
    sys.print_exception(exc)


class Kit:
    # Set by kit.boot.start, which runs once and is then unloaded: declared here for the
    # reader and the type check (MicroPython evaluates no annotations: they cost nothing).
    boot: int  # this boot's number
    crashes: int  # faults in a row before this boot
    last_crash: str | None
    safe_mode: bool
    trial: bool  # the firmware release runs on trial (slots.py)
    offsets: dict | None  # boot number: Unix ms at its uptime 0 (kit.backdate)
    undated: int  # records made before NTP answered
    conf: dict
    config_problem: str | None
    node: str
    outbox: Outbox
    seq: int
    interval_ms: int
    stall_ms: int
    sensor_problems: list
    sampler: Sampler
    max_sleep: int
    link: Link
    wdt: WDT

    def __init__(self, timebase=None, make_bus=None, on_event=None, fw=FIRMWARE_VERSION):
        self.tb = timebase or RealTime()
        self.on_event = on_event
        self.fw = fw
        self.restart = False
        self.records = 0
        self.last_time = 0
        self.mem_min = 1 << 30
        self.mem_max = 0
        from kit import boot  # the crash-loop guard, settings and sensors: once, at boot

        boot.start(self, make_bus)
        forget("kit.boot")

    # -- events and status -------------------------------------------------------------

    def event(self, kind, info=None):
        if self.on_event:
            self.on_event(kind, info)

    @property
    def published(self):
        """Records the broker has acknowledged since boot (counted by the link)."""
        return self.link.published

    def status_record(self):
        """The retained online status the link publishes (kit.status, loaded only now)."""
        from kit import status

        return status.online(self)

    def open_portal(self, address, port, dns_port):
        """The set-up portal on the access point (the link asks for it); raises OSError."""
        # The portal's code is loaded only now, into a heap fragmented by hours of cycles:
        # collect first so that its largest block is free when the import asks for it.
        gc.collect()
        from kit.portal import Portal, kit_status

        return Portal(
            self.conf,
            self.node,
            address,
            port,
            dns_port,
            self.event,
            self.apply_config,
            lambda: kit_status(self),
        )

    def clock_synced(self):
        """NTP answered (kit.link calls this after each sync): from now on records carry the
        time, and the ones made before can be dated from the uptime clock."""
        tb = self.tb
        if tb.synced:
            return
        tb.synced = True
        if self.undated:  # else there is nothing of this boot to date: load nothing
            from kit import backdate

            self.offsets = backdate.load()
            backdate.save(self.offsets, self.boot, tb.unix_ms() - tb.now_ms())
        self.event("ntp_synced", {"time": tb.unix()})

    def backdate(self, payload):
        """An undated record with its real time when that is known, else with its age."""
        from kit import backdate

        if self.offsets is None:
            self.offsets = backdate.load()
        return backdate.date(payload, self.offsets, self.boot, self.tb.now_ms())

    def apply_config(self, doc):
        """Save new settings (validated; raises KitError) and restart the kit with them."""
        from kit import config

        config.save(doc)
        _write_boot(0, "ok", self.boot)  # a citizen fixed the settings: leave safe mode
        self.restart = True

    # -- the loop ----------------------------------------------------------------------

    def run(self, cycles=0):
        """Measure and send until ``cycles`` intervals passed (0: forever) or a restart.

        Returns "restart" when new settings need a fresh start, "done" after ``cycles``.
        """
        tb = self.tb
        now = tb.now_ms()
        start = now
        end = now + self.interval_ms
        self.sampler.begin(now)
        done = 0
        drain_from = None
        last_record = now
        while True:
            now = tb.now_ms()
            # Fed only while records keep coming: a loop that turns without recording is
            # as broken as one that hangs.
            if now - last_record < self.stall_ms:
                self._feed()
            self.sampler.poll()
            if drain_from is None:
                self.sampler.step(now, end)
                if now >= end:
                    self._record()
                    last_record = now
                    done += 1
                    end += self.interval_ms
                    if end <= now:  # the loop was held up: skip intervals, not records
                        end = now + self.interval_ms
                    if cycles and done >= cycles:
                        drain_from = time.ticks_ms()  # real time, also under --fast
            self.link.step(now)
            if self.restart:
                return self._leave("restart")
            if drain_from is not None and (
                not self.outbox.count
                or not self.conf["gateway_host"]
                or time.ticks_diff(time.ticks_ms(), drain_from) > _DRAIN_MS
            ):
                return self._leave("done")
            if self.safe_mode and now - start > _SAFE_MODE_MS:
                _write_boot(0, "ok", self.boot)
                return "restart"
            due = end if drain_from is None else now + self.max_sleep
            due = min(due, self.sampler.next_due(end), self.link.next_due(now))
            tb.sleep_ms(max(0, min(due - now, self.max_sleep)))

    def update_offered(self, version):
        """The link took a firmware release offered (kit/updates.py): restart to fetch it."""
        self.event("update_offered", {"version": version})
        self.restart = True

    def _leave(self, reason):
        self.link.close()
        _write_boot(0, "ok", self.boot)
        return reason

    def _feed(self):
        wdt = self.wdt
        # Under the unix port the fake WDT can tell whether an ESP32 would have reset.
        if hasattr(wdt, "expired") and wdt.expired():
            self.event("watchdog_expired", None)
        wdt.feed()

    def _record(self):
        now = self.tb.now_ms()
        values, models, flags = self.sampler.finish(now)
        self.records += 1
        if self.records == _HEALTHY_RECORDS and not self.safe_mode:
            _write_boot(0, "ok", self.boot)
            self.crashes = 0
        if self.trial and self.link.updates:
            self.link.updates.judge_trial(self)
        if values:
            self.seq += 1
            when = self.tb.unix() if self.tb.synced else None
            if when is not None and when <= self.last_time:
                # A late wake-up followed by a punctual one can land two records in one
                # second, and a reading's identity is (node, quantity, whole second).
                when = self.last_time + 1
            if when is not None:
                self.last_time = when
            else:
                self.undated += 1
            payload = record.build(
                self.node,
                self.seq,
                when,
                values,
                models,
                self.fw,
                self.link.rssi(),
                flags,
                (self.boot, now),
            )
            self.outbox.append(self.seq, payload)
            self.event("recorded", {"seq": self.seq, "time": when})
        else:
            self.event("no_values", {"errors": self.sampler.errors})
        gc.collect()
        free = gc.mem_free()
        if free < self.mem_min:
            self.mem_min = free
        if free > self.mem_max:
            self.mem_max = free
        self.event("heap", {"free": free})


def remove_state():
    """Forget outbox, boot counters and crash notes (for tests and a factory reset)."""
    for name in (BOOT_FILE, CRASH_FILE, "clock.txt"):
        try:
            os.remove(name)
        except OSError:
            pass
