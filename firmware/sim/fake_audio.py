"""Sound for the fake I2S microphone: generated signals and WAV files, as microphone words.

Sources hand out what an INMP441 puts on the bus: 32-bit words holding a 24-bit
two's-complement sample, left-justified (the low 8 bits zero), saturating at full scale::

    import fake_audio, fake_i2s
    fake_i2s.attach(0, fake_audio.Signal(16000).tone(2.0, 1000, -26.0))  # 94 dB SPL, INMP441
    fake_i2s.attach(0, fake_audio.WavSource("street.wav"))

``Signal`` builds sound from segments (sine tones with levels in dBFS of their peak, as
microphone datasheets give sensitivity; white noise; DC; silence); ``WavSource`` plays the
first channel of an 8/16/24/32-bit PCM WAV file. A source has one method,
``fill(buf, count)``: write up to count words into buf, return how many (0: the end).

Unix port only (loaded by fake_i2s, not by the firmware): the generators use 64-bit viper
integers.
"""

import array
import math

import micropython
from micropython import const

_FS = const(0x7FFFFF)  # 24-bit full scale
_TABLE = None  # sine table, Q30, 1025 entries, made on first use


def _sine_table():
    global _TABLE
    if _TABLE is None:
        _TABLE = array.array(
            "i", (round(math.sin(2 * math.pi * k / 1024) * (1 << 30)) for k in range(1025))
        )
    return _TABLE


@micropython.viper
def _synth(buf: ptr32, start: int, count: int, p: ptr32, table: ptr32):
    # p: [tones, dc, noise amplitude * 16, noise state, -2**31, then per tone: step,
    # amplitude * 16, phase]; phases are 32-bit fractions of a turn. ptr32 loads are
    # zero-extended here: (v ^ m31) - m31 restores the sign.
    m31 = p[4]
    tones = int(p[0])
    dc = int((p[1] ^ m31) - m31)
    noise = int(p[2])
    state = int(p[3])
    i = start
    end = start + count
    while i < end:
        acc = dc << 4
        k = 0
        while k < tones:
            q = 5 + 3 * k
            phase = int(p[q + 2])
            idx = phase >> 22
            t0 = int((table[idx] ^ m31) - m31)
            t1 = int((table[idx + 1] ^ m31) - m31)
            s = t0 + (((t1 - t0) * ((phase >> 6) & 0xFFFF)) >> 16)
            acc += (s * int(p[q + 1]) + (1 << 29)) >> 30
            p[q + 2] = phase + int(p[q])  # the 32-bit store wraps the phase
            k += 1
        if noise:
            # three uniform draws: close to Gaussian, variance 1 in units of the amplitude
            u = 0
            # (a 2**30 linear congruential generator: viper literals stay below 2**30)
            for _ in range(3):
                state = (state * 69069 + 12345) & 0x3FFFFFFF
                u += state - 0x20000000
            acc += (u * noise) >> 29
        v = (acc + 8) >> 4
        if v > _FS:
            v = _FS
        elif v < -_FS - 1:
            v = -_FS - 1
        buf[i] = v << 8
        i += 1
    p[3] = state


class Signal:
    """Generated sound at ``rate``: segments played one after another.

    Levels are dBFS of the peak (a tone at -26 dBFS is 94 dB SPL on a -26 dBFS microphone);
    ``seconds=None`` makes a segment endless. ``dc`` is an offset as a fraction of full scale.
    """

    def __init__(self, rate):
        self.rate = rate
        self._segments = []
        self._at = 0
        self._left = 0

    def _add(self, seconds, tones=(), noise_dbfs=None, dc=0.0, seed=1):
        p = array.array("i", bytes(4 * (5 + 3 * len(tones))))
        p[0] = len(tones)
        p[1] = round(dc * _FS)
        p[2] = 0 if noise_dbfs is None else round(16 * _FS * 10 ** (noise_dbfs / 20))
        p[3] = seed
        p[4] = -2147483648
        for k, (freq, dbfs, phase) in enumerate(tones):
            q = 5 + 3 * k
            p[q] = round(freq / self.rate * 4294967296.0)
            p[q + 1] = round(16 * _FS * 10 ** (dbfs / 20))
            p[q + 2] = round((phase % 1.0) * 4294967296.0) & 0x7FFFFFFF
        count = -1 if seconds is None else round(seconds * self.rate)
        self._segments.append((count, p))
        if len(self._segments) == 1:
            self._left = count
        return self

    def tone(self, seconds, freq, dbfs, phase=0.0, dc=0.0):
        """A sine of ``freq`` Hz whose peak is ``dbfs`` (saturates above 0 dBFS)."""
        return self._add(seconds, ((freq, dbfs, phase),), dc=dc)

    def tones(self, seconds, tones, noise_dbfs=None, dc=0.0, seed=1):
        """Several sines at once: ``tones`` is a sequence of (freq, dbfs, phase)."""
        return self._add(seconds, tones, noise_dbfs, dc, seed)

    def noise(self, seconds, rms_dbfs, seed=1):
        """White noise whose RMS is ``rms_dbfs`` relative to full scale."""
        return self._add(seconds, (), rms_dbfs, 0.0, seed)

    def silence(self, seconds):
        return self._add(seconds)

    def samples(self):
        """Total number of samples (None if a segment is endless)."""
        total = 0
        for count, _ in self._segments:
            if count < 0:
                return None
            total += count
        return total

    def fill(self, buf, count):
        """Write up to ``count`` words into ``buf``; returns how many (0: the end)."""
        table = _sine_table()
        done = 0
        while done < count and self._at < len(self._segments):
            seg_count, p = self._segments[self._at]
            n = count - done if seg_count < 0 else min(count - done, self._left)
            _synth(buf, done, n, p, table)
            done += n
            if seg_count >= 0:
                self._left -= n
                if self._left == 0:
                    self._at += 1
                    if self._at < len(self._segments):
                        self._left = self._segments[self._at][0]
        return done


