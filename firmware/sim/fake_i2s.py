"""A fake ``machine.I2S`` receiver for the unix port: a microphone playing a sound source.

    import fake_audio, fake_i2s
    from machine import I2S, Pin
    fake_i2s.attach(0, fake_audio.Signal(16000).tone(2.0, 1000, -26.0))  # 94 dB SPL, INMP441
    mic = I2S(0, sck=Pin(26), ws=Pin(25), sd=Pin(33), mode=I2S.RX, bits=32,
              format=I2S.MONO, rate=16000, ibuf=20000)
    mic.readinto(buf)   # -> bytes read, 0 once the sound has ended

The words are the INMP441's: 24-bit samples left-justified in 32 bits (fake_audio.py makes
them). ``readinto`` blocks as the real one does, or with ``irq(handler)`` completes whole
buffers and calls the handler. With no source attached an I2S plays quiet noise forever;
``attach(..., realtime=True)`` makes ``readinto`` take as long as the audio lasts. Kept
small, because machine.py imports it into every simulated kit: the sound generators load
only when needed.
"""

import time

_attached = {}


def attach(ident, source, realtime=False):
    """Play ``source`` on the I2S with this id (before or after it is constructed)."""
    _attached[ident] = (source, realtime)


class I2S:
    RX = 0
    TX = 1
    MONO = 0
    STEREO = 1

    def __init__(
        self,
        ident,
        *,
        sck=None,
        ws=None,
        sd=None,
        mck=None,
        mode=None,
        bits=None,
        format=None,
        rate=None,
        ibuf=None,
    ):
        if mode != I2S.RX:
            raise ValueError("fake I2S: only mode=I2S.RX (a microphone) is simulated")
        if bits != 32:
            raise ValueError("fake I2S: bits=32 (the microphone's 24-in-32-bit words)")
        if format not in (I2S.MONO, I2S.STEREO):
            raise ValueError("invalid format")
        if not rate or rate <= 0:
            raise ValueError("invalid rate")
        if not ibuf or ibuf <= 0:
            raise ValueError("invalid ibuf")
        if sck is None or ws is None or sd is None:
            raise ValueError("sck, ws and sd pins are required")
        self.id = ident
        self.rate = rate
        self.format = format
        self._handler = None
        self._sizes = {}
        self._delivered = 0
        self._t0 = None
        self.closed = False

    def _source(self):
        found = _attached.get(self.id)
        if found is None:
            import fake_audio

            found = (fake_audio.Signal(self.rate).noise(None, -75.0), False)
            _attached[self.id] = found
        return found

    def irq(self, handler):
        self._handler = handler

    def readinto(self, buf):
        if self.closed:
            raise OSError("I2S deinitialised")
        source, realtime = self._source()
        # MicroPython's memoryview does not tell its item size: learn a buffer's byte length
        # once (that allocates) and remember it with its length, so the steady state does not
        size = len(buf)
        known = self._sizes.get(id(buf))
        if known is None or known[0] != size:
            known = (size, len(bytes(buf[0:1])) * size // 4)
            self._sizes[id(buf)] = known
        words = known[1]
        stereo = self.format == I2S.STEREO
        n = source.fill(buf, words // 2 if stereo else words)
        if stereo:
            _spread(buf, n)
        if realtime and n:
            if self._t0 is None:
                self._t0 = time.ticks_us()
            self._delivered += n
            due = self._delivered * 1000000 // self.rate
            wait = due - time.ticks_diff(time.ticks_us(), self._t0)
            if wait > 0:
                time.sleep_us(wait)
        # irq mode completes whole buffers only, as the DMA does; a sound that ends
        # part-way through a buffer never completes it
        if (n == words // 2 if stereo else n == words) and self._handler is not None:
            self._handler(self)
        return 4 * n * (2 if stereo else 1)

    def deinit(self):
        self.closed = True


def _spread(buf, n):
    # mono words at the front -> left/right pairs; the right slot has no microphone.
    # Plain Python (stereo is rare in tests): machine.py imports this file, so it must
    # load on ports without native code too (the 32-bit WebAssembly port of the benchmarks).
    per = 4 // len(bytes(buf[0:1]))  # items per 32-bit word: 4 in a bytearray, 1 in array("i")
    for i in range(n - 1, -1, -1):
        for k in range(per):
            buf[2 * i * per + k] = buf[i * per + k]
            buf[(2 * i + 1) * per + k] = 0
