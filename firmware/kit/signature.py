"""Ed25519 signature verification (RFC 8032, 5.1.7) for update manifests.

The stock MicroPython image offers hashlib.sha256 but no SHA-512, no HMAC and no signature
check from Python (its mbedTLS verifies certificates only inside a TLS handshake), so both
are here, on MicroPython's big integers. A kit verifies one small manifest per update; the
manifest's SHA-256 of each file does the rest (release_check.py). Only public inputs: no
secret is handled, so nothing needs to run in constant time::

    from kit.signature import verify
    ok = verify(release_public_key, manifest_bytes, signature)  # True or False
"""

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_D2 = 2 * _D % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_M64 = 0xFFFFFFFFFFFFFFFF


def _primes(count):
    found = [2]
    n = 3
    while len(found) < count:
        if all(n % p for p in found if p * p <= n):
            found.append(n)
        n += 1
    return found


def _root_bits(n, k):
    # The first 64 bits of the fraction of n's k-th root (FIPS 180-4, 4.2.3 and 5.3.5).
    scale = 1 << 64
    target = n * scale**k
    low, high = 0, 1 << (64 + 8)
    while low < high:
        mid = (low + high + 1) // 2
        if mid**k <= target:
            low = mid
        else:
            high = mid - 1
    return low & _M64


_PRIMES = _primes(80)
_K = [_root_bits(p, 3) for p in _PRIMES]
_H0 = [_root_bits(p, 2) for p in _PRIMES[:8]]
del _PRIMES


def _rotr(x, n):
    return ((x >> n) | (x << (64 - n))) & _M64


def sha512(data):
    """SHA-512 of ``data`` (bytes), 64 bytes."""
    h = list(_H0)
    length = len(data)
    tail = b"\x80" + bytes((111 - length) % 128) + (length * 8).to_bytes(16, "big")
    message = bytes(data) + tail
    w = [0] * 80
    for block in range(0, len(message), 128):
        for i in range(16):
            w[i] = int.from_bytes(message[block + 8 * i : block + 8 * i + 8], "big")
        for i in range(16, 80):
            x, y = w[i - 15], w[i - 2]
            s0 = _rotr(x, 1) ^ _rotr(x, 8) ^ (x >> 7)
            s1 = _rotr(y, 19) ^ _rotr(y, 61) ^ (y >> 6)
            w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & _M64
        a, b, c, d, e, f, g, hh = h
        for i in range(80):
            t1 = hh + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41))
            t1 = (t1 + ((e & f) ^ (~e & g)) + _K[i] + w[i]) & _M64
            t2 = _rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)
            t2 = (t2 + ((a & b) ^ (a & c) ^ (b & c))) & _M64
            hh, g, f, e = g, f, e, (d + t1) & _M64
            d, c, b, a = c, b, a, (t1 + t2) & _M64
        h = [(h[i] + v) & _M64 for i, v in enumerate((a, b, c, d, e, f, g, hh))]
    return b"".join(x.to_bytes(8, "big") for x in h)


# Points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z.


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = p[3] * _D2 * q[3] % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _double(p):
    a = p[0] * p[0] % _P
    b = p[1] * p[1] % _P
    c = 2 * p[2] * p[2] % _P
    h = a + b
    s = p[0] + p[1]
    e = h - s * s % _P
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _x_of(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


def _point(encoded):
    n = int.from_bytes(encoded, "little")
    y = n & ((1 << 255) - 1)
    x = _x_of(y, n >> 255)
    return None if x is None else (x, y, 1, x * y % _P)


_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _x_of(_BY, 0)
_BASE = (_BX, _BY, 1, _BX * _BY % _P)
_ZERO = (0, 1, 1, 0)


def verify(public_key, message, signature):
    """True when ``signature`` (64 bytes) is the Ed25519 signature of ``message`` by the key
    ``public_key`` (32 bytes); False for anything else, malformed input included."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _point(public_key)
    r = _point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    k = int.from_bytes(sha512(signature[:32] + public_key + message), "little") % _L
    # [S]B - [k]A == R, both scalars in one pass of doublings (Straus).
    minus_a = ((_P - a[0]) % _P, a[1], a[2], (_P - a[3]) % _P)
    both = _add(_BASE, minus_a)
    q = _ZERO
    for i in range(252, -1, -1):
        q = _double(q)
        bits = (s >> i) & 1 | ((k >> i) & 1) << 1
        if bits == 1:
            q = _add(q, _BASE)
        elif bits == 2:
            q = _add(q, minus_a)
        elif bits == 3:
            q = _add(q, both)
    return (q[0] * r[2] - r[0] * q[2]) % _P == 0 and (q[1] * r[2] - r[1] * q[2]) % _P == 0
