"""``lokaalmeten gateway install``: a Raspberry Pi OS / Debian machine made into a gateway.

    plan = plan_install(InstallOptions(root=Path("/"), store="influxdb"))
    for change in plan.changes:
        print(change.summary)             # --dry-run stops here, printing details too
    plan.apply(run=subprocess_runner)     # idempotent: a second plan has no changes

What it installs is exactly the files in ``deploy/`` (systemd units, the nightly archive's
service and timer, the environment file,
the Mosquitto drop-in, the InfluxDB configuration with its query guardrails), plus the
Debian packages (mosquitto, influxdb), the ``lokaalmeten`` system user and its folders, a
virtual environment in /opt/lokaalmeten/venv with lokaalmeten in it, the gateway's own broker
account in the kit registry (its token goes into the environment file), a journald limit
(log rotation: the services log to the journal), and systemd enable/start/restart.

Every check looks at files under ``root`` (the dpkg status file, /etc/passwd, unit links),
so that a plan can be made against any folder; commands (apt-get, useradd, chown,
systemctl, pip) go through ``run``, which the command line replaces by a printer when
``--root`` is not ``/``.
"""

from __future__ import annotations

import difflib
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lokaalmeten import __version__
from lokaalmeten.gateway.registry import Registry

USER = "lokaalmeten"
VENV = Path("/opt/lokaalmeten/venv")
STATE = Path("/var/lib/lokaalmeten")
ENV_FILE = Path("/etc/lokaalmeten/lokaalmeten.env")
MOSQUITTO_DIR = Path("/etc/mosquitto/lokaalmeten")
UNITS = ("lokaalmeten-gateway.service", "lokaalmeten-server.service")
# The nightly bulk archive: a one-shot service, started by its timer (the one enabled).
ARCHIVE_UNITS = ("lokaalmeten-archive.service", "lokaalmeten-archive.timer")
ARCHIVE_TIMER = ARCHIVE_UNITS[1]
ARCHIVE_DIR = STATE / "archive"
GATEWAY_ACCOUNT = "gateway"
TOKEN_PLACEHOLDER = "<the token of the gateway's broker account, made at install>"
INFLUXDB_STORE = "influxdb://127.0.0.1:8086/lokaalmeten"

# Log rotation. Both services log to stdout, which systemd hands to the journal; journald
# rotates by size and age, so the limits below are the rotation (a logrotate file would
# have no log file to rotate). Mosquitto's own log has Debian's /etc/logrotate.d/mosquitto.
JOURNALD = """\
# /etc/systemd/journald.conf.d/lokaalmeten.conf, written by lokaalmeten gateway install.
# The gateway and the server log to the journal; keep it from filling a Raspberry Pi's SD
# card: at most 200 MB, nothing older than a month.
[Journal]
SystemMaxUse=200M
SystemMaxFileSize=20M
MaxRetentionSec=1month
"""

Runner = Callable[[list[str]], None]


class InstallError(RuntimeError):
    """The gateway cannot be installed; the message says why and what to do."""


@dataclass
class InstallOptions:
    root: Path = Path("/")
    store: str = "influxdb"  # or "sqlite"
    source: str | None = None  # what pip installs; default: this checkout, else the release
    deploy_dir: Path | None = None  # default: deploy/ of this checkout


@dataclass
class Change:
    kind: str  # package, user, directory, file, venv, registry, service
    summary: str
    detail: str = ""
    action: Callable[[Runner], None] = lambda run: None


@dataclass
class InstallPlan:
    options: InstallOptions
    changes: list[Change] = field(default_factory=list)
    token: dict[str, str] = field(default_factory=dict)  # filled when the account is made

    def apply(self, run: Runner, echo: Callable[[str], None] = lambda line: None) -> None:
        for change in self.changes:
            echo(change.summary)
            change.action(run)


def repository() -> Path:
    return Path(__file__).resolve().parent.parent


