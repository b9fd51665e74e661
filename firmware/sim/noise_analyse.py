"""Measure a WAV recording with the meter's own code, under the unix port (a host tool,
kept in sim/ with the fakes it needs: not part of a kit's firmware).

The fake I2S plays the file's first channel as a 24-bit microphone would deliver it, and the
same NoiseMeter that runs on the kit measures it. ``lokaalmeten noise analyse`` runs this
and reads its output, one JSON object per line::

    micropython noise_analyse.py FILE.wav SENSITIVITY OFFSET CHUNK_S EQ
    {"event": "start", "rate": 16000, "bits": 16, "channels": 1, "frames": 160000}
    {"event": "progress", "seconds": 10.0}
    {"event": "interval", "start": 1.0, "seconds": 9.0, "values": {...}, "clipped": 0}
    {"event": "end", "seconds": 10.0}

A read() ends each interval after CHUNK_S seconds of audio (rounded down to whole 32-sample
steps) and at the end of the file.
"""

import json
import sys

import fake_audio
import fake_i2s

from drivers.errors import SensorError
from noise.meter import NoiseMeter, open_i2s

_BLOCK = 1024
_PROGRESS_S = 10


def _emit(event, **fields):
    fields["event"] = event
    print(json.dumps(fields))


def main(argv):
    path, sensitivity, offset, chunk, eq = argv[1], float(argv[2]), float(argv[3]), argv[4], argv[5]
    chunk = float(chunk)
    try:
        source = fake_audio.WavSource(path)
    except (OSError, ValueError) as exc:
        _emit("error", error="%s: %s" % (path, exc))
        return 2
    fake_i2s.attach(0, source)
    # The fake takes pin numbers as they are (no machine.Pin): the wiring's, as on a kit.
    mic = open_i2s(fake_i2s.I2S, int, 26, 25, 33, rate=source.rate, ibuf=4 * _BLOCK)
    try:
        meter = NoiseMeter(
            mic, sensitivity, source.rate, offset, eq or None, block=_BLOCK, nonblocking=False
        )
    except SensorError as exc:
        _emit("error", error=str(exc))
        return 2
    _emit(
        "start", rate=source.rate, bits=source.bits, channels=source.channels, frames=source.frames
    )
    meter.start()
    rate = source.rate
    warm = meter.warmup_samples()
    # intervals of whole 32-sample steps, starting where the warm-up ends
    every = int(chunk * rate) // 32 * 32
    boundary = warm + every
    done = 0
    start = warm / rate
    next_progress = _PROGRESS_S * rate
    while True:
        got = meter.poll(min(_BLOCK, boundary - done) if every else 0)
        if not got:
            break
        done += got
        if done >= next_progress:
            _emit("progress", seconds=done / rate)
            next_progress += _PROGRESS_S * rate
        if every and done == boundary:
            start = _report(meter, start)
            boundary += every
    _report(meter, start)
    _emit("end", seconds=source.frames / rate)
    return 0


def _report(meter, start):
    seconds = meter.seconds()
    try:
        values = meter.read()
    except SensorError as exc:
        _emit("interval", start=start, seconds=seconds, values=None, error=str(exc), clipped=0)
        return start + seconds
    if values is not None:
        _emit(
            "interval", start=start, seconds=seconds, values=values, clipped=meter.clipped_samples
        )
    return start + seconds


sys.exit(main(sys.argv))
