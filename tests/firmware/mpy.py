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


_RELEASE_CHECK = """
import binascii
from kit.release_check import check
folder = {folder!r}
with open(folder + "/manifest.json", "rb") as f:
    manifest = f.read()
with open(folder + "/manifest.sig", "rb") as f:
    signature = f.read()
print("RESULT", check(manifest, signature, binascii.unhexlify({key!r}), folder, {march!r}))
"""


def kit_release_check(
    micropython: str,
    folder: Path,
    public_key: bytes,
    march: str = "xtensawin",
    compiled: Path | None = None,
    heap: str = "48k",
) -> str:
    """What firmware/kit/release_check.py says of the release in ``folder``: "None" when it
    passes, else its sentence (``compiled``: the firmware as .mpy, as a kit runs it)."""
    script = _RELEASE_CHECK.format(folder=str(folder), key=public_key.hex(), march=march)
    done = subprocess.run(
        [micropython, "-X", f"heapsize={heap}", "-c", script],
        env=micropython_env(fakes=True, compiled=compiled),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout + done.stderr
    return lines[-1].removeprefix("RESULT ")