def find_deploy_dir(given: Path | None) -> Path:
    folder = given or repository() / "deploy"
    if not (folder / "systemd" / UNITS[0]).is_file():
        raise InstallError(
            f"the deployment files are not at {folder}: run the installer from a checkout of "
            "lokaalmeten (git clone …; cd lokaalmeten; sudo .venv/bin/lokaalmeten gateway "
            "install), or name the folder with --deploy-dir"
        )
    return folder


def default_source() -> str:
    # With the 'kit' extra, so that the operator can deploy kits from the gateway, where the
    # registry is (lokaalmeten deploy --registry ...).
    checkout = repository()
    if (checkout / "pyproject.toml").is_file():
        return f"{checkout}[kit]"
    return f"lokaalmeten[kit]=={__version__}"


def installed_packages(root: Path) -> set[str]:
    """Packages dpkg has installed, from its status file under ``root``."""
    status = root / "var/lib/dpkg/status"
    try:
        text = status.read_text(errors="replace")
    except OSError:
        return set()
    found = set()
    for stanza in text.split("\n\n"):
        name = re.search(r"^Package: (\S+)$", stanza, re.M)
        state = re.search(r"^Status: (.+)$", stanza, re.M)
        if name and state and state.group(1).strip() == "install ok installed":
            found.add(name.group(1))
    return found


def user_exists(root: Path, name: str) -> bool:
    try:
        lines = (root / "etc/passwd").read_text().splitlines()
    except OSError:
        return False
    return any(line.split(":", 1)[0] == name for line in lines)


def enabled(root: Path, unit: str) -> bool:
    # A timer is wanted by timers.target (its [Install]), a service by multi-user.target.
    target = "timers.target" if unit.endswith(".timer") else "multi-user.target"
    wants = root / "etc/systemd/system" / f"{target}.wants" / unit
    return wants.is_symlink() or wants.exists()


def under(root: Path, path: Path) -> Path:
    return root / path.relative_to("/")


def file_change(root: Path, path: Path, text: str, mode: int) -> Change | None:
    """A change that writes ``text`` to ``path``, or None when it is already there."""
    target = under(root, path)
    old = target.read_text() if target.is_file() else None
    if old == text:
        return None
    if old is None:
        summary = f"file {path}: new ({len(text.encode())} bytes, mode {mode:o})"
        detail = text
    else:
        summary = f"file {path}: changed"
        detail = "".join(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{path} (now)",
                f"{path} (new)",
            )
        )

    def write(run: Runner) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if old is not None and not target.with_name(target.name + ".orig").exists():
            target.with_name(target.name + ".orig").write_text(old)  # the first original
        temporary = target.with_name(target.name + ".lokaalmeten-new")
        temporary.write_text(text)
        temporary.chmod(mode)
        temporary.replace(target)

    return Change("file", summary, detail, write)


def environment_file(deploy: Path, store: str, token: str) -> str:
    text = (deploy / "lokaalmeten.env").read_text()
    text = re.sub(r"^LM_MQTT_PASSWORD=.*$", f"LM_MQTT_PASSWORD={token}", text, flags=re.M)
    if store == "influxdb":
        text = re.sub(r"^LM_STORE=.*$", f"LM_STORE={INFLUXDB_STORE}", text, flags=re.M)
    return text


