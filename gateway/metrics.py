"""The gateway's counters: what came in, what was stored, what was refused and why."""

from __future__ import annotations

import threading
from collections import Counter


class GatewayMetrics:
    """Thread-safe counters, read by the log summary and the tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def refuse(self, reason: str, amount: int = 1) -> None:
        with self._lock:
            self._refused[reason] += amount

    def count(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def refusals(self) -> dict[str, int]:
        """Refused messages (or values) per reason."""
        with self._lock:
            return dict(self._refused)

    def summary(self) -> str:
        parts = [f"{name}={value}" for name, value in sorted(self.counts().items())]
        refused = self.refusals()
        if refused:
            reasons = ",".join(f"{reason}:{n}" for reason, n in sorted(refused.items()))
            parts.append(f"refused[{reasons}]")
        return " ".join(parts) or "nothing received yet"
