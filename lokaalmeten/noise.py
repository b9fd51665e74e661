"""``lokaalmeten noise analyse``: measure a WAV recording with the kit's own noise meter.

The recording is checked here (a clear error for anything the meter cannot read), then the
firmware's NoiseMeter measures it under the real MicroPython interpreter
(firmware/sim/noise_analyse.py), so the numbers are the ones a kit would publish::

    lokaalmeten noise analyse street.wav --sensitivity -26
    analysis = analyse(Path("street.wav"), sensitivity=-26.0)
    print(analysis.total.laeq)
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from lokaalmeten.cli_errors import fail
from lokaalmeten.noise_design import MICROPHONE_CORNERS
from lokaalmeten.noise_design import RATES as SUPPORTED_RATES

SUPPORTED_BITS = (8, 16, 24, 32)
WARMUP_S = 1.0  # NoiseMeter.WARMUP_MS (a test compares)
EQUALISERS = tuple(MICROPHONE_CORNERS)
_PCM = 1
_EXTENSIBLE = 0xFFFE


class NoiseAnalysisError(Exception):
    """The recording cannot be analysed; the message says why and what to do."""


@dataclass(frozen=True)
class WavInfo:
    rate: int
    bits: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def read_wav_header(path: Path) -> WavInfo:
    """Check that ``path`` is a WAV file the meter can measure and describe it."""
    if not path.exists():
        raise NoiseAnalysisError(f"{path}: file not found")
    if not path.is_file():
        raise NoiseAnalysisError(f"{path}: not a file")
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise NoiseAnalysisError(f"{path}: not a WAV file (no RIFF/WAVE header)")
        fmt: bytes | None = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                raise NoiseAnalysisError(f"{path}: WAV file without a data chunk")
            size = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"fmt ":
                fmt = f.read(size + (size & 1))
            elif chunk[:4] == b"data":
                break
            else:
                f.seek(size + (size & 1), 1)
    if fmt is None or len(fmt) < 16:
        raise NoiseAnalysisError(f"{path}: WAV file without a format chunk before its data")
    tag = int.from_bytes(fmt[0:2], "little")
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = int.from_bytes(fmt[24:26], "little")
    channels = int.from_bytes(fmt[2:4], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    align = int.from_bytes(fmt[12:14], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if tag != _PCM:
        kind = "floating-point" if tag == 3 else f"format {tag:#x}"
        raise NoiseAnalysisError(
            f"{path}: {kind} WAV is not supported; save it as integer PCM "
            f"({', '.join(map(str, SUPPORTED_BITS))} bit)"
        )
    if bits not in SUPPORTED_BITS or channels < 1 or align < channels * bits // 8:
        raise NoiseAnalysisError(
            f"{path}: {bits}-bit samples are not supported; use 8, 16, 24 or 32-bit PCM"
        )
    if rate not in SUPPORTED_RATES:
        raise NoiseAnalysisError(
            f"{path}: sample rate {rate} Hz is not supported; resample to one of "
            f"{', '.join(map(str, SUPPORTED_RATES))} Hz"
        )
    frames = size // align
    info = WavInfo(rate, bits, channels, frames)
    if info.seconds <= WARMUP_S:
        raise NoiseAnalysisError(
            f"{path}: {info.seconds:.2f} s of audio; the meter needs more than its "
            f"{WARMUP_S:.0f} s warm-up"
        )
    return info


@dataclass(frozen=True)
class Levels:
    start: float
    seconds: float
    laeq: float
    lamin: float
    lamax: float
    la10: float | None
    la90: float | None
    clipped: int


@dataclass
class Analysis:
    info: WavInfo
    intervals: list[Levels] = field(default_factory=list)

    @property
    def total(self) -> Levels:
        """The whole recording: the energy mean of the intervals, their extremes."""
        if len(self.intervals) == 1:
            return self.intervals[0]
        seconds = sum(i.seconds for i in self.intervals)
        energy = sum(i.seconds * 10 ** (i.laeq / 10) for i in self.intervals)
        return Levels(
            start=self.intervals[0].start,
            seconds=seconds,
            laeq=10 * math.log10(energy / seconds),
            lamin=min(i.lamin for i in self.intervals),
            lamax=max(i.lamax for i in self.intervals),
            la10=None,
            la90=None,
            clipped=sum(i.clipped for i in self.intervals),
        )


def analyse(
    path: Path,
    sensitivity: float,
    offset: float = 0.0,
    interval: float = 0.0,
    eq: str | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> Analysis:
    """Measure ``path`` with the firmware's NoiseMeter; ``interval`` 0: the whole file."""
    from lokaalmeten.simulate import (
        SimulationError,
        find_micropython,
        firmware_dir,
        micropython_env,
    )

    info = read_wav_header(path)
    if not -60.0 <= sensitivity <= 0.0:
        raise NoiseAnalysisError(
            f"sensitivity {sensitivity} dBFS is out of range; the microphone's datasheet "
            "gives it as dBFS for 94 dB SPL, e.g. -26 for an INMP441"
        )
    if eq is not None and eq not in EQUALISERS:
        raise NoiseAnalysisError(f"no equaliser for {eq!r}; known: {', '.join(EQUALISERS)}")
    try:
        micropython = find_micropython()
    except SimulationError as exc:
        raise NoiseAnalysisError(str(exc)) from exc
    script = firmware_dir() / "sim" / "noise_analyse.py"
    # Long files in chunks of at most an hour: the meter's energy sum is sized for that.
    chunk = interval if interval > 0 else 3600.0
    command = [
        micropython, "-X", "heapsize=256k", str(script), str(path.resolve()),
        repr(sensitivity), repr(offset), repr(chunk), eq or "",
    ]  # fmt: skip
    analysis = Analysis(info)
    with subprocess.Popen(
        command,
        env=micropython_env(fakes=True),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        for line in process.stdout:
            event = _parse(line)
            kind = event.get("event")
            if kind == "error":
                process.kill()
                raise NoiseAnalysisError(str(event.get("error")))
            if kind == "progress" and progress is not None:
                progress(float(event["seconds"]), info.seconds)
            elif kind == "interval":
                analysis.intervals.append(_levels(event))
        errors = process.stderr.read()
    if process.returncode != 0:
        raise NoiseAnalysisError(
            f"the MicroPython meter stopped (exit {process.returncode}): {errors.strip()}"
        )
    if not analysis.intervals:
        raise NoiseAnalysisError(f"{path}: no audio was measured after the warm-up")
    return analysis


def _parse(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        return {"event": "output", "text": line.rstrip()}
    return event if isinstance(event, dict) else {"event": "output", "text": line.rstrip()}


def _levels(event: dict[str, Any]) -> Levels:
    values = event.get("values")
    if not values:
        raise NoiseAnalysisError(
            f"from {event['start']:.1f} s: {event.get('error', 'no levels')} "
            "(the recording is digital silence)"
        )
    return Levels(
        start=float(event["start"]),
        seconds=float(event["seconds"]),
        laeq=float(values["noise_laeq"]),
        lamin=float(values["noise_lamin"]),
        lamax=float(values["noise_lamax"]),
        la10=float(values["noise_la10"]),
        la90=float(values["noise_la90"]),
        clipped=int(event.get("clipped", 0)),
    )


noise_app = typer.Typer(
    help="Noise measurement: check a microphone against a reference meter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _describe(info: WavInfo) -> str:
    channels = "1 channel" if info.channels == 1 else f"{info.channels} channels (the first)"
    return f"{info.rate} Hz, {info.bits}-bit, {channels}, {info.seconds:.1f} s"


@noise_app.command("analyse")
def analyse_command(
    file: Annotated[Path, typer.Argument(help="WAV recording: 8/16/24/32-bit integer PCM.")],
    sensitivity: Annotated[
        float,
        typer.Option(help="Microphone sensitivity in dBFS for 94 dB SPL (INMP441: -26)."),
    ],
    offset: Annotated[
        float, typer.Option(help="Calibration offset in dB, added to every level.")
    ] = 0.0,
    interval: Annotated[
        float, typer.Option(min=0.0, help="Seconds per row of levels; 0: the whole file.")
    ] = 0.0,
    eq: Annotated[
        str | None, typer.Option(help="Undo this microphone's low-frequency roll-off: INMP441.")
    ] = None,
) -> None:
    """Measure a recording with the kit's own A-weighted meter (under MicroPython).

    Prints LAeq, LAFmin and LAFmax in dB(A) (and LAF10, LAF90), so a microphone can be
    checked against a reference sound level meter. The first second warms the meter up
    and is not counted. See docs/noise.md.
    """
    try:
        info = read_wav_header(file)
    except NoiseAnalysisError as exc:
        fail(str(exc))
    typer.echo(f"{file}: {_describe(info)}; the first {WARMUP_S:.0f} s warm the meter up")
    show_progress = info.seconds >= 60
    shown = [-1]  # the last 5 % step reported: about 20 lines however long the file

    def progress(done: float, total: float) -> None:
        step = int(20 * done / total)
        if show_progress and step > shown[0]:
            shown[0] = step
            typer.echo(
                f"analysed {done:.0f} of {total:.0f} s ({100 * done / total:.0f} %)", err=True
            )

    try:
        analysis = analyse(file, sensitivity, offset, interval, eq, progress)
    except NoiseAnalysisError as exc:
        fail(str(exc))
    if interval > 0:
        typer.echo("start_s  seconds   LAeq  LAFmin  LAFmax  LAF10  LAF90  clipped")
        for row in analysis.intervals:
            typer.echo(
                f"{row.start:7.1f}  {row.seconds:7.1f}  {row.laeq:5.1f}  {row.lamin:6.1f}  "
                f"{row.lamax:6.1f}  {row.la10 or 0:5.1f}  {row.la90 or 0:5.1f}  {row.clipped:7d}"
            )
    total = analysis.total
    typer.echo(f"LAeq   {total.laeq:5.1f} dB(A)  over {total.seconds:.1f} s")
    typer.echo(f"LAFmin {total.lamin:5.1f} dB(A)")
    typer.echo(f"LAFmax {total.lamax:5.1f} dB(A)")
    if total.la10 is not None and total.la90 is not None:
        typer.echo(f"LAF10  {total.la10:5.1f} dB(A)")
        typer.echo(f"LAF90  {total.la90:5.1f} dB(A)")
    if total.clipped:
        typer.secho(
            f"warning: {total.clipped} samples at full scale: the sound was too loud for the "
            "recording, so the levels read low",
            fg=typer.colors.YELLOW,
            err=True,
        )