def plan_install(options: InstallOptions) -> InstallPlan:
    """Every change the machine under ``options.root`` needs; none when it is installed."""
    if options.store not in ("influxdb", "sqlite"):
        raise InstallError(f"--store must be influxdb or sqlite, not {options.store!r}")
    root = options.root
    deploy = find_deploy_dir(options.deploy_dir)
    plan = InstallPlan(options)
    add = plan.changes.append

    # Packages.
    # python3-venv: Debian ships the venv module apart, and the program gets its own venv.
    wanted = ["mosquitto"] + (["influxdb"] if options.store == "influxdb" else [])
    wanted.append("python3-venv")
    missing = [p for p in wanted if p not in installed_packages(root)]
    if missing:
        command = ["apt-get", "install", "--yes", "--no-install-recommends", *missing]
        add(
            Change(
                "package",
                "packages: " + " ".join(command),
                "",
                _runs(["apt-get", "update"], command),
            )
        )

    # The system user the services run as.
    if not user_exists(root, USER):
        command = [
            "useradd",
            "--system",
            "--user-group",
            "--home-dir",
            str(STATE),
            "--no-create-home",
            "--groups",
            "dialout",  # the serial ports, for lokaalmeten deploy on the gateway
            "--shell",
            "/usr/sbin/nologin",
            USER,
        ]
        add(Change("user", "user: " + " ".join(command), "", _runs(command)))

    # Folders.
    for folder, mode, owner in (
        (STATE, 0o750, f"{USER}:{USER}"),
        (ENV_FILE.parent, 0o755, "root:root"),
        # setgid: files the registry writes here belong to group mosquitto, which reads them
        (MOSQUITTO_DIR, 0o2750, f"{USER}:mosquitto"),
        (VENV.parent, 0o755, "root:root"),
        # The archive the timer writes and the server publishes (world-readable: open data).
        (ARCHIVE_DIR, 0o755, f"{USER}:{USER}"),
    ):
        if not under(root, folder).is_dir():
            add(
                Change(
                    "directory",
                    f"directory {folder} (mode {mode:o}, owner {owner})",
                    "",
                    _makes_dir(under(root, folder), mode, ["chown", owner, str(folder)]),
                )
            )

    # The program itself.
    if not under(root, VENV / "bin" / "lokaalmeten").exists():
        source = options.source or default_source()
        commands = [
            ["python3", "-m", "venv", str(VENV)],
            [str(VENV / "bin" / "pip"), "install", "--upgrade", source],
        ]
        add(Change("venv", f"program: {VENV} with lokaalmeten from {source}", "", _runs(*commands)))

    # The gateway's own broker account; its token goes into the environment file.
    registry_path = under(root, STATE / "registry.db")
    account_missing = not registry_path.exists() or not any(
        e.name == GATEWAY_ACCOUNT for e in Registry(registry_path).entries()
    )
    if account_missing:

        def make_account(run: Runner) -> None:
            registry = Registry(registry_path)
            plan.token["gateway"] = registry.add(GATEWAY_ACCOUNT, "gateway", "gateway install")
            passwd, _ = registry.write_mosquitto_files(under(root, MOSQUITTO_DIR))
            registry.close()
            # Mosquitto reads the file after dropping to its own user: group mosquitto (the
            # setgid folder) must be able to read it, which the registry's 0600 does not allow.
            passwd.chmod(0o640)
            run(["chown", "-R", f"{USER}:{USER}", str(STATE)])
            run(["chown", "-R", f"{USER}:mosquitto", str(MOSQUITTO_DIR)])

        add(
            Change(
                "registry",
                f"broker account '{GATEWAY_ACCOUNT}' in {STATE / 'registry.db'}, "
                f"Mosquitto's passwd and acl in {MOSQUITTO_DIR}",
                "",
                make_account,
            )
        )

    # Files from deploy/.
    changed: set[str] = set()
    env_target = under(root, ENV_FILE)
    if not env_target.exists():
        text = environment_file(deploy, options.store, TOKEN_PLACEHOLDER)
        change = file_change(root, ENV_FILE, text, 0o640)
        assert change is not None

        def write_env(run: Runner, change: Change = change) -> None:
            token = plan.token.get("gateway")
            if token is None:
                raise InstallError(
                    f"{ENV_FILE} needs the gateway's broker token, but the account already "
                    f"exists: run 'lokaalmeten nodes rotate {GATEWAY_ACCOUNT} --registry "
                    f"{STATE / 'registry.db'} --mosquitto-dir {MOSQUITTO_DIR}' and put the "
                    "token in LM_MQTT_PASSWORD"
                )
            env_target.parent.mkdir(parents=True, exist_ok=True)
            env_target.write_text(environment_file(deploy, options.store, token))
            env_target.chmod(0o640)
            run(["chown", f"root:{USER}", str(ENV_FILE)])

        add(Change("file", change.summary, change.detail, write_env))
        changed.add("env")
    files: list[tuple[str, Path, Path, int]] = [
        (unit, deploy / "systemd" / unit, Path("/etc/systemd/system") / unit, 0o644)
        for unit in (*UNITS, *ARCHIVE_UNITS)
    ]
    files.append(
        (
            "mosquitto",
            deploy / "mosquitto/lokaalmeten.conf",
            Path("/etc/mosquitto/conf.d/lokaalmeten.conf"),
            0o644,
        )
    )
    if options.store == "influxdb":
        files.append(
            (
                "influxdb",
                deploy / "influxdb/influxdb.conf",
                Path("/etc/influxdb/influxdb.conf"),
                0o644,
            )
        )
    for key, source_path, target_path, mode in files:
        change = file_change(root, target_path, source_path.read_text(), mode)
        if change is not None:
            add(change)
            changed.add(key)
    journald = file_change(
        root, Path("/etc/systemd/journald.conf.d/lokaalmeten.conf"), JOURNALD, 0o644
    )
    if journald is not None:
        add(Change("file", journald.summary + " (log rotation)", journald.detail, journald.action))
        changed.add("journald")

    # Services: reload systemd, enable and start, restart what got new configuration.
    services = ["mosquitto"] + (["influxdb"] if options.store == "influxdb" else []) + list(UNITS)
    services.append(ARCHIVE_TIMER)
    if changed & {*UNITS, *ARCHIVE_UNITS}:
        add(Change("service", "systemctl daemon-reload", "", _runs(["systemctl", "daemon-reload"])))
    if "journald" in changed:
        add(
            Change(
                "service",
                "systemctl restart systemd-journald",
                "",
                _runs(["systemctl", "restart", "systemd-journald"]),
            )
        )
    to_enable = [s for s in services if not enabled(root, _unit_name(s))]
    if to_enable:
        command = ["systemctl", "enable", "--now", *to_enable]
        add(Change("service", " ".join(command), "", _runs(command)))
    restart = []
    if "mosquitto" in changed or account_missing:
        restart.append("mosquitto")
    if "influxdb" in changed:
        restart.append("influxdb")
    if changed & {"env", *UNITS} or account_missing:
        restart += list(UNITS)
    if ARCHIVE_TIMER in changed:
        restart.append(ARCHIVE_TIMER)  # re-armed with its new schedule
    restart = [s for s in restart if s not in to_enable]
    if restart:
        command = ["systemctl", "restart", *restart]
        add(Change("service", " ".join(command), "", _runs(command)))
    return plan


def _unit_name(service: str) -> str:
    return service if service.endswith((".service", ".timer")) else service + ".service"


def _runs(*commands: list[str]) -> Callable[[Runner], None]:
    def action(run: Runner) -> None:
        for command in commands:
            run(command)

    return action


def _makes_dir(path: Path, mode: int, chown: list[str]) -> Callable[[Runner], None]:
    def action(run: Runner) -> None:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        run(chown)

    return action


def subprocess_runner(echo: Callable[[str], None]) -> Runner:
    """Run each command for real, stopping at the first that fails."""

    def run(command: list[str]) -> None:
        echo("  $ " + " ".join(command))
        try:
            done = subprocess.run(command)
        except OSError as exc:
            raise InstallError(f"cannot run {command[0]}: {exc}") from None
        if done.returncode != 0:
            raise InstallError(f"'{' '.join(command)}' failed (exit {done.returncode})")

    return run
