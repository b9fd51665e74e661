"""``lokaalmeten fleet release``: a signed firmware release that kits can update to.

A release is built once per kind of chip (mpy-cross architecture), as ``deploy`` builds for
one kit, into ``<releases>/<version>/<march>/``: the compiled files, ``manifest.json`` and
``manifest.sig``. The manifest lists every file with its size and SHA-256, the version, the
boards the build is for and the smallest heap the firmware needs (the memory budget, without
sensors); the signature is Ed25519 over the manifest's bytes, by the gateway's release key.
A kit checks both with ``firmware/kit/release_check.py`` before it switches, holding only
the public key::

    key = release_key(Path("/var/lib/lokaalmeten/release.key"))   # made on first use
    made = make_release(firmware_dir(), "0.2.0", Path("/var/lib/lokaalmeten/releases"), key)
    made.folders["xtensawin"]   # .../releases/0.2.0/xtensawin

A release is never changed: a version that exists is refused, and the folder appears only
once every build is complete (it is made under a temporary name and renamed), so a kit never
finds half a release.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lokaalmeten.kit_tools.boards import BOARDS
from lokaalmeten.kit_tools.budget import heap_needed_kib
from lokaalmeten.kit_tools.build import BuildError, KitFile, build_firmware
from lokaalmeten.kit_tools.chips import CHIPS

# The kit's own start-up and its way back (firmware/slots.py) stay those it was deployed
# with: a release holds only the packages (kit/, drivers/, noise/), so that no release can
# break how a kit boots or rolls back.
DEPLOYED_ONLY = ("main.py", "boot.py", "slots.py")
MANIFEST_FORMAT = 1  # firmware/kit/release_check.py accepts this one
SIMULATED_MARCH = "x64"  # MicroPython's unix port on a PC: simulated kits (lokaalmeten simulate)
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]{0,31}")
_KEY_BYTES = 32


class ReleaseError(RuntimeError):
    """The release cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class Release:
    version: str
    folders: dict[str, Path]  # march -> the build's folder
    files: int  # per build
    size: int  # bytes of the largest build


def release_key(path: Path) -> Ed25519PrivateKey:
    """The gateway's release key in ``path`` (its 32 secret bytes), made there on first use,
    readable by its owner only."""
    if path.exists():
        secret = path.read_bytes()
        if len(secret) != _KEY_BYTES:
            raise ReleaseError(f"{path} is not a release key (32 bytes); move it away to make one")
        return Ed25519PrivateKey.from_private_bytes(secret)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    secret = key.private_bytes_raw()
    # Created with its final mode: the secret is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secret)
    return key


def public_key(key: Ed25519PrivateKey) -> bytes:
    """The 32 bytes a kit verifies releases with."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def make_release(
    source: Path,
    version: str,
    releases: Path,
    key: Ed25519PrivateKey,
    marches: tuple[str, ...] = (),
) -> Release:
    """Build the firmware in ``source`` for every kind of chip (or the ``marches`` given) as
    release ``version`` under ``releases``, signed by ``key``; ReleaseError (nothing left
    behind) when it cannot."""
    if not _VERSION.fullmatch(version):
        raise ReleaseError(
            f"version {version!r}: use letters, digits, '.', '+' and '-' (up to 32), e.g. 0.2.0"
        )
    if not (source / "kit" / "runtime.py").is_file():
        raise ReleaseError(f"{source} is not a firmware folder (it has no kit/runtime.py)")
    final = releases / version
    if final.exists():
        raise ReleaseError(
            f"release {version} exists in {releases}: a release is never changed; "
            "give the new one a new version"
        )
    partial = releases / f".{version}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # what an interrupted run left
    known = {chip.march for chip in CHIPS} | {SIMULATED_MARCH}
    unknown = sorted(set(marches) - known)
    if unknown:
        raise ReleaseError(f"--march {', '.join(unknown)}: known are {', '.join(sorted(known))}")
    marches = tuple(sorted(set(marches) or {chip.march for chip in CHIPS}))
    try:
        size, count = 0, 0
        for march in marches:
            folder = partial / march
            try:
                files = build_firmware(folder, march, root=source, skip=DEPLOYED_ONLY)
            except BuildError as exc:
                raise ReleaseError(str(exc)) from None
            manifest = _manifest(version, march, files)
            (folder / "manifest.json").write_bytes(manifest)
            (folder / "manifest.sig").write_bytes(key.sign(manifest))
            size, count = max(size, sum(f.size for f in files)), len(files)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Release(version, {m: final / m for m in marches}, count, size)


def _manifest(version: str, march: str, files: list[KitFile]) -> bytes:
    chips = {chip.name for chip in CHIPS if chip.march == march}
    doc = {
        "v": MANIFEST_FORMAT,
        "version": version,
        "march": march,
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "boards": sorted(board.name for board in BOARDS if board.chip in chips),
        # The heap the firmware itself needs, without any sensor's (the memory budget).
        "min_free_heap_kib": round(heap_needed_kib(()), 1),
        "files": [
            {
                "path": f.device_path,
                "size": f.size,
                "sha256": hashlib.sha256(f.local.read_bytes()).hexdigest(),
            }
            for f in sorted(files, key=lambda f: f.device_path)
        ],
    }
    return json.dumps(doc, indent=1).encode()
