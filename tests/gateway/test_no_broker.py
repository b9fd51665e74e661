"""A gateway without its broker says so at once, not after minutes of silence."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from lokaalmeten.services.ports import free_port


def test_a_gateway_whose_broker_is_not_there_warns_at_start(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    gateway = subprocess.Popen(
        [sys.executable, "-m", "lokaalmeten", "gateway", "--broker", f"mqtt://127.0.0.1:{port}",
         "--store", f"sqlite:///{tmp_path / 'lm.db'}", "--spool", str(tmp_path / "spool.db"),
         "--registry", str(tmp_path / "registry.db"), "--ingest-port", "0"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert gateway.stderr is not None
        deadline = time.monotonic() + 20
        lines = []
        while time.monotonic() < deadline:
            line = gateway.stderr.readline()
            lines.append(line)
            if "unreachable" in line:
                break
        assert f"broker mqtt://127.0.0.1:{port} unreachable" in lines[-1], lines
        assert "WARNING" in lines[-1]
    finally:
        gateway.terminate()
        gateway.wait(10)
