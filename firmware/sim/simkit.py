"""One simulated kit under the unix port: the kit runtime itself, with simulated hardware.

    micropython simkit.py node=sim-1 folder=var/sim/sim-1 host=127.0.0.1 port=1883 \
        interval=5 cycles=10 seed=1 fast=0 sensors=sim

The folder is the kit's flash: ``config.json``, the outbox and the boot counters live there
and survive a restart of the kit. Each start writes the simulation's settings (node,
gateway, interval, sensors) into ``config.json``; the rest of the file is kept. The kit's
Wi-Fi network ``sim-wifi`` exists (fake ``network``), NTP answers unless ``ntp=fail``
(``ntp=fail:N``: only from its N+1st try, a minute apart).

Options: ``fast=1`` runs on a simulated clock that advances one interval per cycle and
starts ``cycles`` intervals in the past, so records get distinct, past timestamps;
``sensors=sim`` uses random-walk sensors, ``sensors=drivers`` every real driver against
simulated devices on the fake buses (firmware/sim/devices_bus.py), ``sensors=sds011,bme280``
(any types of ``DRIVER_TABLE``) those drivers only, ``sensors=none`` no sensor at all (the
runtime's own footprint), ``sensors=file`` keeps the table in
``config.json`` (with simulated devices for it);
``wifi=none`` leaves Wi-Fi unconfigured (the kit opens its portal on ``portal_port``);
``broker=loopback`` answers MQTT inside the process (firmware/sim/loopback.py: for ports
without sockets, and memory measurements); ``trace=1`` prints the free heap after every
cycle; ``pause_at=N`` stops inside the outbox write of record N (tests kill the process
there); ``reserve=BYTES`` keeps that much heap in one piece while the code loads
(benchmarks: the data heap of a kit with frozen code).

The ``boot`` event tells the heap apart: ``harness`` (this file), ``fakes`` (the simulated
hardware and devices, loaded first) and ``code`` (the firmware's modules, loaded before the
kit starts), all in bytes after a collection.

Prints one JSON line per event on stdout for ``lokaalmeten simulate`` to read; the last is
``done`` with the counts and the lowest and highest free heap seen. A crash is reported and
the kit restarts, as ``main.py`` resets an ESP32.
"""

import gc
import json
import os
import random
import sys

# The firmware is imported in main(), after the optional heap reserve (see there).
runtime = None

SIM_SSID = "sim-wifi"
SIM_PASSWORD = "simulated"
MAX_REBOOTS = 20


def _options(argv):
    options = {
        "host": "127.0.0.1",
        "port": "1883",
        "interval": "5",
        "cycles": "0",
        "seed": "1",
        "fast": "0",
        "sensors": "sim",
        "wifi": "sim",
        "ntp": "ok",
        "trace": "0",
        "portal_port": "0",
    }
    for arg in argv:
        key, _, value = arg.partition("=")
        options[key] = value
    if "node" not in options:
        raise SystemExit("simkit: node=NAME is required")
    options.setdefault("folder", "var/sim/" + options["node"])
    return options


def _makedirs(path):
    built = ""
    for part in path.split("/"):
        built = built + "/" + part if built or path.startswith("/") else part
        if part:
            try:
                os.mkdir(built)
            except OSError:
                pass


