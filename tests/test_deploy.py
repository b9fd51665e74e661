"""The files a gateway is installed with: loaded by the real daemons, consistent with the code."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from pathlib import Path

import pytest

from lokaalmeten.gateway.registry import Registry
from lokaalmeten.services.influxdb import GUARDRAILS, InfluxDB
from lokaalmeten.services.local_server import find_binary
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn, stop_all
from lokaalmeten.settings import GatewaySettings, ServerSettings
from tests.helpers import REPO

DEPLOY = REPO / "deploy"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name)
    return parser


@pytest.mark.parametrize(
    ("name", "command"),
    [("lokaalmeten-gateway.service", "gateway"), ("lokaalmeten-server.service", "server")],
)
def test_units_run_the_command_and_always_restart(name: str, command: str) -> None:
    service = unit(name)["Service"]
    assert service["ExecStart"].split()[1] == command
    assert service["ExecStart"].split()[0].endswith("/bin/lokaalmeten")
    assert service["Restart"] == "always"
    assert service["EnvironmentFile"] == "/etc/lokaalmeten/lokaalmeten.env"
    assert service["User"] == "lokaalmeten"


def test_units_pass_systemd_analyze_where_available() -> None:
    tool = find_binary("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    for path in sorted((DEPLOY / "systemd").glob("*.*")):  # the services and the timer
        done = subprocess.run(
            [tool, "verify", "--man=no", str(path)], capture_output=True, text=True
        )
        assert "Unknown key" not in done.stderr and "Unknown section" not in done.stderr


def test_the_archive_runs_once_a_night_after_the_utc_day_ends() -> None:
    service = unit("lokaalmeten-archive.service")["Service"]
    assert service["ExecStart"].split()[1:] == ["archive"]
    assert service["Type"] == "oneshot"
    assert service["User"] == "lokaalmeten"
    assert service["EnvironmentFile"] == "/etc/lokaalmeten/lokaalmeten.env"
    # The folder the server publishes is the one the archive writes, in both units and in
    # the sample environment file.
    folder = "LM_ARCHIVE_FOLDER=/var/lib/lokaalmeten/archive"
    assert service["Environment"] == folder
    assert unit("lokaalmeten-server.service")["Service"]["Environment"] == folder
    assert folder in (DEPLOY / "lokaalmeten.env").read_text().splitlines()
    assert service["ReadWritePaths"] == "/var/lib/lokaalmeten"
    timer = unit("lokaalmeten-archive.timer")
    assert timer["Timer"]["Unit"] == "lokaalmeten-archive.service"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    tool = find_binary("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    # On a gateway in the Netherlands: 01:20 (winter) or 02:20 (summer), 00:20 UTC.
    done = subprocess.run(
        [tool, "calendar", "--iterations=2", timer["Timer"]["OnCalendar"]],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "Europe/Amsterdam"},
    )
    assert done.returncode == 0, done.stderr
    local = re.findall(r"(?:Next elapse|Iter\. #2): \w+ \S+ (\S+ \S+)", done.stdout)
    utc = re.findall(r"\(in UTC\): \w+ \S+ (\S+ \S+)", done.stdout)
    assert len(local) == 2 and set(local) <= {"01:20:00 CET", "02:20:00 CEST"}, done.stdout
    assert utc == ["00:20:00 UTC", "00:20:00 UTC"], done.stdout


def test_environment_file_names_only_real_settings() -> None:
    known = {f"LM_{name.upper()}" for name in GatewaySettings.model_fields}
    known |= {f"LM_{name.upper()}" for name in ServerSettings.model_fields}
    names = re.findall(r"^(LM_[A-Z_]+)=", (DEPLOY / "lokaalmeten.env").read_text(), re.M)
    assert names and set(names) <= known


@pytest.mark.mosquitto
def test_mosquitto_starts_with_the_sample_configuration(tmp_path: Path) -> None:
    binary = Mosquitto.find()
    if binary is None:
        pytest.skip("mosquitto not installed")
    registry = Registry(tmp_path / "registry.db")
    registry.add("kit-1")
    passwd, acl = registry.write_mosquitto_files(tmp_path / "lokaalmeten")
    port = free_port()
    text = (DEPLOY / "mosquitto" / "lokaalmeten.conf").read_text()
    text = (
        text.replace("listener 1883", f"listener {port} 127.0.0.1")
        .replace("/etc/mosquitto/lokaalmeten/passwd", str(passwd))
        .replace("/etc/mosquitto/lokaalmeten/acl", str(acl))
        .replace("/var/lib/mosquitto/", f"{tmp_path}/")
    )
    config = tmp_path / "mosquitto.conf"
    import getpass

    config.write_text(f"user {getpass.getuser()}\n{text}")
    process = spawn([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_listening("127.0.0.1", port, 10, alive=lambda: process.poll() is None), (
            process.stderr.read().decode() if process.stderr else ""
        )
    finally:
        stop_all([process])


@pytest.mark.influxdb
def test_influxdb_reads_the_sample_configuration_with_the_launchers_guardrails(
    tmp_path: Path,
) -> None:
    binary = InfluxDB.find()
    if binary is None:
        pytest.skip("influxd not installed")
    text = (DEPLOY / "influxdb" / "influxdb.conf").read_text()
    for key, value in GUARDRAILS.items():
        assert re.search(rf"^\s*{key} = {re.escape(str(value))}$", text, re.M), key
    sample = tmp_path / "influxdb.conf"
    sample.write_text(text.replace("/var/lib/influxdb", str(tmp_path)))
    merged = subprocess.run(
        [binary, "config", "-config", str(sample)], capture_output=True, text=True, check=True
    ).stdout
    assert "max-select-buckets = 100000" in merged
    assert 'bind-address = "127.0.0.1:8086"' in merged
