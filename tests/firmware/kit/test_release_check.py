"""A kit's check of a downloaded release (firmware/kit/release_check.py), run by the real
MicroPython on release folders made here and signed with CPython's cryptography package: a
whole, signed release passes; a tampered file, a truncated download, a foreign signature, a
path out of the folder and a build for another chip are each refused with their reason."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.firmware.mpy import kit_release_check

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
FILES = {"kit/runtime.mpy": bytes(range(256)) * 9, "main.py": b"import kit.runtime\n"}


def release(folder: Path, *, key: Ed25519PrivateKey = KEY, march: str = "xtensawin",
            names: dict[str, str] | None = None) -> Path:  # fmt: skip
    for path, data in FILES.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    entries = [
        {"path": (names or {}).get(path, path), "size": len(data),
         "sha256": hashlib.sha256(data).hexdigest()}
        for path, data in FILES.items()
    ]  # fmt: skip
    manifest = json.dumps(
        {"v": 1, "version": "0.2.0", "march": march, "min_free_heap": 61440, "files": entries}
    ).encode()
    (folder / "manifest.json").write_bytes(manifest)
    (folder / "manifest.sig").write_bytes(key.sign(manifest))
    return folder


def kit_check(micropython: str, folder: Path, march: str = "xtensawin") -> str:
    public = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return kit_release_check(micropython, folder, public, march)


def test_a_whole_signed_release_passes(micropython: str, tmp_path: Path) -> None:
    assert kit_check(micropython, release(tmp_path)) == "None"


def test_a_tampered_file_is_refused(micropython: str, tmp_path: Path) -> None:
    folder = release(tmp_path)
    data = bytearray((folder / "kit/runtime.mpy").read_bytes())
    data[1000] ^= 0x01  # same size, one bit changed
    (folder / "kit/runtime.mpy").write_bytes(bytes(data))
    assert kit_check(micropython, folder) == (
        "kit/runtime.mpy is not the file the release was made with"
    )


def test_a_truncated_download_is_refused(micropython: str, tmp_path: Path) -> None:
    folder = release(tmp_path)
    (folder / "kit/runtime.mpy").write_bytes(FILES["kit/runtime.mpy"][:1500])
    assert kit_check(micropython, folder) == (
        "kit/runtime.mpy has 1500 bytes, the manifest says 2304"
    )
    (folder / "main.py").unlink()
    (folder / "kit/runtime.mpy").write_bytes(FILES["kit/runtime.mpy"])
    assert kit_check(micropython, folder) == "main.py is missing"


def test_a_signature_by_another_key_or_an_edited_manifest_is_refused(
    micropython: str, tmp_path: Path
) -> None:
    folder = release(tmp_path / "a", key=OTHER)
    assert kit_check(micropython, folder) == "the manifest's signature is not the release key's"
    folder = release(tmp_path / "b")
    manifest = (folder / "manifest.json").read_bytes()
    (folder / "manifest.json").write_bytes(manifest.replace(b"0.2.0", b"0.2.1"))
    assert kit_check(micropython, folder) == "the manifest's signature is not the release key's"


def test_a_path_out_of_the_release_or_another_chip_is_refused(
    micropython: str, tmp_path: Path
) -> None:
    folder = release(tmp_path / "a", names={"main.py": "../main.py"})
    assert kit_check(micropython, folder) == (
        "the manifest names a file outside the release: '../main.py'"
    )
    folder = release(tmp_path / "b", march="rv32imc")
    assert kit_check(micropython, folder) == (
        "the release is built for rv32imc, this kit runs xtensawin"
    )
