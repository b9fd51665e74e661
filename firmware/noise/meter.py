"""A-weighted sound level meter for an I2S MEMS microphone (INMP441 and alike).

    from machine import I2S, Pin
    from noise.meter import NoiseMeter, open_i2s
    meter = NoiseMeter(open_i2s(I2S, Pin, sck=26, ws=25, sd=33), sensitivity_dbfs=-26.0)
    meter.start()
    while True:
        meter.poll()            # often: filters the audio that arrived, never blocks
        ...
        values = meter.read()   # per interval: noise_laeq, noise_lamin, noise_lamax, ...

The sensor of firmware/drivers/README.md: it reads the microphone, hands the samples to the
integer signal processing of noise/dsp.py and turns its sums into calibrated dB(A)
(docs/noise.md).
"""

import array
import math

from drivers.errors import SensorError
from noise import dsp
from noise.coeffs import EQ, RATES

_FULL_SCALE_DB = 120.41199826559248  # 20 * log10(2**20): full scale of the 21-bit samples
_SINE_PEAK_DB = 3.010299956639812  # sensitivity is a sine's peak; its RMS is 3.01 dB lower
_DB_PER_OCTAVE = 3.010299956639812  # 10 * log10(2): one step of a level's binary exponent


def i2s_buffer_bytes(rate):
    """The I2S driver's buffer for the meter: 128 ms of 32-bit words, enough for the kit
    loop's longest sleep with a microphone (20 ms) and a slow turn (an MQTT round trip), and
    no more: the ESP32 takes it from the RAM that Wi-Fi needs too (8,192 bytes at 16 kHz)."""
    return rate * 4 * 128 // 1000 // 64 * 64


def open_i2s(I2S, Pin, sck, ws, sd, rate=16000, ident=0, ibuf=None):
    """The I2S receiver the meter expects: 32-bit mono words (the left channel, L/R to GND).

    The one opener of the microphone: kit.sensors.machine_bus calls it with the configured
    pins, whose defaults (BUS_KEYS there) are the wiring's (hardware/wiring/kits.json).
    I2S MEMS microphones deliver 24 bits left-aligned in a 32-bit slot, hence bits=32.

    ibuf is the driver's DMA buffer in bytes; it must hold the audio that arrives while the
    main loop is busy elsewhere (default 128 ms of audio: 8,192 bytes at 16 kHz).
    """
    if ibuf is None:
        ibuf = i2s_buffer_bytes(rate)
    return I2S(
        ident,
        sck=Pin(sck),
        ws=Pin(ws),
        sd=Pin(sd),
        mode=I2S.RX,
        bits=32,
        format=I2S.MONO,
        rate=rate,
        ibuf=ibuf,
    )


