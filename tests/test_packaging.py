"""The wheel installs one namespace, `lokaalmeten`, with the firmware and schema inside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.helpers import REPO


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("lokaalmeten-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_only_the_lokaalmeten_namespace_is_installed(wheel_names: list[str]) -> None:
    top_level = {name.split("/")[0] for name in wheel_names if ".dist-info/" not in name}
    assert top_level == {"lokaalmeten"}


def test_gateway_server_and_firmware_live_under_the_namespace(wheel_names: list[str]) -> None:
    for name in (
        "lokaalmeten/gateway/pipeline.py",
        "lokaalmeten/server/app.py",
        "lokaalmeten/server/routes/readings.py",
        "lokaalmeten/firmware/kit/mqtt.py",
        "lokaalmeten/firmware/sim/simkit.py",
        "lokaalmeten/protocol/record-v1.schema.json",
    ):
        assert name in wheel_names


def test_every_firmware_source_is_shipped(wheel_names: list[str]) -> None:
    sources = {
        f"lokaalmeten/firmware/{p.relative_to(REPO / 'firmware')}"
        for p in (REPO / "firmware").rglob("*.py")
    }
    assert sources <= set(wheel_names)