@micropython.viper
def _convert(raw: ptr8, buf: ptr32, count: int, spec: int):
    # WAV bytes -> I2S words: the sample's little-endian bytes become the word's top bytes.
    bits = spec & 0xFF
    align = spec >> 8
    i = 0
    j = 0
    while i < count:
        if bits == 16:
            w = (raw[j + 1] << 24) | (raw[j] << 16)
        elif bits == 24:
            w = (raw[j + 2] << 24) | (raw[j + 1] << 16) | (raw[j] << 8)
        elif bits == 32:
            w = (raw[j + 3] << 24) | (raw[j + 2] << 16) | (raw[j + 1] << 8) | raw[j]
        else:  # 8-bit WAV samples are unsigned
            w = (raw[j] - 128) << 24
        if bits < 32:
            w = (w >> 8) << 8  # a 24-bit microphone: the low byte is always zero
        buf[i] = w
        i += 1
        j += align


class WavError(ValueError):
    pass


class WavSource:
    """The first channel of a PCM WAV file (8, 16, 24 or 32 bits), as I2S words.

    32-bit files keep their low byte; everything else arrives as from a 24-bit microphone.
    """

    def __init__(self, path):
        self._file = open(path, "rb")  # noqa: SIM115 - read as the meter asks, closed by close()
        head = self._file.read(12)
        if len(head) < 12 or head[0:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise WavError("not a WAV file (no RIFF/WAVE header)")
        fmt = None
        while True:
            chunk = self._file.read(8)
            if len(chunk) < 8:
                raise WavError("no data chunk")
            size = int.from_bytes(chunk[4:8], "little")
            if chunk[0:4] == b"fmt ":
                fmt = self._file.read(size + (size & 1))
            elif chunk[0:4] == b"data":
                break
            else:
                self._file.read(size + (size & 1))
        if fmt is None:
            raise WavError("no fmt chunk before the data")
        tag = int.from_bytes(fmt[0:2], "little")
        if tag == 0xFFFE and len(fmt) >= 26:
            tag = int.from_bytes(fmt[24:26], "little")  # WAVE_FORMAT_EXTENSIBLE sub-format
        self.channels = int.from_bytes(fmt[2:4], "little")
        self.rate = int.from_bytes(fmt[4:8], "little")
        self.align = int.from_bytes(fmt[12:14], "little")
        self.bits = int.from_bytes(fmt[14:16], "little")
        if tag != 1 or self.bits not in (8, 16, 24, 32) or self.align < self.bits // 8:
            raise WavError("not integer PCM of 8, 16, 24 or 32 bits")
        self.frames = size // self.align
        self._left = self.frames
        self._raw = None
        self._spec = self.bits | (self.align << 8)

    def fill(self, buf, count):
        n = min(count, self._left)
        if n <= 0:
            return 0
        nbytes = n * self.align
        if self._raw is None or len(self._raw) < nbytes:
            self._raw = bytearray(max(nbytes, count * self.align))
            self._whole = memoryview(self._raw)
        view = self._whole if nbytes == len(self._raw) else self._whole[:nbytes]
        got = self._file.readinto(view) or 0
        n = got // self.align
        _convert(self._raw, buf, n, self._spec)
        self._left = self._left - n if n else 0
        return n

    def close(self):
        self._file.close()
