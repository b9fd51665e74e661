"""One configuration for every command: the installation's file (or LM_CONFIG) is read by
the gateway, the server, ``nodes``, ``places`` and ``deploy`` from any folder; the
environment wins over it and an option over both; retired, unknown and bad names are
refused in the user's own words; a file that does not exist where the installation names
another is refused instead of created.

Once: the installer's hint, run from a home folder, made a new empty ``./var/registry.db``
and rewrote the broker's passwords from it; ``places set`` saved into a store the server
never read; one ``LM_HTTP_PORT`` moved the gateway's ingest and the server onto one port.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from lokaalmeten.gateway.registry import Registry
from lokaalmeten.readings import Reading
from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.settings import (
    GatewaySettings,
    ServerSettings,
    SettingsError,
    refuse_outside_installation,
)
from lokaalmeten.store import open_store
from tests.helpers import REPO, reachable_by_others
from tests.test_cli import lm


def installation(root: Path, **extra: str) -> tuple[Path, dict[str, str]]:
    """A configuration file naming files under ``root``, as the installer's names /var/lib."""
    state = root / "state"
    state.mkdir(parents=True)
    (root / "mosquitto").mkdir()
    lines = {
        "LM_BROKER": "mqtt://gateway@127.0.0.1:1",
        "LM_MQTT_PASSWORD": "secret",
        "LM_STORE": f"sqlite://{state}/readings.db",
        "LM_SPOOL": str(state / "spool.db"),
        "LM_REGISTRY": str(state / "registry.db"),
        "LM_MOSQUITTO_DIR": str(root / "mosquitto"),
        **extra,
    }
    config = root / "lokaalmeten.env"
    config.write_text(
        "# as deploy/lokaalmeten.env\n" + "".join(f"{k}={v}\n" for k, v in lines.items())
    )
    return config, lines


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    config, lines = installation(tmp_path / "install")
    monkeypatch.setenv("LM_CONFIG", str(config))
    for key in lines:
        monkeypatch.delenv(key, raising=False)
    return config, lines


def test_the_file_is_read_the_environment_wins_and_an_option_wins_over_both(
    installed: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, lines = installed
    settings = GatewaySettings()
    assert settings.registry == lines["LM_REGISTRY"] and settings.spool == lines["LM_SPOOL"]
    assert settings.broker_address.password == "secret"
    assert ServerSettings().store == lines["LM_STORE"]  # the server reads the gateway's store
    monkeypatch.setenv("LM_SPOOL", "/elsewhere/spool.db")
    assert GatewaySettings().spool == "/elsewhere/spool.db"
    assert GatewaySettings(spool="/option/spool.db").spool == "/option/spool.db"


def test_without_a_file_the_defaults_are_the_installed_paths_not_the_current_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LM_CONFIG", "none")
    settings = GatewaySettings()
    for path in (settings.spool, settings.registry, settings.store.removeprefix("sqlite://")):
        assert path.startswith("/var/lib/lokaalmeten/"), path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("LM_HTTP_PORT=8080", "LM_HTTP_PORT in {config} is no longer read: set LM_INGEST_PORT"),
        ("LM_HOST=0.0.0.0", "LM_HOST in {config} is no longer read: set LM_SERVER_HOST"),
        ("LM_REGISTERY=/x.db", "LM_REGISTERY in {config} is not a setting"),
    ],
)
def test_retired_and_unknown_names_in_the_file_are_refused(
    tmp_path: Path, line: str, message: str
) -> None:
    config, _ = installation(tmp_path / "install")
    config.write_text(config.read_text() + line + "\n")
    env = {**os.environ, "LM_CONFIG": str(config)}
    for command in (["nodes", "list"], ["server"], ["gateway"]):
        out = lm(*command, cwd=tmp_path, env=env)
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        assert message.format(config=config) in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("command", "pointer"),
    [(["gateway"], "LM_INGEST_PORT"), (["server"], "LM_SERVER_PORT"), (["demo"], "LM_SERVER_PORT")],
)
def test_the_old_port_variable_is_refused_with_a_pointer(
    tmp_path: Path, command: list[str], pointer: str
) -> None:
    out = lm(*command, cwd=tmp_path, env={**os.environ, "LM_HTTP_PORT": "8080"})
    assert out.returncode == 2
    assert "LM_HTTP_PORT is no longer read" in out.stderr and pointer in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_the_two_ports_are_set_apart(installed: tuple[Path, dict[str, str]]) -> None:
    config, _ = installed
    config.write_text(config.read_text() + "LM_INGEST_PORT=9081\nLM_SERVER_PORT=9000\n")
    assert GatewaySettings().ingest_port == 9081
    assert ServerSettings().server_port == 9000


def test_a_bad_value_in_the_file_is_named_by_its_line(tmp_path: Path) -> None:
    config, _ = installation(tmp_path / "install", LM_BATCH_SIZE="lots")
    out = lm("gateway", cwd=tmp_path, env={**os.environ, "LM_CONFIG": str(config)})
    assert out.returncode == 2
    assert f"LM_BATCH_SIZE in {config} = 'lots'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_missing_configuration_file_is_one_clear_line(tmp_path: Path) -> None:
    out = lm("nodes", "list", cwd=tmp_path, env={**os.environ, "LM_CONFIG": "/no/such.env"})
    assert out.returncode == 2
    assert "LM_CONFIG=/no/such.env: no such file" in out.stderr
    assert "Traceback" not in out.stderr


