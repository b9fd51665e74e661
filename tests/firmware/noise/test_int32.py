"""The noise meter's viper arithmetic, replayed in 32-bit two's complement, never overflows.

The unix port runs viper with 64-bit integers, so an overflow that would wrap on the ESP32
passes unnoticed there. Here noise/dsp.py's own ``process`` runs under CPython with every
integer an ``I32`` that refuses any result outside [-2**31, 2**31), and with arrays that
load signed 32-bit words as the ESP32 does. The one deliberate wrap is the sign-extension
idiom ``(v ^ m31) - m31``. The final state must equal the real interpreter's, bit for bit.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import types
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lokaalmeten.noise_design import MICROPHONE_CORNERS, design, zero_for
from lokaalmeten.simulate import firmware_dir, micropython_env

INT_MIN = -(2**31)


class Overflow(AssertionError):
    pass


def _wrap(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


class I32(int):
    """An int that must stay within a 32-bit signed word after every operation."""

    def __new__(cls, value: int) -> I32:
        if not INT_MIN <= value < 2**31:
            raise Overflow(f"{value} does not fit 32 bits")
        return super().__new__(cls, value)

    def _op(name: str) -> Callable[[I32, Any], I32]:  # type: ignore[misc]
        method = getattr(int, name)

        def run(self: I32, other: Any) -> I32:
            return I32(method(int(self), int(other)))

        return run

    __add__ = _op("__add__")
    __radd__ = _op("__radd__")
    __mul__ = _op("__mul__")
    __rmul__ = _op("__rmul__")
    __rsub__ = _op("__rsub__")
    __and__ = _op("__and__")
    __rand__ = _op("__rand__")
    __or__ = _op("__or__")
    __ror__ = _op("__ror__")
    __xor__ = _op("__xor__")
    __rxor__ = _op("__rxor__")
    __rshift__ = _op("__rshift__")
    __lshift__ = _op("__lshift__")
    __rlshift__ = _op("__rlshift__")
    __rrshift__ = _op("__rrshift__")

    def __sub__(self, other: Any) -> I32:
        if int(other) == INT_MIN:  # sign extension: a deliberate wrap, as on the ESP32
            return I32(_wrap(int(self) - INT_MIN))
        return I32(int(self) - int(other))

    def __neg__(self) -> I32:
        return I32(-int(self))


class Ptr32:
    """A viper ptr32 on a 32-bit port: loads are signed words, stores keep 32 bits."""

    def __init__(self, values: list[int]) -> None:
        self.words = [_wrap(v) for v in values]

    def __getitem__(self, index: int) -> I32:
        return I32(self.words[int(index)])

    def __setitem__(self, index: int, value: int) -> None:
        self.words[int(index)] = _wrap(int(value))


def load_dsp() -> types.ModuleType:
    """noise/dsp.py as a CPython module: viper and const become plain Python."""
    fake = types.ModuleType("micropython")
    fake.const = lambda value: value  # type: ignore[attr-defined]
    fake.viper = lambda function: function  # type: ignore[attr-defined]
    saved = sys.modules.get("micropython")
    sys.modules["micropython"] = fake
    try:
        module = types.ModuleType("dsp")
        module.__dict__["ptr32"] = Ptr32
        source = (firmware_dir() / "noise" / "dsp.py").read_text()
        exec(compile(source, "noise/dsp.py", "exec"), module.__dict__)
    finally:
        if saved is None:
            del sys.modules["micropython"]
        else:
            sys.modules["micropython"] = saved
    return module


def worst_words(rate: int, seed: int = 7) -> list[int]:
    """Full-scale square waves, Nyquist, full-scale steps and clipped noise, as I2S words."""
    top, bottom = 0x7FFFFF00, -0x80000000
    words: list[int] = []
    for period in (2, 3, 8, rate // 700, rate // 100, rate // 20):
        for i in range(rate // 8):
            words.append(top if (i // max(1, period // 2)) % 2 else bottom)
    words += [top] * (rate // 10) + [bottom] * (rate // 10)
    rng = random.Random(seed)
    words += [
        rng.choice((top, bottom, rng.randint(-(2**23), 2**23 - 1) << 8)) for _ in range(rate // 4)
    ]
    return words


RUNNER = """
import json, sys
from array import array
from noise import dsp
with open(sys.argv[1]) as f:
    job = json.load(f)
co = dsp.new_coefficients(job["kz"], job["kp"], job["fir"], job["beta"])
st = dsp.new_state()
dsp.restart(st, 2)
words = array("i", job["words"])
for start in range(0, len(words), 512):
    chunk = words[start:start + 512]
    dsp.process(chunk, len(chunk), st, co)
print(json.dumps(list(st)))
"""


def micropython_state(micropython: str, tmp_path: Path, job: dict[str, Any]) -> list[int]:
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "runner.py").write_text(RUNNER)
    done = subprocess.run(
        [micropython, "-X", "heapsize=4m", str(tmp_path / "runner.py"), str(tmp_path / "job.json")],
        env=micropython_env(fakes=True),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [int(v) for v in json.loads(done.stdout)]


@pytest.mark.micropython
@pytest.mark.parametrize(("rate", "eq"), [(16000, None), (48000, None), (16000, "INMP441")])
def test_no_intermediate_leaves_32_bits_and_the_state_matches_micropython(
    rate: int, eq: str | None, micropython: str, tmp_path: Path
) -> None:
    assert eq is None or eq in MICROPHONE_CORNERS
    d = design(rate)
    kz = zero_for(MICROPHONE_CORNERS[eq], rate) if eq else 0
    words = worst_words(rate)
    dsp = load_dsp()
    co_values = list(dsp.new_coefficients(kz, d.kp, d.fir, d.beta))
    state = array("i", bytes(4 * len(dsp.new_state())))
    dsp.restart(state, 2)
    st = Ptr32(list(state))
    co = Ptr32(co_values)
    for start in range(0, len(words), 512):
        chunk = words[start : start + 512]
        dsp.process(Ptr32(chunk), I32(len(chunk)), st, co)  # raises Overflow if one leaves
    job = {"kz": kz, "kp": list(d.kp), "fir": list(d.fir), "beta": d.beta, "words": words}
    assert st.words == micropython_state(micropython, tmp_path, job)
    # and the worst sounds did reach the meter's statistics
    assert any(st.words[44:])


def test_the_replay_catches_an_overflow() -> None:
    # A FIR centre tap 64 times too large for the budget must trip the check.
    d = design(16000)
    dsp = load_dsp()
    co = Ptr32(list(dsp.new_coefficients(0, d.kp, (d.fir[0] * 64, *d.fir[1:]), d.beta)))
    st = Ptr32(list(dsp.new_state()))
    words = worst_words(16000)[:4000]
    with pytest.raises(Overflow):
        dsp.process(Ptr32(words), I32(len(words)), st, co)
