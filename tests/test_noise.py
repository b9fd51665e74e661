"""`lokaalmeten noise analyse`: the firmware's meter measures WAV recordings under MicroPython."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import wave
from array import array
from pathlib import Path

import pytest

from lokaalmeten.noise import NoiseAnalysisError, analyse, read_wav_header

pytestmark = pytest.mark.micropython


def tone(rate: int, seconds: float, freq: float, dbfs: float) -> list[float]:
    amplitude = 10 ** (dbfs / 20)
    return [amplitude * math.sin(2 * math.pi * freq * i / rate) for i in range(int(rate * seconds))]


def write_wav(path: Path, rate: int, bits: int, samples: list[float], channels: int = 1) -> Path:
    full = 2 ** (bits - 1) - 1
    out = bytearray()
    for v in samples:
        if bits == 8:
            frame = bytes([round(v * 127) + 128])
        else:
            frame = round(v * full).to_bytes(bits // 8, "little", signed=True)
        out += frame + bytes(len(frame) * (channels - 1))  # silent extra channels
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(bits // 8)
        w.setframerate(rate)
        w.writeframes(bytes(out))
    return path


def lm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lokaalmeten", "noise", "analyse", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("rate", "bits", "channels"),
    [(16000, 16, 1), (48000, 24, 2), (16000, 8, 1), (44100, 32, 1), (32000, 16, 2)],
)
def test_a_94_db_tone_reads_94_dba_in_every_format(
    rate: int, bits: int, channels: int, micropython: str, tmp_path: Path
) -> None:
    path = write_wav(tmp_path / "cal.wav", rate, bits, tone(rate, 2.5, 1000, -26.0), channels)
    result = analyse(path, sensitivity=-26.0).total
    # 8-bit quantisation noise is -50 dB below this tone: it adds < 0.01 dB
    assert result.laeq == pytest.approx(94.0, abs=0.05)
    assert result.lamin == pytest.approx(94.0, abs=0.05)
    assert result.lamax == pytest.approx(94.0, abs=0.05)
    assert result.seconds == pytest.approx(1.5, abs=0.01)


def test_command_prints_the_levels(micropython: str, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "street.wav", 16000, 16, tone(16000, 2.0, 1000, -46.0))
    out = lm(str(path), "--sensitivity", "-26", "--offset", "0.5")
    assert out.returncode == 0, out.stderr
    assert "16000 Hz, 16-bit, 1 channel" in out.stdout
    assert "LAeq    74.5 dB(A)" in out.stdout, out.stdout
    assert "LAFmin  74.5 dB(A)" in out.stdout and "LAFmax  74.5 dB(A)" in out.stdout


def test_stepped_recording_laeq_and_intervals(micropython: str, tmp_path: Path) -> None:
    samples = tone(16000, 1.0, 1000, -60.0)  # warm-up
    steps = [(-60.0, 2.0), (-30.0, 2.0), (-45.0, 2.0)]
    for dbfs, seconds in steps:
        samples += tone(16000, seconds, 1000, dbfs)
    path = write_wav(tmp_path / "steps.wav", 16000, 24, samples)
    analysis = analyse(path, sensitivity=-26.0, interval=2.0)
    assert len(analysis.intervals) == 3
    for row, (dbfs, _) in zip(analysis.intervals, steps, strict=True):
        # within an interval the Fast level still settles from the previous step
        assert row.laeq == pytest.approx(120 + dbfs, abs=0.6), row
    energy = sum(s * 10 ** ((120 + d) / 10) for d, s in steps) / sum(s for _, s in steps)
    assert analysis.total.laeq == pytest.approx(10 * math.log10(energy), abs=0.2)
    assert analysis.total.lamax == pytest.approx(90.0, abs=0.1)
    out = lm(str(path), "--sensitivity", "-26", "--interval", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\n") == 1 + 1 + 3 + 3, out.stdout  # header, columns, rows, total


def test_clipped_recording_warns(micropython: str, tmp_path: Path) -> None:
    loud = [max(-1.0, min(1.0, 2 * v)) for v in tone(16000, 2.0, 1000, 0.0)]
    path = write_wav(tmp_path / "loud.wav", 16000, 16, loud)
    out = lm(str(path), "--sensitivity", "-26")
    assert out.returncode == 0, out.stderr
    assert "samples at full scale" in out.stderr


def test_long_recordings_show_progress(micropython: str, tmp_path: Path) -> None:
    period = array("h", (round(3000 * math.sin(2 * math.pi * i / 16)) for i in range(16)))
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(period.tobytes() * (16000 * 75 // 16))
    out = lm(str(path), "--sensitivity", "-26")
    assert out.returncode == 0, out.stderr
    assert "analysed 10 of 75 s" in out.stderr and "analysed 70 of 75 s" in out.stderr
    assert out.stderr.count("analysed") == 7  # every 10 s of audio, each a new 5 % step


def test_extensible_24_bit_wav_is_read(micropython: str, tmp_path: Path) -> None:
    # WAVE_FORMAT_EXTENSIBLE, as 24-bit recorders write it: the sub-format GUID says PCM
    samples = tone(48000, 2.5, 1000, -36.0)
    data = b"".join(round(v * 8388607).to_bytes(3, "little", signed=True) for v in samples)
    pcm_guid = bytes.fromhex("0100000000001000800000aa00389b71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, 48000, 48000 * 3, 3, 24, 22, 24, 4) + pcm_guid
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path = tmp_path / "recorder.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert read_wav_header(path).bits == 24
    assert analyse(path, sensitivity=-26.0).total.laeq == pytest.approx(84.0, abs=0.05)


def test_progress_of_a_ten_minute_recording_stays_short(micropython: str, tmp_path: Path) -> None:
    period = array("h", (round(3000 * math.sin(2 * math.pi * i / 16)) for i in range(16)))
    path = tmp_path / "ten.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(period.tobytes() * (16000 * 600 // 16))
    out = lm(str(path), "--sensitivity", "-26")
    assert out.returncode == 0, out.stderr
    lines = out.stderr.count("analysed")
    assert 19 <= lines <= 21, out.stderr  # a line per 5 %, not per 10 s of audio
    assert "analysed 600 of 600 s (100 %)" in out.stderr


def float_wav(path: Path) -> Path:
    data = struct.pack("<4f", 0.0, 0.5, 0.0, -0.5) * 8000
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.wav", "file not found"),
        (lambda p: (p / "notes.wav").write_text("hello") and p / "notes.wav", "not a WAV file"),
        (lambda p: float_wav(p / "float.wav"), "floating-point WAV is not supported"),
        (
            lambda p: write_wav(p / "cd.wav", 22050, 16, tone(22050, 2.0, 1000, -26)),
            "sample rate 22050 Hz is not supported",
        ),
        (
            lambda p: write_wav(p / "short.wav", 16000, 16, tone(16000, 0.5, 1000, -26)),
            "needs more than its 1 s warm-up",
        ),
    ],
)
def test_bad_recordings_fail_with_a_message_not_a_traceback(
    make: object, message: str, tmp_path: Path
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(NoiseAnalysisError, match=message):
        read_wav_header(path)
    out = lm(str(path), "--sensitivity", "-26")
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_bad_sensitivity_and_equaliser_fail_clearly(micropython: str, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "cal.wav", 16000, 16, tone(16000, 2.0, 1000, -26.0))
    for args, message in ((["--sensitivity", "26"], "out of range"),
                          (["--sensitivity", "-26", "--eq", "XYZ"], "no equaliser")):  # fmt: skip
        out = lm(str(path), *args)
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def test_cpython_side_agrees_with_the_firmware() -> None:
    import re

    from lokaalmeten.noise import WARMUP_S
    from lokaalmeten.simulate import firmware_dir

    meter = (firmware_dir() / "noise" / "meter.py").read_text()
    found = re.search(r"WARMUP_MS = (\d+)", meter)
    assert found is not None and int(found.group(1)) == WARMUP_S * 1000
