"""The noise meter's integer signal processing: A-weighting and Fast levels in viper.

    from noise import dsp
    st = dsp.new_state()
    co = dsp.new_coefficients(kz, kp, fir, beta)   # from noise/coeffs.py
    dsp.restart(st, warm_blocks)
    dsp.process(words, len(words), st, co)         # 32-bit I2S words, as often as they come
    count, energy, clipped, fmax, fmin = dsp.interval(st)

Signal path (docs/noise.md): 32-bit I2S words holding 24-bit samples -> A-weighting (four
first-order integer sections whose first differencer also removes DC exactly, then a 7-tap
FIR that shapes the top octave) -> sums of squares per 32 samples -> Fast time weighting
(125 ms) -> the interval's energy, Fast extremes and a histogram of Fast levels.

Everything per sample and per block runs in one viper function on 32-bit integers and
allocates nothing. Viper integers are the machine word: 32 bits on the ESP32, 64 on the unix
port, so every intermediate is kept below 2**31 by design (bounds in the comments); the
tests run a probe mode that records the largest values, and replay this function under
CPython in checked 32-bit arithmetic (tests/firmware/noise/test_int32.py).
"""

import array
import math

import micropython
from micropython import const

_SUB = const(32)  # samples per sum of squares; the Fast weighting steps once per sub-block
_SHIFT = const(11)  # 32-bit word >> 11: 21-bit samples, full scale 2**20
_CLIP = const(1048544)  # 2**20 - 32: a 16-bit full-scale sample still counts as clipped
_ZERO_E = const(-100000)  # exponent that marks a zero Fast level
_BINS = const(768)  # histogram of Fast levels in 0.2 dB steps, 0 .. 153 dB re 1 LSB**2
BIN_DB = 0.2
SUB = _SUB

# Layout of the state array (one array('i'), so the viper function takes few arguments).
_XP = const(0)  # previous input sample
_Y1 = const(1)  # outputs of the four sections (also the next sections' previous inputs)
_Y4 = const(4)
_D0 = const(5)  # FIR delay line: six previous section outputs
_HI = const(11)  # sums of squares of the current sub-block: high, middle and low parts
_MID = const(12)
_LO = const(13)
_CNT = const(14)  # samples in the current sub-block
_FM = const(15)  # Fast level: mantissa in [2**19, 2**20) (0: zero) and exponent
_FE = const(16)
_MAXM = const(17)
_MAXE = const(18)
_MINM = const(19)
_MINE = const(20)
_A0 = const(21)  # sum of squares of the interval in three 24-bit limbs (the LAeq)
_A1 = const(22)
_A2 = const(23)
_NSUB = const(24)  # sub-blocks in the interval
_NCLIP = const(25)  # clipped samples in the interval
_WARM = const(26)  # sub-blocks still to skip after start()
_FRESH = const(27)  # 1 until the first sample after start() has been seen
_PROBE = const(28)  # 1: record the largest intermediates in _P0 ..
_E1 = const(29)  # the sections' truncation remainders (error feedback), four
_P0 = const(33)
_HIST = const(44)
_STATE = const(812)  # _HIST + _BINS

# Layout of the coefficient array.
_KZ = const(0)
_KP1 = const(1)
_C0 = const(5)
_BETA = const(9)
_LOG = const(10)  # 64 entries: 1024 * log2 of the mantissa's top bits
_M31 = const(74)  # holds -2**31, the sign bit
_COEFS = const(75)

PROBES = (
    "input",
    "section1",
    "section2",
    "section3",
    "section4",
    "fir_sum",
    "square_sums",
    "fast_step",
    "leq_limb",
    "leq_top",
)


