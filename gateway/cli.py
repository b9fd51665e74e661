"""The gateway's commands: ``lokaalmeten gateway`` and ``lokaalmeten nodes …``.

lokaalmeten nodes add esp32-0a1b2c3d4e5f       # prints the kit's token once
lokaalmeten nodes list
lokaalmeten nodes rotate esp32-0a1b2c3d4e5f
lokaalmeten nodes remove esp32-0a1b2c3d4e5f
lokaalmeten nodes acl                          # Mosquitto's files again, after an upgrade
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from lokaalmeten.cli_errors import fail
from lokaalmeten.gateway.directory import Directory, DirectoryError
from lokaalmeten.gateway.registry import Registry, RegistryError
from lokaalmeten.settings import (
    GatewaySettings,
    SettingsError,
    load_settings,
    refuse_outside_installation,
)

nodes_app = typer.Typer(
    help="Register kits and manage their credentials (MQTT password and HTTP token).",
    no_args_is_help=True,
)

RegistryOption = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        help="Registry file (default: LM_REGISTRY, as in the installation's "
        "/etc/lokaalmeten/lokaalmeten.env).",
    ),
]
MosquittoDirOption = Annotated[
    Path | None,
    typer.Option(
        "--mosquitto-dir",
        help="Also write Mosquitto's 'passwd' and 'acl' files into this folder (default: "
        "LM_MOSQUITTO_DIR, as in the installation's configuration).",
    ),
]
ReloadOption = Annotated[
    Path | None,
    typer.Option(
        "--reload-pid-file",
        help="Send SIGHUP to the Mosquitto whose pid is in this file, so it reloads them.",
    ),
]


def registry_locations(
    registry: Path | None, mosquitto_dir: Path | None
) -> tuple[Path, Path | None]:
    """The registry file and Mosquitto's folder: the options, else the installation's."""
    try:
        settings = load_settings(
            GatewaySettings,
            registry=None if registry is None else str(registry),
            mosquitto_dir=None if mosquitto_dir is None else str(mosquitto_dir),
        )
        refuse_outside_installation(settings, "registry")
    except SettingsError as exc:
        fail(str(exc))
    folder = Path(settings.mosquitto_dir) if settings.mosquitto_dir else None
    return Path(settings.registry), folder


def _registry(where: Path, create: bool = False) -> Registry:
    """The registry; one that does not exist is made only where a kit is being added."""
    if not create and not where.exists():
        fail(
            f"no registry at {where.absolute()}; the installation's is named by LM_REGISTRY "
            "in /etc/lokaalmeten/lokaalmeten.env (--registry PATH to choose it)"
        )
    try:
        return Registry(where)
    except (RegistryError, OSError) as exc:
        fail(f"cannot open the registry {where.absolute()}: {exc}")


def guard_broker(where: Path, folder: Path | None, registry: Registry | None = None) -> None:
    """Refuse, before any change, a registry that does not know every account the broker's
    password file holds: writing the file from it would lock those accounts out (the
    gateway's own and the other kits'). ``registry``: the one already open, else the one at
    ``path`` is read if it exists (``add`` must not create it before this check)."""
    if folder is None:
        return
    passwd = folder / "passwd"
    try:
        text = passwd.read_text()
    except FileNotFoundError:
        return
    except OSError as exc:
        fail(f"cannot read {passwd}: {exc}")
    held = {line.split(":", 1)[0] for line in text.splitlines() if ":" in line}
    known: set[str] = set()
    if registry is not None:
        known = {entry.name for entry in registry.entries()}
    elif where.exists():
        found = Registry(where)
        known = {entry.name for entry in found.entries()}
        found.close()
    unknown = sorted(held - known)
    if unknown:
        shown = ", ".join(unknown[:8]) + (
            f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
        )
        fail(
            f"{passwd} holds broker accounts that the registry {where.absolute()} does not "
            f"know: {shown}; writing it from this registry would lock them out. Nothing was "
            "changed. Use the installation's registry: --registry PATH, or LM_REGISTRY as in "
            "/etc/lokaalmeten/lokaalmeten.env"
        )


def _update_broker(registry: Registry, folder: Path | None, pid_file: Path | None) -> None:
    if folder is None:
        return
    passwd, acl = registry.write_mosquitto_files(folder)
    typer.echo(f"wrote {passwd} and {acl}")
    if pid_file is not None:
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError) as exc:
            fail(f"could not make Mosquitto reload ({pid_file}): {exc}")
        typer.echo(f"Mosquitto (pid {pid}) reloads its password and ACL files")
    else:
        typer.echo("make Mosquitto reload them: systemctl reload mosquitto")


@nodes_app.command("add")
def add(
    node: Annotated[str, typer.Argument(help="Node id, e.g. esp32-0a1b2c3d4e5f.")],
    gateway: Annotated[
        bool, typer.Option("--gateway", help="A gateway's broker account, not a kit.")
    ] = False,
    relay: Annotated[
        bool,
        typer.Option(
            "--relay",
            help="A neighbourhood gateway that forwards its readings into this one "
            "(its upstream+mqtt:// output signs in with this name and token).",
        ),
    ] = False,
    note: Annotated[str, typer.Option(help="Free text, e.g. the owner's street.")] = "",
    registry_path: RegistryOption = None,
    mosquitto_dir: MosquittoDirOption = None,
    reload_pid_file: ReloadOption = None,
) -> None:
    """Register a kit; prints its token, which is shown only this once."""
    if gateway and relay:
        fail("a node is a gateway's own account (--gateway) or a relay (--relay), not both")
    where, folder = registry_locations(registry_path, mosquitto_dir)
    guard_broker(where, folder)
    registry = _registry(where, create=True)
    try:
        token = registry.add(node, "gateway" if gateway else "relay" if relay else "kit", note)
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(f"registered {node}")
    typer.echo(f"token: {token}")
    if relay:
        typer.echo(
            "On the neighbourhood gateway: --extra-store "
            f"'upstream+mqtt://{node}:<token>@<this broker>:1883/'; the token is not "
            "shown again."
        )
    else:
        typer.echo(
            "Put the token in the kit's configuration (MQTT user = node id, password = "
            "token); it is not shown again."
        )
    _update_broker(registry, folder, reload_pid_file)


@nodes_app.command("rotate")
def rotate(
    node: Annotated[str, typer.Argument(help="Node id.")],
    registry_path: RegistryOption = None,
    mosquitto_dir: MosquittoDirOption = None,
    reload_pid_file: ReloadOption = None,
) -> None:
    """Give a kit a new token; the old one stops working."""
    where, folder = registry_locations(registry_path, mosquitto_dir)
    registry = _registry(where)
    guard_broker(where, folder, registry)
    try:
        token = registry.rotate(node)
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(f"new token for {node}: {token}")
    _update_broker(registry, folder, reload_pid_file)


@nodes_app.command("remove")
def remove(
    node: Annotated[str, typer.Argument(help="Node id.")],
    registry_path: RegistryOption = None,
    mosquitto_dir: MosquittoDirOption = None,
    reload_pid_file: ReloadOption = None,
) -> None:
    """Remove a kit; its readings stay in the store, new ones are refused."""
    where, folder = registry_locations(registry_path, mosquitto_dir)
    registry = _registry(where)
    guard_broker(where, folder, registry)
    try:
        registry.remove(node)
    except RegistryError as exc:
        fail(str(exc))
    try:
        # Its last status no longer counts; its name and place stay with its readings.
        directory = Directory(registry.path)
        directory.forget_status(node)
        directory.close()
    except DirectoryError as exc:
        fail(str(exc))
    typer.echo(f"removed {node}")
    _update_broker(registry, folder, reload_pid_file)


@nodes_app.command("acl")
def write_acl(
    registry_path: RegistryOption = None,
    mosquitto_dir: MosquittoDirOption = None,
    reload_pid_file: ReloadOption = None,
) -> None:
    """Write Mosquitto's passwd and acl again from the registry, changing no account: after
    an upgrade whose ACL allows more (the gateway's alerts topic)."""
    where, folder = registry_locations(registry_path, mosquitto_dir)
    if folder is None:
        fail("name Mosquitto's folder: --mosquitto-dir PATH, or LM_MOSQUITTO_DIR")
    registry = _registry(where)
    guard_broker(where, folder, registry)
    _update_broker(registry, folder, reload_pid_file)


@nodes_app.command("list")
def list_nodes(registry_path: RegistryOption = None) -> None:
    """List the registered kits (never their tokens)."""
    from lokaalmeten.readings import iso_utc

    entries = _registry(registry_locations(registry_path, None)[0]).entries()
    if not entries:
        typer.echo("no nodes registered; 'lokaalmeten nodes add NODE' registers one")
        return
    for entry in entries:
        role = "" if entry.role == "kit" else f" ({entry.role})"
        note = f"  {entry.note}" if entry.note else ""
        typer.echo(
            f"{entry.name}{role}  registered {iso_utc(entry.created)}  "
            f"token from {iso_utc(entry.rotated)}{note}"
        )


@contextmanager
def directory_at(registry: Path | None) -> Iterator[Directory]:
    """The node directory in the registry's file (``--registry``, else the installation's);
    a registry that does not exist is never made here. A DirectoryError is a clear exit."""
    where, _ = registry_locations(registry, None)
    if not where.exists():
        fail(
            f"no registry at {where.absolute()}; the node directory lives in it and the "
            "gateway makes it when it starts (LM_REGISTRY in /etc/lokaalmeten/lokaalmeten.env, "
            "or --registry PATH)"
        )
    try:
        directory = Directory(where)
    except DirectoryError as exc:
        fail(str(exc))
    try:
        yield directory
    except DirectoryError as exc:
        fail(str(exc))
    finally:
        directory.close()


@nodes_app.command("relayed")
def list_relayed(registry_path: RegistryOption = None) -> None:
    """List the kits that neighbourhood gateways relay into this one, by relay."""
    from lokaalmeten.readings import iso_utc

    with directory_at(registry_path) as directory:
        claims = directory.claims()
    if not claims:
        typer.echo("no kits relayed; 'lokaalmeten nodes add NAME --relay' registers a relay")
        return
    for node, (relay, since) in claims.items():
        typer.echo(f"{node}  relayed by {relay} since {iso_utc(since)}")


@nodes_app.command("release")
def release(
    node: Annotated[str, typer.Argument(help="Node id of a relayed kit.")],
    registry_path: RegistryOption = None,
) -> None:
    """Let another relay speak for a kit (it moved to another neighbourhood): the next
    relay to send its readings owns it."""
    with directory_at(registry_path) as directory:
        relay = directory.release(node)
    typer.echo(f"released {node} from {relay}; the next relay to send it owns it")


def run_gateway(overrides: dict[str, Any], verbose: bool) -> None:
    """Build the settings, start the gateway, stop it on SIGINT/SIGTERM.

    The handlers only set a flag and wake the waits (lokaalmeten/shutdown.py), from before
    the gateway opens anything, so that a signal during the start is a stop too."""
    from lokaalmeten.gateway.alert_book import AlertBookError
    from lokaalmeten.gateway.pipeline import Gateway
    from lokaalmeten.logs import setup_logging
    from lokaalmeten.shutdown import Shutdown
    from lokaalmeten.store import StoreError

    try:
        flags = {"stats_interval": "--stats", "extra_stores": "--extra-store"}
        settings = load_settings(GatewaySettings, flags, **overrides)
        refuse_outside_installation(settings, "store", "spool", "registry")
    except SettingsError as exc:
        fail(str(exc))
    setup_logging(verbose, settings.log_format)
    shutdown = Shutdown()
    shutdown.install()  # kept to the end: a signal during the way out changes nothing
    try:
        gateway = Gateway(settings, shutdown=shutdown)
    except (StoreError, OSError, RegistryError, DirectoryError, AlertBookError) as exc:
        fail(str(exc))
    try:
        gateway.run()
    except RuntimeError as exc:
        fail(str(exc))
