"""The gateway's counters: what came in, what was stored, what was refused and why."""

from __future__ import annotations

import threading
from collections import Counter


class GatewayMetrics:
    """Thread-safe counters; ``snapshot()`` gives a consistent copy for logs and tests."""

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

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {**self._counts, "refused": dict(self._refused)}

    def summary(self) -> str:
        snap = self.snapshot()
        refused = snap.pop("refused")
        parts = [f"{name}={value}" for name, value in sorted(snap.items())]
        if isinstance(refused, dict) and refused:
            reasons = ",".join(f"{reason}:{n}" for reason, n in sorted(refused.items()))
            parts.append(f"refused[{reasons}]")
        return " ".join(parts) or "nothing received yet"
