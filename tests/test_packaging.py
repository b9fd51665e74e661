"""The wheel installs one namespace, `lokaalmeten`, with the firmware, the web pages and the
schema inside it, and builds without setuptools' warnings (once, the first `make run`
printed about 270 lines of them)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass

import pytest

from tests.helpers import REPO

# What a checkout has that is not the project's source: a build from a copy without these is
# a build from a fresh clone, and setuptools' leftovers under build/ cannot leak into it.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "var", "test-artifacts", "*.egg-info", "__pycache__",
    ".*_cache", ".hypothesis", "node_modules",
)  # fmt: skip
# Setuptools' complaints about the package configuration, old wording and new.
_COMPLAINTS = re.compile(
    r"would be ignored|absent from the `packages`|as data is deprecated|"
    r"SetuptoolsDeprecationWarning|BuildBackendWarning"
)


@dataclass
class Wheel:
    names: list[str]
    build_output: str


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    source = tmp_path_factory.mktemp("source") / "lokaalmeten"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheel")
    # Verbose: the build backend's own output, warnings included, is what is checked.
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v",
         "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    (built,) = out.glob("lokaalmeten-*.whl")
    with zipfile.ZipFile(built) as archive:
        return Wheel(archive.namelist(), output)


def test_the_build_has_no_setuptools_warnings(wheel: Wheel) -> None:
    complaints = [line for line in wheel.build_output.splitlines() if _COMPLAINTS.search(line)]
    assert complaints == []
    # The check would see them: the backend's output is in what was captured.
    assert "running build_py" in wheel.build_output


def test_only_the_lokaalmeten_namespace_is_installed(wheel: Wheel) -> None:
    top_level = {name.split("/")[0] for name in wheel.names if ".dist-info/" not in name}
    assert top_level == {"lokaalmeten"}


def test_gateway_server_and_firmware_live_under_the_namespace(wheel: Wheel) -> None:
    for name in (
        "lokaalmeten/gateway/pipeline.py",
        "lokaalmeten/server/app.py",
        "lokaalmeten/server/routes/readings.py",
        "lokaalmeten/firmware/kit/mqtt.py",
        "lokaalmeten/firmware/drivers/sds011.py",
        "lokaalmeten/firmware/sim/simkit.py",
        "lokaalmeten/protocol/record-v1.schema.json",
        "lokaalmeten/kit_tools/memory-budget.json",
    ):
        assert name in wheel.names


def _shipped(folder: str, installed: str, pattern: str) -> set[str]:
    return {
        f"{installed}/{path.relative_to(REPO / folder).as_posix()}"
        for path in (REPO / folder).rglob(pattern)
        if "__pycache__" not in path.parts
    }


def test_every_firmware_source_is_shipped(wheel: Wheel) -> None:
    sources = _shipped("firmware", "lokaalmeten/firmware", "*.py")
    assert sources <= set(wheel.names)


def test_every_file_of_the_public_pages_is_shipped(wheel: Wheel) -> None:
    pages = _shipped("server/web/static", "lokaalmeten/server/web/static", "*")
    pages |= _shipped("server/web/templates", "lokaalmeten/server/web/templates", "*")
    assert "lokaalmeten/server/web/static/map.js" in pages
    assert "lokaalmeten/server/web/static/site.css" in pages
    assert "lokaalmeten/server/web/templates/layout.html" in pages
    assert pages <= set(wheel.names)


def test_every_module_of_the_program_is_shipped(wheel: Wheel) -> None:
    folders = {
        "lokaalmeten": "lokaalmeten",
        "gateway": "lokaalmeten/gateway",
        "server": "lokaalmeten/server",
    }
    modules = set().union(*(_shipped(f, i, "*.py") for f, i in folders.items()))
    assert modules <= set(wheel.names)
