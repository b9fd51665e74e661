"""Noise levels travel the kit's record path: meter -> sampler -> record -> gateway parser."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lokaalmeten.protocol.record import parse_record
from lokaalmeten.readings import FLAG_CLIPPED
from lokaalmeten.simulate import micropython_env

pytestmark = pytest.mark.micropython

# Runs in MicroPython: the kit's own Sampler and record builder with the noise meter on the
# fake I2S, one interval of a 1 kHz tone; CLIP selects a tone above full scale.
SNIPPET = """
import sys
import fake_audio
import fake_i2s
from kit import record
from kit.sampler import Sampler
from kit.sensors import INTERVAL
from noise.meter import NoiseMeter, open_i2s

dbfs = float(sys.argv[1])
fake_i2s.attach(0, fake_audio.Signal(16000).tone(4.0, 1000, dbfs))
meter = NoiseMeter(open_i2s(fake_i2s.I2S, lambda pin: pin, 26, 25, 33), sensitivity_dbfs=-26.0)
sampler = Sampler([({"type": "noise", "i2s": 0}, meter, INTERVAL)], 60000)
sampler.begin(0)
for _ in range(1000):
    sampler.poll()
values, models, flags = sampler.finish(60000)
sys.stdout.write(record.build("kit-7", 3, 1795824000, values, models, flags=flags).decode())
"""


def run(micropython: str, tmp_path: Path, dbfs: float) -> bytes:
    script = tmp_path / "noise_record.py"
    script.write_text(SNIPPET)
    done = subprocess.run(
        [micropython, "-X", "heapsize=128k", str(script), str(dbfs)],
        env=micropython_env(fakes=True),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_noise_levels_reach_the_gateway_as_readings(micropython: str, tmp_path: Path) -> None:
    parsed = parse_record(run(micropython, tmp_path, -46.0), "kit-7", now=1795824000)
    levels = {r.quantity: r for r in parsed.readings}
    assert set(levels) == {"noise_laeq", "noise_lamin", "noise_lamax", "noise_la10", "noise_la90"}
    assert levels["noise_laeq"].value == pytest.approx(74.0, abs=0.05)
    assert levels["noise_laeq"].sensor == "INMP441"
    assert not levels["noise_laeq"].flags & FLAG_CLIPPED


def test_a_clipped_interval_is_flagged_in_the_record(micropython: str, tmp_path: Path) -> None:
    payload = run(micropython, tmp_path, 3.0)
    assert b'"flags": ["clipped"]' in payload
    parsed = parse_record(payload, "kit-7", now=1795824000)
    assert parsed.readings and all(r.flags & FLAG_CLIPPED for r in parsed.readings)