def test_every_command_finds_the_installation_from_another_folder(tmp_path: Path) -> None:
    config, lines = installation(tmp_path / "install")
    elsewhere = tmp_path / "home" / "operator"
    elsewhere.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LM_")}
    env["LM_CONFIG"] = str(config)
    registry = Path(lines["LM_REGISTRY"])
    installed = Registry(registry)
    installed.add("gateway", "gateway", "gateway install")
    installed.write_mosquitto_files(Path(lines["LM_MOSQUITTO_DIR"]))
    installed.close()
    with open_store(lines["LM_STORE"]) as store:  # the gateway's, with one reading
        store.write([Reading("esp32-0a1b2c", "pm25", int(time.time()) - 60, 7.5, "sds011")])

    added = lm("nodes", "add", "esp32-0a1b2c", cwd=elsewhere, env=env)
    assert added.returncode == 0, added.stderr
    passwd = (Path(lines["LM_MOSQUITTO_DIR"]) / "passwd").read_text()
    accounts = {line.split(":")[0] for line in passwd.splitlines()}
    assert accounts == {"gateway", "esp32-0a1b2c"}
    listed = lm("nodes", "list", cwd=elsewhere, env=env)
    assert "gateway (gateway)" in listed.stdout and "esp32-0a1b2c" in listed.stdout
    placed = lm(
        "places", "set", "esp32-0a1b2c", "--lat", "52.0907", "--lon", "5.1214",
        "--name", "Dorpsstraat", cwd=elsewhere, env=env,
    )  # fmt: skip
    assert placed.returncode == 0, placed.stderr
    assert list(elsewhere.iterdir()) == []  # nothing was made in the current folder

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lokaalmeten", "server", "--port", str(port)],
        cwd=elsewhere, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_listening("127.0.0.1", port, 20)
        nodes = httpx.get(f"http://127.0.0.1:{port}/v1/nodes", timeout=5).json()["value"]
        assert [(n["node"], n["name"]) for n in nodes] == [("esp32-0a1b2c", "Dorpsstraat")]
    finally:
        server.terminate()
        server.wait(10)


def test_a_new_file_where_the_installation_names_another_is_refused(tmp_path: Path) -> None:
    config, lines = installation(tmp_path / "install")
    env = {**os.environ, "LM_CONFIG": str(config)}
    Registry(Path(lines["LM_REGISTRY"])).close()
    cases = [
        (["nodes", "add", "kit-1", "--registry", "var/registry.db"], "registry", "LM_REGISTRY"),
        (["gateway", "--spool", "spool.db"], "spool", "LM_SPOOL"),
        (["places", "list", "--registry", "registry.db"], "registry", "LM_REGISTRY"),
        (["server", "--store", "sqlite:x.db"], "store", "LM_STORE"),
    ]
    for command, what, variable in cases:
        out = lm(*command, cwd=tmp_path, env=env)
        assert out.returncode == 2, (command, out.stderr)
        installed = lines[variable].removeprefix("sqlite://")
        assert f"no {what} at {tmp_path}" in out.stderr, out.stderr
        assert f"the installation ({config}) uses {installed}" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["install"]  # nothing created
    # Apart from the installation, on purpose: LM_CONFIG=none.
    apart = lm(
        "nodes", "add", "kit-1", "--registry", "var/registry.db", cwd=tmp_path,
        env={**env, "LM_CONFIG": "none"},
    )  # fmt: skip
    assert apart.returncode == 0 and (tmp_path / "var/registry.db").exists(), apart.stderr


def test_an_existing_other_file_is_used_as_asked(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    other = tmp_path / "copy.db"
    Registry(other).close()
    refuse_outside_installation(GatewaySettings(registry=str(other)), "registry")
    with pytest.raises(SettingsError, match="no registry at"):
        refuse_outside_installation(GatewaySettings(registry=str(tmp_path / "x.db")), "registry")


@pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(p) for p in ("setpriv", "unshare")),
    reason="needs root, setpriv and unshare",
)
def test_an_unreadable_configuration_says_how_to_run_the_command() -> None:
    folder = Path(tempfile.mkdtemp(prefix="lm-config-"))  # a folder others may enter
    folder.chmod(0o755)
    config, _ = installation(folder / "install")
    config.chmod(0o600)
    (folder / "install").chmod(0o755)
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               sys.executable, "-m", "lokaalmeten", "nodes", "list"]  # fmt: skip
    # The checkout and its .venv may lie in a folder only root may enter (mktemp -d).
    opened = reachable_by_others([Path(sys.base_prefix), REPO], folder / "reachable")
    out = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"set -e\n{opened}exec {shlex.join(command)}"],
        capture_output=True, text=True, cwd="/", timeout=60,
        env={**os.environ, "LM_CONFIG": str(config), "HOME": "/nonexistent"},
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert f"cannot read the configuration {config}" in out.stderr
    assert "sudo -u lokaalmeten" in out.stderr and "Traceback" not in out.stderr
    shutil.rmtree(folder)
