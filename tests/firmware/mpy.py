"""Run a snippet of firmware code in the real MicroPython interpreter and return its output."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lokaalmeten.simulate import micropython_env


def run_micropython(micropython: str, code: str, tmp_path: Path, heap: str = "64k") -> str:
    script = tmp_path / "snippet.py"
    script.write_text(code)
    done = subprocess.run(
        [micropython, "-X", f"heapsize={heap}", str(script)],
        env=micropython_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise AssertionError(f"MicroPython failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout
