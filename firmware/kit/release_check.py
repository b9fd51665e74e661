"""Is a downloaded firmware release whole, unchanged and signed by the gateway's release key?

A release is a folder of files and its manifest, a JSON document the gateway signs with its
Ed25519 release key (the kit keeps only the public key)::

    {"v": 1, "version": "0.2.0", "march": "xtensawin", "min_free_heap": 61440,
     "files": [{"path": "kit/runtime.mpy", "size": 5123, "sha256": "9f86d0…"}, …]}

The signature covers the manifest's bytes exactly as they were downloaded, so nothing is
re-encoded before checking. Each file is then read back in small pieces (the heap holds one
piece, never a whole file) and compared by size and SHA-256. Paths stay inside the release
folder: an absolute path or ``..`` is refused, so that a release cannot name a file of the
running firmware or the outbox::

    problem = check(manifest, signature, public_key, "/update/0.2.0", "xtensawin")
    if problem is None:
        ...  # switch to it
"""

import binascii
import hashlib
import json
import os

from kit.signature import verify

_PIECE = 512  # bytes read at a time


def check(manifest, signature, public_key, folder, march):
    """None when the release in ``folder`` matches the signed ``manifest`` (bytes) and is
    built for ``march``; otherwise a sentence saying what is wrong."""
    if not verify(public_key, manifest, signature):
        return "the manifest's signature is not the release key's"
    try:
        doc = json.loads(manifest)
        files = doc["files"]
        built_for = doc["march"]
    except (ValueError, KeyError, TypeError):
        return "the manifest is not a release manifest"
    if doc.get("v") != 1:
        return "the manifest's format is not one this firmware knows"
    if built_for != march:
        return "the release is built for %s, this kit runs %s" % (built_for, march)
    for entry in files:
        problem = _check_file(folder, entry)
        if problem is not None:
            return problem
    return None


def _check_file(folder, entry):
    try:
        path, size, digest = entry["path"], entry["size"], entry["sha256"]
    except (KeyError, TypeError):
        return "a file entry of the manifest is incomplete"
    if not isinstance(path, str) or path.startswith("/") or ".." in path.split("/"):
        return "the manifest names a file outside the release: %r" % (path,)
    where = folder + "/" + path
    try:
        found = os.stat(where)[6]
    except OSError:
        return "%s is missing" % path
    if found != size:
        return "%s has %d bytes, the manifest says %d" % (path, found, size)
    hasher = hashlib.sha256()
    piece = bytearray(_PIECE)
    view = memoryview(piece)
    with open(where, "rb") as f:
        while True:
            n = f.readinto(piece)
            if not n:
                break
            hasher.update(view[:n])
    if binascii.hexlify(hasher.digest()).decode() != digest:
        return "%s is not the file the release was made with" % path
    return None
