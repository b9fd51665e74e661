# Ed25519 verification of update manifests under the real MicroPython, in a small heap: the
# vectors were signed by CPython's cryptography package (keys from a seeded random).
from binascii import unhexlify

from kit.signature import sha512, verify

MPY_HEAP = "48k"

VECTORS = [
    (
        "936db604c2108a16a8b2a303769e0796a6691c3124550b4a562718bd19afc356",
        "",
        "01e4dd89fee98c76a28076a156f967104bb9e29080cef4b78b96554244d216d4"
        "45cc48e1f52b87e09da6be985f0d42c0fe7e428bb95689892cd8da8a20f2f400",
    ),
    (
        "72d3ae53465ec85f32058b9ce558ee7afb8620171fa3a0bab5644a68d30329d4",
        "91",
        "7e2483e16219c7f9f7924df09ba0bdb7706f09d190901a3bfc83076df4423ab2"
        "6024c70b6218881e743aad6bd3d2b0d2fc10731191d34c040946d4093b3c8c08",
    ),
    (
        "d3faf7c4cfec6b97388976d6b8794761ec58515083cc8e803e15fc584732fb05",
        "22db4e04c49414b6816b87a21f0c8f6b206496ee45a5859c92dbf41f724f14ea"
        "3b3385efc2a6a8bd5fe3a930e6d314b92fa2dfbbeabb1797868c2d73c8105754",
        "7399dc7e9b84219789892ad31d8721e7591736f725d7338c79d7e4f809aefc95"
        "80de09109ad7d668d75923bb32e03bce04dd5cbf5ad5c2128024047888798e03",
    ),
]


def _vectors():
    return [(unhexlify(k), unhexlify(m), unhexlify(s)) for k, m, s in VECTORS]


def test_signatures_made_by_cryptography_verify():
    for key, message, signature in _vectors():
        assert verify(key, message, signature)


def test_a_changed_byte_anywhere_is_refused():
    key, message, signature = _vectors()[2]
    for i in (0, 31, 32, 63):
        bad = bytearray(signature)
        bad[i] ^= 1
        assert not verify(key, message, bytes(bad)), i
    assert not verify(key, message[:-1] + b"\x00", signature)
    assert not verify(key, message + b"\x00", signature)
    other = _vectors()[1][0]
    assert not verify(other, message, signature)


def test_malformed_input_is_refused_not_raised():
    key, message, signature = _vectors()[0]
    assert not verify(key[:31], message, signature)
    assert not verify(key, message, signature[:63])
    assert not verify(b"\xff" * 32, message, signature)  # not a point on the curve
    # S at or above the group order (S + L also satisfies the equation: malleable).
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(signature[32:], "little") + order
    assert not verify(key, message, signature[:32] + s.to_bytes(32, "little"))


def test_sha512_of_known_inputs():
    # FIPS 180-4's examples: "abc", and the empty message.
    assert sha512(b"abc") == unhexlify(
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    )
    assert sha512(b"") == unhexlify(
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    )
