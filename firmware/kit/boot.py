"""The kit's boot: the crash-loop guard, the settings, the outbox and the sensors.

``Kit()`` calls ``start`` once and then unloads this module (``kit.runtime.forget``): its
bytecode is in the heap only while the kit starts, never beside the measuring loop::

    from kit import boot
    boot.start(kit, make_bus=None)   # kit.conf, kit.outbox, kit.sampler, kit.link, kit.wdt
"""

import machine
from micropython import const

from drivers.errors import SensorError
from kit import sensors
from kit.errors import KitError
from kit.link import Link
from kit.outbox import Outbox
from kit.runtime import CRASH_FILE, _read_boot, _write_boot, forget
from kit.sampler import Sampler

_CRASHES_FOR_SAFE_MODE = const(3)
_MAX_SLEEP_MS = const(1000)
_AUDIO_SLEEP_MS = const(20)  # the I2S DMA buffer holds about 128 ms of audio
_SEND_MS = const(1000)
_AUDIO_SEND_MS = const(60)  # + a 20 ms sleep + reading the sensors: within the 128 ms


def was_fault(end):
    if end == "crash":
        return True
    if end != "run":
        return False  # healthy, stopped by a person, or a restart the kit chose
    # Ended without a word: the watchdog, a panic or an unannounced machine.reset (HARD or,
    # on older MicroPython, SOFT) is a fault; power-on (unplugged, EN button) is a person.
    cause = machine.reset_cause()
    return (
        cause == machine.WDT_RESET or cause == machine.HARD_RESET or (cause == machine.SOFT_RESET)
    )


def start(kit, make_bus):
    count, end, boot = _read_boot()
    if was_fault(end):
        count += 1
    kit.crashes = count
    kit.boot = boot + 1
    _write_boot(count, "run", kit.boot)  # "ok" once healthy
    kit.offsets = None  # boot: Unix ms at its uptime 0 (kit.backdate), read when needed
    kit.undated = 0  # records made before NTP answered
    kit.safe_mode = kit.crashes >= _CRASHES_FOR_SAFE_MODE
    try:
        with open(CRASH_FILE) as f:
            kit.last_crash = f.read()
    except OSError:
        kit.last_crash = None
    # The firmware release that runs, and whether it is on trial: slots.py's pointer, read
    # here without loading slots.py, whose bytecode would fragment the heap the sensors need.
    kit.trial = False
    try:
        with open("slot.txt") as f:
            pointer = f.read().split()  # "v1 <current> <previous> <trial|ok> <boots>"
        if pointer[1] != "-":
            kit.fw = pointer[1]
        kit.trial = pointer[3] == "trial"
    except (OSError, IndexError):
        pass
    from kit import config

    kit.conf, kit.config_problem = config.load()
    forget("kit.config")  # needed again only by the portal: give its bytecode back
    conf = kit.conf
    kit.node = conf["node"] or "esp32-" + "".join("%02x" % b for b in machine.unique_id())
    kit.outbox = Outbox("outbox", conf["outbox_records"])
    kit.seq = kit.outbox.last_seq
    kit.interval_ms = int(conf["interval_s"] * 1000)
    kit.stall_ms = 3 * kit.interval_ms + 60000  # no record for this long: not healthy
    kit.sensor_problems = []
    entries = []
    if not kit.safe_mode:
        buses: dict = {}
        for index, spec in enumerate(conf["sensors"]):
            try:
                driver, flags = sensors.open_sensor(
                    index, spec, buses, make_bus or sensors.machine_bus
                )
                entries.append((spec, driver, flags))
            except (KitError, SensorError) as exc:
                # One broken sensor must not stop the others; the status names it.
                kit.sensor_problems.append(str(exc))
    kit.sampler = Sampler(
        entries,
        kit.interval_ms,
        int(conf["sample_s"] * 1000),
        conf["pm_warmup_s"] * 1000,
        conf["pm_sample_s"] * 1000,
        conf["calibration"],
    )
    kit.max_sleep = _MAX_SLEEP_MS
    send_ms = _SEND_MS  # the longest a loop turn spends sending records
    for _spec, driver, flags in entries:
        if flags & sensors.INTERVAL and hasattr(driver, "poll"):
            kit.max_sleep = _AUDIO_SLEEP_MS
            send_ms = _AUDIO_SEND_MS
    kit.link = Link(conf, kit.node, kit.fw, kit.outbox, kit.tb, kit, send_ms, kit.safe_mode)
    kit.wdt = machine.WDT(timeout=conf["watchdog_s"] * 1000)
    if kit.safe_mode:
        kit.event("safe_mode", {"crashes": kit.crashes, "last_crash": kit.last_crash})
    if kit.config_problem:
        kit.event("config_invalid", {"error": kit.config_problem})
