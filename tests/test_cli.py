"""The `lokaalmeten` command: help that helps, and errors without stack traces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lokaalmeten import __version__
from lokaalmeten.services.ports import free_port, wait_listening

COMMANDS = [
    "gateway", "gateway install", "server", "simulate", "demo", "version", "noise analyse",
    "flash", "deploy", "quarantine list", "quarantine show", "quarantine replay",
    "calibrate import", "calibrate fit", "calibrate list", "archive", "fleet release",
    "fleet rollout", "fleet status", "fleet pause", "fleet resume",
]  # fmt: skip


def lm(
    *args: str, cwd: Path | None = None, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lokaalmeten", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )


def test_help_lists_every_command() -> None:
    out = lm("--help")
    assert out.returncode == 0
    for command in COMMANDS:
        assert command.split()[0] in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    out = lm(*command.split(), "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


def test_version() -> None:
    assert lm("version").stdout.strip() == f"lokaalmeten {__version__}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gateway", "--broker", "http://127.0.0.1:1883"], "starts with mqtt://"),
        (["gateway", "--broker", "mqtt://127.0.0.1:99999"], "port must be a number"),
        (["gateway", "--store", "mysql://db/lm"], "unknown store"),
        (["server", "--store", "sqlite://host/lm.db"], "has no host"),
        (["server", "--port", "0"], "--port = 0: Input should be greater than or equal to 1"),
        (["simulate", "--broker", "tcp://127.0.0.1"], "starts with mqtt://"),
        (["simulate", "--interval", "0.1"], "greater than or equal to 1"),
        (["noise", "analyse", "missing.wav", "--sensitivity", "-26"], "file not found"),
    ],
)
def test_bad_options_fail_with_a_message_not_a_traceback(
    args: list[str], message: str, tmp_path: Path
) -> None:
    out = lm(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        (["server", "--store", "sqlite:///x.db"], "LM_SERVER_PORT"),
        (["demo"], "LM_SERVER_PORT"),
        (["gateway", "--store", "sqlite:///x.db"], "LM_BATCH_SIZE"),
    ],
)
def test_a_bad_environment_value_is_named_by_its_variable(
    command: list[str], variable: str, tmp_path: Path
) -> None:
    env = {**os.environ, variable: "abc"}
    out = lm(*command, cwd=tmp_path, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert variable in out.stderr and "'abc'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_the_server_refuses_a_store_that_does_not_exist_and_creates_none(
    tmp_path: Path,
) -> None:
    # Once: a typo in --store made that folder and an empty database, and an empty map.
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    out = lm("server", "--store", f"sqlite:///{missing}", "--port", "1", cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"no store at {missing}" in out.stderr and "--create-store" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "nonexistent").exists()
    # Asked for: an empty store, served.
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lokaalmeten", "server", "--store", f"sqlite:///{missing}",
         "--port", str(port), "--create-store"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_listening("127.0.0.1", port, 20)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/nodes", timeout=5).json()["value"] == []
    finally:
        server.terminate()
        server.wait(10)
    assert missing.exists()


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    env_out = subprocess.run(
        [sys.executable, "-m", "lokaalmeten", "gateway"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**__import__("os").environ, "LM_BROKER": "ftp://nowhere"},
        timeout=30,
    )
    assert env_out.returncode == 2
    assert "ftp://nowhere" in env_out.stderr and "Traceback" not in env_out.stderr


def test_a_command_starts_without_loading_the_archive_formats() -> None:
    # Every command registers `lokaalmeten archive`; loading its formats (the server's CSV
    # code, pyarrow) with it once slowed the gateway's start by half a second, and the demo's
    # server, started beside it, found no store yet.
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys, lokaalmeten.cli as c; c._register_groups(); "
         "print(sorted(m for m in ('pyarrow', 'lokaalmeten.server.csvfmt', "
         "'lokaalmeten.archive.build') if m in sys.modules))"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
