"""lokaalmeten gateway install, against a temporary root folder (never the real /etc).

Commands (apt-get, useradd, chown, systemctl, pip) are recorded, not run; for the second,
idempotent run the test then makes what those commands would have made (dpkg's status
entries, the user in /etc/passwd, the systemd links, the program in the venv).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lokaalmeten.gateway.install import (
    ENV_FILE,
    JOURNALD,
    InstallError,
    InstallOptions,
    installed_packages,
    plan_install,
)
from lokaalmeten.gateway.registry import Registry
from tests.helpers import REPO
from tests.test_cli import lm

DEPLOY = REPO / "deploy"


def install(root: Path, store: str = "influxdb") -> list[list[str]]:
    commands: list[list[str]] = []
    plan_install(InstallOptions(root=root, store=store, source="lokaalmeten")).apply(
        commands.append
    )
    return commands


def what_the_commands_made(root: Path, packages: list[str], units: list[str]) -> None:
    status = root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True, exist_ok=True)
    status.write_text(
        "\n".join(f"Package: {p}\nStatus: install ok installed\nVersion: 1\n" for p in packages)
    )
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        "lokaalmeten:x:998:998::/var/lib/lokaalmeten:/usr/sbin/nologin\n"
    )
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit in units:
        (wants / unit).symlink_to(f"/lib/systemd/system/{unit}")
    # systemctl enable links a timer from timers.target, as its [Install] says.
    timers = root / "etc/systemd/system/timers.target.wants"
    timers.mkdir(parents=True, exist_ok=True)
    (timers / "lokaalmeten-archive.timer").symlink_to(
        "/etc/systemd/system/lokaalmeten-archive.timer"
    )
    program = root / "opt/lokaalmeten/venv/bin/lokaalmeten"
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text("#!/bin/sh\n")


def test_a_fresh_machine_gets_everything(tmp_path: Path) -> None:
    commands = install(tmp_path)
    assert ["apt-get", "update"] in commands
    assert [
        "apt-get", "install", "--yes", "--no-install-recommends", "mosquitto", "influxdb",
        "python3-venv",
    ] in commands  # fmt: skip
    assert commands[2][0] == "useradd" and commands[2][-1] == "lokaalmeten"
    assert ["python3", "-m", "venv", "/opt/lokaalmeten/venv"] in commands
    assert ["systemctl", "daemon-reload"] in commands
    assert [
        "systemctl", "enable", "--now", "mosquitto", "influxdb",
        "lokaalmeten-gateway.service", "lokaalmeten-server.service", "lokaalmeten-archive.timer",
    ] in commands  # fmt: skip
    # exactly the files of deploy/
    for source, target in [
        ("systemd/lokaalmeten-gateway.service", "etc/systemd/system/lokaalmeten-gateway.service"),
        ("systemd/lokaalmeten-server.service", "etc/systemd/system/lokaalmeten-server.service"),
        ("systemd/lokaalmeten-archive.service", "etc/systemd/system/lokaalmeten-archive.service"),
        ("systemd/lokaalmeten-archive.timer", "etc/systemd/system/lokaalmeten-archive.timer"),
        ("mosquitto/lokaalmeten.conf", "etc/mosquitto/conf.d/lokaalmeten.conf"),
        ("influxdb/influxdb.conf", "etc/influxdb/influxdb.conf"),
    ]:
        assert (tmp_path / target).read_text() == (DEPLOY / source).read_text(), target
    assert (tmp_path / "etc/systemd/journald.conf.d/lokaalmeten.conf").read_text() == JOURNALD
    assert (tmp_path / "var/lib/lokaalmeten").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "var/lib/lokaalmeten/archive").stat().st_mode & 0o777 == 0o755
    assert ["chown", "lokaalmeten:lokaalmeten", "/var/lib/lokaalmeten/archive"] in commands


def test_the_gateway_account_and_its_token(tmp_path: Path) -> None:
    install(tmp_path)
    env = (tmp_path / "etc/lokaalmeten/lokaalmeten.env").read_text()
    assert oct((tmp_path / "etc/lokaalmeten/lokaalmeten.env").stat().st_mode & 0o777) == "0o640"
    token = next(line for line in env.splitlines() if line.startswith("LM_MQTT_PASSWORD="))
    token = token.split("=", 1)[1]
    assert token and token != "change-me"
    assert "LM_STORE=influxdb://127.0.0.1:8086/lokaalmeten" in env.splitlines()
    registry = Registry(tmp_path / "var/lib/lokaalmeten/registry.db")
    assert [e.role for e in registry.entries()] == ["gateway"]
    passwd = (tmp_path / "etc/mosquitto/lokaalmeten/passwd").read_text()
    acl = (tmp_path / "etc/mosquitto/lokaalmeten/acl").read_text()
    assert passwd.startswith("gateway:$7$") and "user gateway" in acl
    # the rest of the environment file is deploy/'s
    sample = (DEPLOY / "lokaalmeten.env").read_text().splitlines()
    differing = [a for a, b in zip(sample, env.splitlines(), strict=True) if a != b]
    assert [line.split("=")[0] for line in differing] == ["LM_MQTT_PASSWORD", "LM_STORE"]


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    install(tmp_path)
    env_before = (tmp_path / ENV_FILE.relative_to("/")).read_text()
    what_the_commands_made(
        tmp_path,
        ["mosquitto", "influxdb", "python3-venv"],
        ["mosquitto.service", "influxdb.service", "lokaalmeten-gateway.service",
         "lokaalmeten-server.service"],
    )  # fmt: skip
    plan = plan_install(InstallOptions(root=tmp_path))
    assert [c.summary for c in plan.changes] == []
    assert (tmp_path / ENV_FILE.relative_to("/")).read_text() == env_before


def test_a_changed_file_is_shown_as_a_diff_and_restarts_its_service(tmp_path: Path) -> None:
    install(tmp_path)
    what_the_commands_made(
        tmp_path, ["mosquitto", "influxdb", "python3-venv"],
        ["mosquitto.service", "influxdb.service", "lokaalmeten-gateway.service",
         "lokaalmeten-server.service"],
    )  # fmt: skip
    conf = tmp_path / "etc/mosquitto/conf.d/lokaalmeten.conf"
    conf.write_text(conf.read_text().replace("max_queued_messages 0", "max_queued_messages 100"))
    plan = plan_install(InstallOptions(root=tmp_path))
    summaries = [c.summary for c in plan.changes]
    assert summaries == [
        "file /etc/mosquitto/conf.d/lokaalmeten.conf: changed",
        "systemctl restart mosquitto",
    ]
    assert "-max_queued_messages 100\n+max_queued_messages 0" in plan.changes[0].detail
    commands: list[list[str]] = []
    plan.apply(commands.append)
    assert commands == [["systemctl", "restart", "mosquitto"]]
    assert (conf.parent / "lokaalmeten.conf.orig").read_text().count("max_queued_messages 100")


def test_sqlite_needs_no_influxdb(tmp_path: Path) -> None:
    commands = install(tmp_path, store="sqlite")
    assert [
        "apt-get", "install", "--yes", "--no-install-recommends", "mosquitto", "python3-venv",
    ] in commands  # fmt: skip
    assert not (tmp_path / "etc/influxdb").exists()
    env = (tmp_path / "etc/lokaalmeten/lokaalmeten.env").read_text()
    assert "LM_STORE=sqlite:///var/lib/lokaalmeten/readings.db" in env.splitlines()


def test_the_dpkg_status_file_is_read(tmp_path: Path) -> None:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(
        "Package: mosquitto\nStatus: install ok installed\n\n"
        "Package: influxdb\nStatus: deinstall ok config-files\n"
    )
    assert installed_packages(tmp_path) == {"mosquitto"}


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="influxdb or sqlite"):
        plan_install(InstallOptions(root=tmp_path, store="mysql"))
    with pytest.raises(InstallError, match="deployment files are not at"):
        plan_install(InstallOptions(root=tmp_path, deploy_dir=tmp_path))


def test_dry_run_prints_every_change_and_changes_nothing(tmp_path: Path) -> None:
    out = lm("gateway", "install", "--dry-run", "--root", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert os.listdir(tmp_path) == []
    text = out.stdout
    for expected in (
        "apt-get install --yes --no-install-recommends mosquitto influxdb python3-venv",
        "useradd --system",
        "directory /var/lib/lokaalmeten (mode 750",
        "file /etc/systemd/system/lokaalmeten-gateway.service: new",
        "    ExecStart=/opt/lokaalmeten/venv/bin/lokaalmeten gateway --log-format json",
        "file /etc/influxdb/influxdb.conf: new",
        "    max-select-buckets = 100000",
        "(log rotation)",
        "    SystemMaxUse=200M",
        "broker account 'gateway'",
        "systemctl enable --now mosquitto influxdb",
    ):
        assert expected in text, expected


def test_install_under_a_root_prints_the_commands_it_does_not_run(tmp_path: Path) -> None:
    out = lm("gateway", "install", "--root", str(tmp_path), "--source", "lokaalmeten")
    assert out.returncode == 0, out.stderr
    assert "(not run under --root) $ systemctl enable --now" in out.stdout
    assert (tmp_path / "etc/systemd/system/lokaalmeten-server.service").is_file()
    again = lm("gateway", "install", "--root", str(tmp_path), "--dry-run")
    assert "file /" not in again.stdout  # every file is in place


def test_gateway_without_install_still_runs_the_gateway(tmp_path: Path) -> None:
    out = lm("gateway", "--broker", "http://127.0.0.1:1883", cwd=tmp_path)
    assert out.returncode == 2 and "starts with mqtt://" in out.stderr
    assert "install" in lm("gateway", "--help").stdout
    out = lm("gateway", "install", "--store", "mysql", "--root", str(tmp_path))
    assert out.returncode == 2 and "influxdb or sqlite" in out.stderr
    assert "Traceback" not in out.stderr


def test_mosquitto_reads_the_installed_files_as_its_own_user(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The real broker, started as root and dropping to user mosquitto as on a Pi, reads the
    drop-in and the passwd/acl files that install wrote, owned as install's chown makes them."""
    import getpass
    import grp
    import pwd
    import shutil
    import subprocess
    import tempfile

    from lokaalmeten.services.mosquitto import Mosquitto
    from lokaalmeten.services.ports import free_port, wait_listening
    from lokaalmeten.services.processes import spawn, stop_all

    binary = Mosquitto.find()
    if binary is None or getpass.getuser() != "root":
        pytest.skip("needs mosquitto and root (to start it as user mosquitto)")
    try:
        group = grp.getgrnam("mosquitto").gr_gid
        pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no mosquitto user (Debian's package makes it)")
    # pytest's tmp_path lies under a 0700 folder that user mosquitto cannot enter.
    root = Path(tempfile.mkdtemp(prefix="lm-install-"))
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    root.chmod(0o755)
    install(root)
    folder = root / "etc/mosquitto/lokaalmeten"
    for path in [folder, *folder.iterdir()]:  # chown lokaalmeten:mosquitto, as install runs it
        os.chown(path, pwd.getpwnam("nobody").pw_uid, group)
    port = free_port()
    text = (root / "etc/mosquitto/conf.d/lokaalmeten.conf").read_text()
    text = (
        text.replace("listener 1883", f"listener {port} 127.0.0.1")
        .replace("/etc/mosquitto/lokaalmeten/", f"{folder}/")
        .replace("persistence true", "persistence false")
    )
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"user mosquitto\n{text}")
    process = spawn([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_listening("127.0.0.1", port, 10, alive=lambda: process.poll() is None), (
            process.stderr.read().decode() if process.stderr else ""
        )
    finally:
        stop_all([process])


def test_the_nightly_archive_timer_is_installed_and_enabled(tmp_path: Path) -> None:
    commands = install(tmp_path)
    for name in ("lokaalmeten-archive.service", "lokaalmeten-archive.timer"):
        installed = tmp_path / "etc/systemd/system" / name
        assert installed.read_text() == (DEPLOY / "systemd" / name).read_text()
    enable = next(c for c in commands if c[:3] == ["systemctl", "enable", "--now"])
    # The timer starts the one-shot service; enabling the service itself would run it at boot.
    assert "lokaalmeten-archive.timer" in enable
    assert "lokaalmeten-archive.service" not in enable
    assert not any("lokaalmeten-archive" in part for c in commands if "restart" in c for part in c)


def test_a_changed_timer_is_rearmed_and_nothing_else_restarts(tmp_path: Path) -> None:
    install(tmp_path)
    what_the_commands_made(
        tmp_path, ["mosquitto", "influxdb", "python3-venv"],
        ["mosquitto.service", "influxdb.service", "lokaalmeten-gateway.service",
         "lokaalmeten-server.service"],
    )  # fmt: skip
    timer = tmp_path / "etc/systemd/system/lokaalmeten-archive.timer"
    timer.write_text(timer.read_text().replace("00:20:00 UTC", "03:00:00 UTC"))
    plan = plan_install(InstallOptions(root=tmp_path))
    assert [c.summary for c in plan.changes] == [
        "file /etc/systemd/system/lokaalmeten-archive.timer: changed",
        "systemctl daemon-reload",
        "systemctl restart lokaalmeten-archive.timer",
    ]
    plan.apply(lambda command: None)
    assert "OnCalendar=*-*-* 00:20:00 UTC" in timer.read_text()
