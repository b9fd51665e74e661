"""The kits whose owners chose a platform for their readings, as a forwarder sees them.

The choices live in the node directory (``lokaalmeten forward add``, gateway/directory.py);
a forwarder runs in a writer process of its own, so it reads them there, read-only, again
every few seconds: a choice made or withdrawn counts within ``refresh`` seconds, without a
restart of the gateway::

    chosen = OptIns(Path("/var/lib/lokaalmeten/registry.db"), "opensensemap")
    chosen.current()   # {"esp32-0a1b2c": {"box": "…", "token": "…", "sensors": {…}}}
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lokaalmeten.gateway.directory import DirectoryReader

REFRESH_S = 10.0


class OptIns:
    def __init__(self, registry: Path | None, target: str, refresh: float = REFRESH_S) -> None:
        self.target = target
        self.refresh = refresh
        # Public: an output that needs more of the directory (the kits' names) reads it here.
        self.reader = DirectoryReader(registry) if registry is not None else None
        self._choices: dict[str, dict[str, Any]] = {}
        self._read_at = -refresh

    def current(self) -> dict[str, dict[str, Any]]:
        if self.reader is not None and time.monotonic() - self._read_at >= self.refresh:
            self._choices = self.reader.forwarding(self.target)
            self._read_at = time.monotonic()
        return self._choices

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
