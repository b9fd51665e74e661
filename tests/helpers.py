"""Small helpers the tests share."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def record(
    node: str = "kit-1",
    seq: int = 1,
    time_text: str | None = "2026-11-27T10:00:00Z",
    **values: float,
) -> bytes:
    """A protocol v1 record as a kit would publish it."""
    doc: dict[str, Any] = {
        "v": 1,
        "node": node,
        "seq": seq,
        "time": time_text,
        "values": values or {"pm25": 7.5},
    }
    return json.dumps(doc).encode()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
