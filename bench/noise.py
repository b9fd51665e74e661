"""Noise meter speed and allocation under the unix MicroPython interpreter.

The whole kit pipeline, as on the ESP32: the I2S interrupt path (``readinto`` of 20 ms
blocks, here from the fake I2S replaying pre-generated microphone words), the viper
A-weighting and level code, and ``read()`` once per simulated minute. Measured: seconds of
audio per second of wall time (the real-time factor) and bytes allocated per second of
audio. Reference in the same run: the same filter (four first-order sections, 7-tap FIR,
sum of squares) written in plain float Python, on the same samples.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lokaalmeten.simulate import find_micropython, micropython_env

NAME = "noise"
TITLE = "Noise meter: real-time factor and allocation (MicroPython unix port)"

SECONDS = {16000: 600, 48000: 200}  # audio per measurement
REFERENCE_SECONDS = 2  # the float reference is slow

SCRIPT = r"""
import gc, json, math, time, sys
import micropython
import fake_audio
import fake_i2s
from machine import I2S, Pin
from noise.coeffs import RATES
from noise.meter import NoiseMeter, open_i2s

REPLAY = 4096  # words of pre-generated sound, replayed in a loop


@micropython.viper
def _copy(dst: ptr32, src: ptr32, start: int, count: int, size: int):
    j = start
    for i in range(count):
        dst[i] = src[j]
        j += 1
        if j == size:
            j = 0


class Replay:
    def __init__(self, rate):
        import array
        self.words = array.array("i", bytes(4 * REPLAY))
        s = fake_audio.Signal(rate).tones(None, ((1000, -40.0, 0.0), (125, -30.0, 0.3)), -50.0)
        s.fill(self.words, REPLAY)
        self.at = 0
        self.left = 0

    def fill(self, buf, count):
        n = min(count, self.left)
        _copy(buf, self.words, self.at, n, REPLAY)
        self.at = (self.at + n) % REPLAY
        self.left -= n
        return n


def pipeline(rate, seconds, eq=None):
    source = Replay(rate)
    fake_i2s.attach(0, source)
    meter = NoiseMeter(open_i2s(I2S, Pin, 26, 25, 33, rate=rate), rate=rate, eq=eq)
    source.left = rate * (2 + seconds) + 256
    meter.start()
    warm = 0
    while warm < 2 * rate:  # warm-up and first allocations
        warm += meter.poll()
    minute = rate * 60
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    t0 = time.ticks_us()
    done = 0
    total = 0
    last = None
    allocated_reads = 0
    while True:
        n = meter.poll()
        if not n:
            break
        done += n
        total += n
        if done >= minute:
            done -= minute
            a = gc.mem_alloc()
            last = meter.read()
            allocated_reads += gc.mem_alloc() - a
    t1 = time.ticks_us()
    allocated = gc.mem_alloc() - before - allocated_reads
    elapsed = time.ticks_diff(t1, t0) / 1e6
    gc.enable()
    values = meter.read() or last
    seconds = total / rate  # whole blocks: a little less than asked for
    return {"rate": rate, "eq": eq, "seconds": seconds, "elapsed": elapsed,
            "alloc_per_s": allocated / seconds, "laeq": values["noise_laeq"]}


def reference(rate, seconds):
    # The same A-weighting in plain float Python, per sample: what viper replaces.
    kp, fir, beta, gain_db = RATES[rate]
    p = [1 - k / 1048576 for k in kp]
    c = [v / 32768 for v in fir]
    src = Replay(rate)
    x = [((w >> 11)) for w in src.words]
    xp = 0.0
    y = [0.0, 0.0, 0.0, 0.0]
    d = [0.0] * 6
    total = 0.0
    n = rate * seconds
    t0 = time.ticks_us()
    i = 0
    while i < n:
        inp = x[i % REPLAY]
        prev = xp
        xp = inp
        for k in range(4):
            old = y[k]
            inp = inp - prev + p[k] * old
            prev = old  # the next section's previous input
            y[k] = inp
        u = inp
        a = c[3] * (u + d[5]) + c[2] * (d[0] + d[4]) + c[1] * (d[1] + d[3]) + c[0] * d[2]
        d[5] = d[4]; d[4] = d[3]; d[3] = d[2]; d[2] = d[1]; d[1] = d[0]; d[0] = u
        total += a * a
        i += 1
    elapsed = time.ticks_diff(time.ticks_us(), t0) / 1e6
    return {"rate": rate, "seconds": seconds, "elapsed": elapsed}