@micropython.viper
def process(buf: ptr32, n: int, st: ptr32, co: ptr32):
    """Filter n samples of buf and update the levels in st (see the layout above)."""
    # ptr32 loads are zero-extended on a 64-bit port; (v ^ m31) - m31 sign-extends them
    # there and is the identity on the ESP32's 32-bit words. m31 = 2**31 comes from the
    # array: as a literal it would not fit a 32-bit small integer.
    m31 = co[_M31]
    kz = co[_KZ]
    kp1 = co[_KP1]
    kp2 = co[_KP1 + 1]
    kp3 = co[_KP1 + 2]
    kp4 = co[_KP1 + 3]
    c0 = (co[_C0] ^ m31) - m31
    c1 = (co[_C0 + 1] ^ m31) - m31
    c2 = (co[_C0 + 2] ^ m31) - m31
    c3 = (co[_C0 + 3] ^ m31) - m31
    xp = (st[_XP] ^ m31) - m31
    y1 = (st[_Y1] ^ m31) - m31
    y2 = (st[_Y1 + 1] ^ m31) - m31
    y3 = (st[_Y1 + 2] ^ m31) - m31
    y4 = (st[_Y4] ^ m31) - m31
    e1 = st[_E1]
    e2 = st[_E1 + 1]
    e3 = st[_E1 + 2]
    e4 = st[_E1 + 3]
    d0 = (st[_D0] ^ m31) - m31
    d1 = (st[_D0 + 1] ^ m31) - m31
    d2 = (st[_D0 + 2] ^ m31) - m31
    d3 = (st[_D0 + 3] ^ m31) - m31
    d4 = (st[_D0 + 4] ^ m31) - m31
    d5 = (st[_D0 + 5] ^ m31) - m31
    hi = st[_HI]
    mid = st[_MID]
    lo = st[_LO]
    cnt = st[_CNT]
    nclip = st[_NCLIP]
    warm = st[_WARM]
    probe = st[_PROBE]
    if st[_FRESH] and n > 0:
        # Start the differencer at the first sample, so a DC offset causes no transient.
        xp = ((buf[0] ^ m31) - m31) >> _SHIFT
        st[_FRESH] = 0
    i = 0
    while i < n:
        x = ((buf[i] ^ m31) - m31) >> _SHIFT  # |x| <= 2**20
        i += 1
        if (x >= _CLIP or x <= -_CLIP) and warm == 0:
            nclip += 1
        # Section 1: pole at 737.9 Hz; zero at DC, or at the microphone's corner (equaliser).
        # Each section is y += d - (k * y) >> 20. The product is split, k * (y >> 12) and
        # k * (y & 4095), so none passes 2**31: here k < 2**18.1 and |y| <= 2**21 (a section's
        # impulse response sums to at most 2 in absolute value). The truncated remainder is
        # carried to the next sample (error feedback): plain truncation would leave a DC
        # offset of 0.5 / (1 - pole), 186 LSB at 48 kHz, a floor near 45 dB SPL.
        t = x - xp + ((kz * (xp >> 12) + ((kz * (xp & 4095)) >> 12)) >> 8)
        xp = x
        b = kp1 * (y1 & 4095) + e1
        q = kp1 * (y1 >> 12) + (b >> 12)
        e1 = ((q & 255) << 12) | (b & 4095)
        t += y1 - (q >> 8)
        b = kp2 * (y2 & 4095) + e2
        q = kp2 * (y2 >> 12) + (b >> 12)
        e2 = ((q & 255) << 12) | (b & 4095)
        u = t - y1 + y2 - (q >> 8)
        y1 = t  # |y1| <= 2**21
        b = kp3 * (y3 & 4095) + e3
        q = kp3 * (y3 >> 12) + (b >> 12)
        e3 = ((q & 255) << 12) | (b & 4095)
        t = u - y2 + y3 - (q >> 8)
        y2 = u  # |y2| <= 2**22, kp2 < 2**15.5
        b = kp4 * (y4 & 4095) + e4
        q = kp4 * (y4 >> 12) + (b >> 12)
        e4 = ((q & 255) << 12) | (b & 4095)
        u = t - y3 + y4 - (q >> 8)
        y3 = t  # |y3| <= 2**23, kp3, kp4 < 2**13.1
        y4 = u  # |y4| <= 2**24
        # Linear-phase FIR, coefficients * 2**15, split the same way: |c| < 2**15.
        s = u + d5
        a = c3 * (s >> 12) + ((c3 * (s & 4095)) >> 12)
        s = d0 + d4
        a += c2 * (s >> 12) + ((c2 * (s & 4095)) >> 12)
        s = d1 + d3
        a += c1 * (s >> 12) + ((c1 * (s & 4095)) >> 12)
        a += c0 * (d2 >> 12) + ((c0 * (d2 & 4095)) >> 12)  # |a| < 2**28
        d5 = d4
        d4 = d3
        d3 = d2
        d2 = d1
        d1 = d0
        d0 = u
        a = (a + 4) >> 3
        if a < 0:
            a = 0 - a  # |a| < 1.2 * 2**24 (the FIR's taps sum to < 1.2 in absolute value)
        ah = a >> 12
        al = a & 4095
        hi += ah * ah  # a**2 = ah**2 * 2**24 + ah*al * 2**13 + al**2; each sum < 2**30
        mid += ah * al
        lo += al * al
        if probe:
            _probe(st, x, y1, y2, y3, y4, a, hi, mid, lo)
        cnt += 1
        if cnt < _SUB:
            continue
        # One sub-block: its sum of squares v = top * 2**24 + rest, rest < 2**24.
        top = hi + (mid >> 11)
        rest = ((mid & 2047) << 13) + lo
        top += rest >> 24
        rest = rest & 0xFFFFFF
        hi = 0
        mid = 0
        lo = 0
        cnt = 0
        # Normalise the sub-block's mean square to m * 2**e, m in [2**19, 2**20).
        if top > 0:
            m = top
            e = 24
            r = rest
            while m >= 0x100000:
                m = m >> 1
                e += 1
            while m < 0x80000:
                m = (m << 1) | ((r >> 23) & 1)
                r = (r << 1) & 0xFFFFFF
                e -= 1
        else:
            m = rest
            e = 0
            if m > 0:
                while m >= 0x100000:
                    m = m >> 1
                    e += 1
                while m < 0x80000:
                    m = m << 1
                    e -= 1
        e -= 5  # / 32 samples
        # Fast time weighting F += beta * (E - F), on mantissas aligned to the larger exponent.
        fm = st[_FM]
        fe = (st[_FE] ^ m31) - m31
        if fm == 0 and m == 0:
            pass
        else:
            if fm == 0:
                ex = e
                fa = 0
                ea = m
            elif m == 0:
                ex = fe
                fa = fm
                ea = 0
            elif fe >= e:
                ex = fe
                fa = fm
                ea = m >> (fe - e) if fe - e < 24 else 0
            else:
                ex = e
                ea = m
                fa = fm >> (e - fe) if e - fe < 24 else 0
            dd = (ea - fa) * co[_BETA]  # |ea - fa| < 2**20, beta < 2**11
            if probe:
                _probe_fast(st, dd)
            fa += dd >> 16
            if fa <= 0:
                fm = 0
                fe = _ZERO_E
            else:
                while fa >= 0x100000:
                    fa = fa >> 1
                    ex += 1
                while fa < 0x80000:
                    fa = fa << 1
                    ex -= 1
                fm = fa
                fe = ex
                if fe < -40:  # decayed far below one LSB: call it silence
                    fm = 0
                    fe = _ZERO_E
            st[_FM] = fm
            st[_FE] = fe
        if warm > 0:
            warm -= 1
            continue
        # Interval statistics: the energy sum, Fast extremes and the level histogram.
        a0 = st[_A0] + rest
        a1 = st[_A1] + top  # < 2**24 + 2**30.5
        a1 += a0 >> 24
        st[_A0] = a0 & 0xFFFFFF
        st[_A2] = st[_A2] + (a1 >> 24)
        st[_A1] = a1 & 0xFFFFFF
        if probe:
            _probe_leq(st, a1, st[_A2])
        nsub = st[_NSUB] + 1
        st[_NSUB] = nsub
        maxe = (st[_MAXE] ^ m31) - m31
        mine = (st[_MINE] ^ m31) - m31
        if nsub == 1 or fe > maxe or (fe == maxe and fm > st[_MAXM]):
            st[_MAXM] = fm
            st[_MAXE] = fe
        if nsub == 1 or fe < mine or (fe == mine and fm < st[_MINM]):
            st[_MINM] = fm
            st[_MINE] = fe
        b = 0
        if fm > 0 and fe > -19:
            # 1024 * log2(F) < 2**16, times 15413 (1024 * 10 * log10(2) / 0.2) < 2**30
            b = (((fe + 19) * 1024 + co[_LOG + (fm >> 13) - 64]) * 15413) >> 20
            if b >= _BINS:
                b = _BINS - 1
        st[_HIST + b] = st[_HIST + b] + 1
    st[_XP] = xp
    st[_Y1] = y1
    st[_Y1 + 1] = y2
    st[_Y1 + 2] = y3
    st[_Y4] = y4
    st[_E1] = e1
    st[_E1 + 1] = e2
    st[_E1 + 2] = e3
    st[_E1 + 3] = e4
    st[_D0] = d0
    st[_D0 + 1] = d1
    st[_D0 + 2] = d2
    st[_D0 + 3] = d3
    st[_D0 + 4] = d4
    st[_D0 + 5] = d5
    st[_HI] = hi
    st[_MID] = mid
    st[_LO] = lo
    st[_CNT] = cnt
    st[_NCLIP] = nclip
    st[_WARM] = warm