def _days(year, month, day):
    """Days from 1970-01-01 to a civil date (proleptic Gregorian)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def unix_of(iso):
    if iso is None:
        return None
    days = _days(int(iso[0:4]), int(iso[5:7]), int(iso[8:10]))
    return days * 86400 + int(iso[11:13]) * 3600 + int(iso[14:16]) * 60 + int(iso[17:19])


# Every driver once, on the suggested pins (hardware/wiring/README.md); the first sensor in
# the table that delivers a quantity owns it in the record.
DRIVER_TABLE = [
    {"type": "sds011", "uart": 2, "rx": 16, "tx": 17},
    {"type": "pms5003", "uart": 1, "rx": 18, "tx": 19},
    {"type": "sps30", "i2c": 0},
    {"type": "bme280", "i2c": 0, "address": 0x76},
    {"type": "sht3x", "i2c": 0, "address": 0x44},
    {"type": "sht4x", "i2c": 0, "address": 0x45},
    {"type": "scd30", "i2c": 0},
    {"type": "scd4x", "i2c": 0},
    {"type": "dnms", "i2c": 0},
    {"type": "noise", "i2s": 0},
]


def _write_config(options, table):
    from kit import config

    current, problem = config.load()
    if problem:
        current = config.defaults()
    current["node"] = options["node"]
    current["gateway_host"] = options["host"]
    current["gateway_port"] = int(options["port"])
    interval = float(options["interval"])
    current["interval_s"] = interval
    current["sample_s"] = min(5, interval)
    if options["wifi"] == "sim":
        current["wifi_ssid"] = SIM_SSID
        current["wifi_password"] = SIM_PASSWORD
    elif options["wifi"] == "none":
        current["wifi_ssid"] = ""
        current["wifi_password"] = ""
    # Never answer DNS on the host: its resolver may well listen on 127.0.0.1.
    current["portal_dns"] = False
    if int(options["portal_port"]):
        current["portal_port"] = int(options["portal_port"])
    if options["sensors"] != "file":
        current["sensors"] = table
    config.save(current)
    runtime.forget("kit.config")
    return current["sensors"]


class Emitter:
    def __init__(self, node, trace, wander=None):
        self.node = node
        self.trace = trace
        self.wander = wander

    def __call__(self, kind, info):
        if kind == "published":
            doc = json.loads(bytes(info["payload"]))
            self.emit("published", seq=doc["seq"], time=unix_of(doc["time"]), values=doc["values"])
        elif kind == "recorded" and self.wander:
            self.wander()
            self.emit(kind, **info)
        elif kind == "heap":
            if self.trace:
                self.emit("heap", free=info["free"])
        else:
            self.emit(kind, **(info or {}))

    def emit(self, event, **fields):
        fields["event"] = event
        fields["node"] = self.node
        print(json.dumps(fields))


def _table(options):
    """The sensor table the run asks for, or None to keep the one in config.json."""
    choice = options["sensors"]
    if choice == "sim":
        return [{"type": "sim-pm"}, {"type": "sim-climate"}]
    if choice == "drivers":
        return DRIVER_TABLE
    if choice == "file":
        return None
    if choice == "none":
        return []  # the runtime alone: what a kit costs before its first sensor
    wanted = choice.split(",")
    table = [spec for spec in DRIVER_TABLE if spec["type"] in wanted]
    if len(table) != len(set(wanted)):
        known = ", ".join(spec["type"] for spec in DRIVER_TABLE)
        raise SystemExit("simkit: sensors=%s: known types are %s" % (choice, known))
    return table


def _file_table():
    try:
        with open("config.json") as f:
            return json.load(f).get("sensors", [])
    except (OSError, ValueError, AttributeError):
        return []


def main():
    global runtime
    # Imports come from the firmware and the fakes only: never from the folder the
    # simulation was started in (a "sim/" there would hide this package), nor from the
    # kit's own flash folder after the chdir below.
    while "" in sys.path:
        sys.path.remove("")
    options = _options(sys.argv[1:])
    # reserve=BYTES keeps one block free while the code loads, then gives it back: the kit's
    # data then finds contiguous room, as on a kit whose code is frozen in flash (loading
    # .mpy files into the heap leaves it full of small holes).
    reserve = bytearray(int(options.get("reserve", "0")))
    _makedirs(options["folder"])
    os.chdir(options["folder"])
    gc.collect()
    harness = gc.mem_alloc() - len(reserve)
    # The simulated hardware first, so that the heap it takes (a kit does not have it) is
    # measured apart from the firmware's: the radio, NTP, the buses and their devices.
    import machine  # noqa: F401 - the fake one, with the fake buses
    import network
    import ntptime

    if options.get("broker") == "loopback":
        import loopback

        sys.modules["socket"] = loopback
    table = _table(options)
    if table is None:
        table = _file_table()
    if options["sensors"] != "sim":
        from sim import devices_bus

        devices_bus.prepare(table)
    gc.collect()
    fakes = gc.mem_alloc() - len(reserve) - harness
    # Load every module the kit will use before it starts, so that the heap their bytecode
    # takes (in flash on a kit with frozen firmware) can be told apart from the kit's data.
    from kit import clock
    from kit import runtime as kit_runtime
    from kit.timebase import FastTime, RealTime

    runtime = kit_runtime
    from kit import config, link, outbox, sampler, sensors  # noqa: F401
    from sim import sensors as simulated

    simulated.register()
    for spec in table:
        __import__(sensors.REGISTRY[spec["type"]][0])
    node = options["node"]
    random.seed(int(options["seed"]))
    table = _write_config(options, table)
    wander = None
    if options["sensors"] == "sim":
        make_bus = _no_bus
    else:
        from sim import devices_bus

        make_bus = None  # machine_bus: the kit opens its buses as on the ESP32
        wander = devices_bus.wander
    gc.collect()
    code = gc.mem_alloc() - len(reserve) - harness - fakes
    reserve = None
    gc.collect()
    network.NETWORKS[SIM_SSID] = SIM_PASSWORD
    if options["ntp"] == "fail":
        ntptime.FAIL = "no answer from the NTP server (simulated)"
    elif options["ntp"].startswith("fail:"):  # the first N tries fail, then NTP answers
        ntptime.FAILURES = int(options["ntp"][5:])
    interval = float(options["interval"])
    cycles = int(options["cycles"])
    if options["fast"] == "1":
        # Start in the past so that the last record of a finite run is stamped about now.
        span = int((cycles or 86400 / interval) * interval) + 1
        timebase = FastTime(clock.unix_time() - span)
    else:
        timebase = RealTime()
    emit = Emitter(node, options["trace"] == "1", wander)
    emit.emit("boot", harness=harness, fakes=fakes, code=code, heap=gc.mem_alloc() + gc.mem_free())
    pause_at = int(options.get("pause_at", "0"))
    reboots = 0
    published = 0
    records = 0
    low = 1 << 30
    high = 0
    while True:
        kit = None
        try:
            kit = runtime.Kit(timebase, make_bus, emit)
            if pause_at:
                _pause_at(kit, pause_at, emit)
            # A restarted kit goes on with the intervals still to do.
            reason = kit.run(cycles - records if cycles else 0)
        except Exception as exc:  # anything: what main.py does on the ESP32
            runtime.record_crash(exc)
            emit.emit("crash", error="%s: %s" % (type(exc).__name__, exc))
            reason = "crash"
            if kit is not None:
                kit.link.close()
        if kit is not None:
            published += kit.published
            records += kit.records
            low = min(low, kit.mem_min)
            high = max(high, kit.mem_max)
        if reason == "done":
            break
        reboots += 1
        if reboots > MAX_REBOOTS:
            emit.emit("gave_up", reboots=reboots)
            sys.exit(3)
        kit = None
        gc.collect()
    emit.emit(
        "done", published=published, records=records, min_free=low, max_free=high, reboots=reboots
    )


def _no_bus(kind, spec):
    return None


def _pause_at(kit, seq, emit):
    """Test hook: stop for a minute inside the outbox write of record ``seq``, after its
    payload and before its commit marker, so that a test can kill the process right there."""
    import time

    def pause():
        if kit.seq == seq:
            emit.emit("pausing_in_write", seq=seq)
            time.sleep(60)

    kit.outbox.pause = pause


main()