results = []
for rate, seconds in json.loads(sys.argv[1]):
    results.append(pipeline(rate, seconds))
    results.append(pipeline(rate, seconds, "INMP441"))
    results.append({"reference": reference(rate, int(sys.argv[2]))})
print(json.dumps(results))
"""


def analyse_rate(work: Path) -> tuple[float, float]:
    """`lokaalmeten noise analyse` on a 5-minute 48 kHz 24-bit WAV: audio seconds per second."""
    import math
    import time
    import wave

    from lokaalmeten.noise import analyse

    period = b"".join(
        round(0.01 * 8388607 * math.sin(2 * math.pi * k / 48)).to_bytes(3, "little", signed=True)
        for k in range(48)
    )
    path = work / "street.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(3)
        w.setframerate(48000)
        w.writeframes(period * (48000 * 300 // 48))
    started = time.perf_counter()
    analysis = analyse(path, sensitivity=-26.0)
    return 300 / (time.perf_counter() - started), analysis.total.laeq


def run(work: Path) -> str:
    script = work / "noise_bench.py"
    script.write_text(SCRIPT)
    plan = json.dumps(sorted(SECONDS.items()))
    done = subprocess.run(
        [find_micropython(), "-X", "heapsize=256k", str(script), plan, str(REFERENCE_SECONDS)],
        env=micropython_env(fakes=True),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"MicroPython benchmark failed:\n{done.stdout}\n{done.stderr}")
    results = json.loads(done.stdout.strip().splitlines()[-1])
    lines = [
        "The kit's pipeline (I2S irq path with 20 ms blocks, viper A-weighting, Fast",
        "levels, a `read()` per minute of audio) on replayed microphone words; reference: the",
        "same filter in plain float Python on the same samples, same run. Target: ≥ 50 × real",
        "time at 16 kHz and 0 bytes allocated per second of audio in steady state.",
        "",
        "| rate | equaliser | audio (s) | wall (s) | × real time | float Python × real time "
        "| speed-up | bytes allocated per s of audio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    reference: dict[int, float] = {}
    for item in results:
        if "reference" in item:
            ref = item["reference"]
            reference[ref["rate"]] = ref["seconds"] / ref["elapsed"]
    for item in results:
        if "reference" in item:
            continue
        rtf = item["seconds"] / item["elapsed"]
        ref_rtf = reference[item["rate"]]
        lines.append(
            f"| {item['rate']} Hz | {item['eq'] or 'none'} | {item['seconds']:.0f} | "
            f"{item['elapsed']:.2f} | {rtf:,.0f} | {ref_rtf:.1f} | {rtf / ref_rtf:,.0f} × | "
            f"{item['alloc_per_s']:.0f} |"
        )
    per_second, laeq = analyse_rate(work)
    lines += [
        "",
        f"`lokaalmeten noise analyse` (WAV reading and conversion in the fake I2S, the same meter, "
        f"a new MicroPython process) on a 5-minute 48 kHz 24-bit mono WAV: {per_second:,.0f} s of "
        f"audio per second (LAeq {laeq:.1f} dB(A) for its -40 dBFS 1 kHz tone).",
        "",
        "The unix port runs viper code natively on x86-64, so the ESP32 (240 MHz Xtensa) is "
        "slower by a large factor; the same code there has no figure yet (no board in CI). "
        "Allocation excludes the once-a-minute `read()`, which builds the dict of levels.",
    ]
    return "\n".join(lines)
