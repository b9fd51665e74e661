"""Writing an archive file so that a reader never sees half of one, and so that the same
content makes the same bytes.

    with Replacement(folder / "daily/readings-2026-11-28.csv.gz") as out:
        out.stream.write(b"...")
    out.sha256, out.size, out.changed   # changed: False when the old file held these bytes

The new content goes to a temporary file beside the target, is flushed to disk, and
replaces the target in one rename (atomic on POSIX), so a crash or a full disk leaves the
old file or the new one, never a mix. A file whose bytes did not change is left alone, so
that its Last-Modified (and every cache keyed on it) stays.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Hashing:
    """A binary stream that hashes and counts what passes through to ``target``."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()

    # What pyarrow asks of a Python file it writes Parquet to.
    closed = False

    def tell(self) -> int:
        return self.size


class Replacement:
    def __init__(self, target: Path) -> None:
        self.target = target
        self.temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        self.sha256 = ""
        self.size = 0
        self.changed = False

    def __enter__(self) -> Replacement:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.temporary.open("wb")
        self._hashing = _Hashing(self._file)
        return self

    @property
    def stream(self) -> _Hashing:
        return self._hashing

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if kind is not None:
                return
            self.sha256, self.size = self._hashing.digest.hexdigest(), self._hashing.size
            if self.target.is_file() and file_sha256(self.target) == self.sha256:
                return
            os.replace(self.temporary, self.target)
            self.changed = True
            _sync_folder(self.target.parent)
        finally:
            self.temporary.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """The rename itself made durable: on Linux a folder's entries are flushed by fsync."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_text(target: Path, text: str) -> bool:
    """Replace ``target`` with ``text`` (UTF-8) atomically; True when it changed."""
    with Replacement(target) as out:
        out.stream.write(text.encode())
    return out.changed
