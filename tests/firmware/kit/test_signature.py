"""The kit's Ed25519 verifier (firmware/kit/signature.py) under CPython, against CPython's
hashlib and the cryptography package, on many random keys, messages and forgeries (its
MicroPython run: mpy_test_signature.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.helpers import REPO


def _kit_module() -> Any:
    """firmware/kit/signature.py as the kit has it (MicroPython code, plain Python)."""
    spec = importlib.util.spec_from_file_location(
        "kit_signature", REPO / "firmware" / "kit" / "signature.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SIGNATURE = _kit_module()
sha512, verify = _SIGNATURE.sha512, _SIGNATURE.verify


def test_sha512_equals_hashlib_over_block_boundaries() -> None:
    rng = random.Random(512)
    for length in [*range(0, 260), 1000, 4096]:
        data = rng.randbytes(length)
        assert sha512(data) == hashlib.sha512(data).digest(), length


@pytest.mark.parametrize("seed", range(12))
def test_what_cryptography_signs_verifies_and_nothing_else(seed: int) -> None:
    rng = random.Random(seed)
    key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    message = rng.randbytes(rng.randrange(0, 700))
    signature = key.sign(message)
    assert verify(public, message, signature)
    flipped = bytearray(signature)
    flipped[rng.randrange(64)] ^= 1 << rng.randrange(8)
    assert not verify(public, message, bytes(flipped))
    if message:
        changed = bytearray(message)
        changed[rng.randrange(len(message))] ^= 1
        assert not verify(public, bytes(changed), signature)
    other = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)).public_key()
    assert not verify(other.public_bytes(Encoding.Raw, PublicFormat.Raw), message, signature)


def test_the_curve_constants_written_out_are_their_definitions() -> None:
    s = _SIGNATURE
    p = 2**255 - 19
    assert -121665 * pow(121666, p - 2, p) % p == s._D
    assert 2 * s._D % p == s._D2
    assert pow(2, (p - 1) // 4, p) == s._SQRT_M1
    assert 4 * pow(5, p - 2, p) % p == s._BY
    x, y = s._BX, s._BY
    assert (-x * x + y * y - 1 - s._D * x * x * y * y) % p == 0  # on the curve
    assert x % 2 == 0  # the base point's x is the even root (RFC 8032, 5.1)
    assert (x, y, 1, x * y % p) == s._BASE