class NoiseMeter:
    """LAeq, LAFmin, LAFmax, LAF10 and LAF90 per interval from an I2S microphone.

    sensitivity_dbfs: the microphone's output for a 94 dB SPL 1 kHz sine, peak-referenced
    (INMP441 datasheet: -26); offset_db: calibration
    correction added to every level; eq: name of a microphone whose low-frequency roll-off
    to undo (keys of noise.coeffs.EQ) or None; block: samples per I2S read (default 20 ms of
    audio, the kit loop's longest sleep); nonblocking: use the I2S irq so poll() never waits
    (the kit), else poll() reads one block and waits for it (analysing recordings).
    """

    MODEL = "INMP441"
    QUANTITIES = ("noise_laeq", "noise_lamin", "noise_lamax", "noise_la10", "noise_la90")
    # INMP441 start-up 85 ms; the Fast level rises from zero to within 0.002 dB in 8 tau.
    WARMUP_MS = 1000

    def __init__(
        self,
        i2s,
        sensitivity_dbfs=-26.0,
        rate=16000,
        offset_db=0.0,
        eq=None,
        model=None,
        block=None,
        nonblocking=True,
    ):
        if rate not in RATES:
            raise SensorError(
                "noise: sample rate %s not supported; use one of %s"
                % (rate, ", ".join(str(r) for r in sorted(RATES)))
            )
        if not -60.0 <= sensitivity_dbfs <= 0.0:
            raise SensorError(
                "noise: sensitivity_dbfs %s out of range; the datasheet gives dBFS for "
                "94 dB SPL, e.g. -26" % sensitivity_dbfs
            )
        kp, fir, beta, gain_db = RATES[rate]
        kz = 0
        if eq is not None:
            if eq not in EQ:
                raise SensorError(
                    "noise: no equaliser for microphone %r; known: %s" % (eq, ", ".join(sorted(EQ)))
                )
            kz, gain_db = EQ[eq][rate]
        if model is not None:
            self.MODEL = model
        self.rate = rate
        self.clipped = False
        self.clipped_samples = 0
        self._i2s = i2s
        self._nonblocking = nonblocking
        self._running = False
        self._ready = False
        self._on_block = self._block_done  # bound once: the irq must not allocate
        self._buf = array.array("i", bytes(4 * (block or rate // 50)))
        self._mv = memoryview(self._buf)
        self._st = dsp.new_state()
        self._co = dsp.new_coefficients(kz, kp, fir, beta)
        # Mean square (raw units) -> dB SPL, with the filter's own gain at 1 kHz removed.
        self._offset = (
            94.0 - sensitivity_dbfs + _SINE_PEAK_DB - _FULL_SCALE_DB - gain_db + offset_db
        )
        self._warm_blocks = (rate * self.WARMUP_MS // 1000 + dsp.SUB - 1) // dsp.SUB

    def start(self):
        """Start measuring; the first WARMUP_MS of audio set the filters and are not counted."""
        dsp.restart(self._st, self._warm_blocks)
        self._running = True
        self._ready = False
        if self._nonblocking:
            self._i2s.irq(self._on_block)
            self._i2s.readinto(self._mv)

    def stop(self):
        self._running = False
        if self._nonblocking:
            self._i2s.irq(None)

    def probe(self, on=True):
        """Test mode: record the largest intermediate values (see ranges())."""
        dsp.set_probe(self._st, on)

    def ranges(self):
        """The largest values seen in probe mode, by name (noise.dsp.PROBES)."""
        return dsp.ranges(self._st)

    def _block_done(self, i2s):
        self._ready = True

    def poll(self, limit=0):
        """Process the audio that has arrived; returns the number of samples (0: none).

        limit (blocking mode only) reads at most that many samples, to end an interval on
        an exact sample; it allocates a small view, so the kit does not use it.
        """
        if not self._running:
            return 0
        if self._nonblocking:
            # Every block that has arrived, up to four: a loop that sleeps a little longer
            # than a block lasts catches up instead of losing audio when the DMA fills.
            n = len(self._buf)
            done = 0
            while self._ready and done < 4 * n:
                self._ready = False
                # viper takes the array's buffer as its ptr32 (the stubs know no such cast)
                dsp.process(self._buf, n, self._st, self._co)  # type: ignore[arg-type]
                done += n
                self._i2s.readinto(self._mv)
            return done
        view = self._mv[:limit] if 0 < limit < len(self._buf) else self._mv
        got = self._i2s.readinto(view) >> 2
        if got <= 0:
            return 0
        dsp.process(self._buf, got, self._st, self._co)  # type: ignore[arg-type]
        return got

    def warmup_samples(self):
        """Samples after start() that warm the meter up and are not counted."""
        return self._warm_blocks * dsp.SUB

    def _level(self, pair):
        m, e = pair
        if m <= 0:
            return None
        return 10.0 * math.log10(m) + e * _DB_PER_OCTAVE + self._offset

    def _percentile(self, fraction, count):
        b = dsp.percentile_bin(self._st, fraction, count)
        return (b + 0.5) * dsp.BIN_DB + self._offset

    def read(self):
        """Levels of the interval since the previous read() in dB(A); None before any.

        LAFmin is left out when the Fast level was zero (digital silence) at some moment.
        """
        st = self._st
        count, energy, clipped, fast_max, fast_min = dsp.interval(st)
        self.clipped_samples = clipped
        self.clipped = clipped > 0
        if count == 0:
            return None
        if energy == 0:
            dsp.reset_interval(st)
            raise SensorError(
                "%s: only constant samples; check the SD wire and that L/R selects the "
                "left channel (GND)" % self.MODEL
            )
        values = {
            "noise_laeq": 10.0 * math.log10(energy / (count * dsp.SUB)) + self._offset,
            "noise_lamax": self._level(fast_max),
            "noise_la10": self._percentile(0.1, count),
            "noise_la90": self._percentile(0.9, count),
        }
        lamin = self._level(fast_min)
        if lamin is not None:
            values["noise_lamin"] = lamin
        dsp.reset_interval(st)
        return values

    def seconds(self):
        """Seconds of audio counted in the current interval."""
        return dsp.counted(self._st) * dsp.SUB / self.rate