@micropython.viper
def _keep_max(st: ptr32, k: int, v: int):
    if v < 0:
        v = 0 - v
    if v > int(st[_P0 + k]):
        st[_P0 + k] = v


def _probe(st, x, y1, y2, y3, y4, a, hi, mid, lo):
    # Test mode only (the unix port, 64-bit integers): records how large values get.
    for k, v in enumerate((x, y1, y2, y3, y4, a, max(hi, mid, lo))):
        _keep_max(st, k, v)


def _probe_fast(st, dd):
    _keep_max(st, 7, dd)


def _probe_leq(st, a1, a2):
    _keep_max(st, 8, a1)
    _keep_max(st, 9, a2)


@micropython.viper
def _clear(st: ptr32, start: int, stop: int):
    i = start
    while i < stop:
        st[i] = 0
        i += 1


def new_state():
    return array.array("i", bytes(4 * _STATE))


def new_coefficients(kz, kp, fir, beta):
    co = array.array("i", bytes(4 * _COEFS))
    co[_KZ] = kz
    for k in range(4):
        co[_KP1 + k] = kp[k]
        co[_C0 + k] = fir[k]
    co[_BETA] = beta
    co[_M31] = -2147483648
    for j in range(64):
        co[_LOG + j] = round(1024 * math.log(1 + (j + 0.5) / 64) / math.log(2))
    return co


def restart(st, warm_blocks):
    """Forget all filter state; skip warm_blocks sub-blocks before counting."""
    _clear(st, 0, _STATE)
    st[_FRESH] = 1
    st[_FE] = _ZERO_E
    st[_WARM] = warm_blocks


def set_probe(st, on):
    st[_PROBE] = 1 if on else 0


def ranges(st):
    return {name: st[_P0 + k] for k, name in enumerate(PROBES)}


def counted(st):
    """Sub-blocks counted in the current interval."""
    return st[_NSUB]


def interval(st):
    """(sub-blocks, sum of squares, clipped samples, Fast max, Fast min) of the interval.

    The sum of squares is in raw units (21-bit samples); Fast levels are (mantissa,
    exponent) pairs of the mean square, mantissa 0 for zero.
    """
    energy = (st[_A2] << 48) + (st[_A1] << 24) + st[_A0]
    return (st[_NSUB], energy, st[_NCLIP], (st[_MAXM], st[_MAXE]), (st[_MINM], st[_MINE]))


def percentile_bin(st, fraction, count):
    """The histogram bin of the Fast level exceeded for this fraction of the interval."""
    need = fraction * count
    seen = 0
    b = _BINS - 1
    while b > 0:
        seen += st[_HIST + b]
        if seen >= need:
            break
        b -= 1
    return b


def reset_interval(st):
    for k in (_A0, _A1, _A2, _NSUB, _NCLIP, _MAXM, _MAXE, _MINM, _MINE):
        st[k] = 0
    _clear(st, _HIST, _STATE)
