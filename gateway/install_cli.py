"""The command ``lokaalmeten gateway install`` (the work is in gateway/install.py).

sudo lokaalmeten gateway install --dry-run     # every change, nothing changed
sudo lokaalmeten gateway install               # idempotent: a second run changes nothing
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lokaalmeten.cli_errors import fail
from lokaalmeten.gateway.install import (
    VENV,
    InstallError,
    InstallOptions,
    plan_install,
    subprocess_runner,
)


def install_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print every change it would make; change nothing.")
    ] = False,
    store: Annotated[
        str, typer.Option(help="influxdb (installs InfluxDB 1.x) or sqlite (nothing more).")
    ] = "influxdb",
    root: Annotated[
        Path,
        typer.Option(
            help="Install into this folder instead of / (images, tests); apt-get, useradd, "
            "chown and systemctl are then printed, not run."
        ),
    ] = Path("/"),
    source: Annotated[
        str | None,
        typer.Option(help="What pip installs into /opt/lokaalmeten/venv (default: this checkout)."),
    ] = None,
    deploy_dir: Annotated[
        Path | None, typer.Option(help="The deployment files (default: deploy/ of this checkout).")
    ] = None,
) -> None:
    """Set up this Raspberry Pi OS / Debian machine as a gateway; safe to run again.

    Installs Mosquitto and InfluxDB, the 'lokaalmeten' user, the program in
    /opt/lokaalmeten/venv, the configuration files from deploy/ (broker with passwords and
    ACLs, InfluxDB query guardrails, systemd units that always restart), a journal size
    limit, the gateway's broker account, and enables and starts the services. A second run
    changes only what differs. Run it as root (sudo); see docs/gateway-install.md.
    """
    echo = typer.echo
    try:
        plan = plan_install(
            InstallOptions(root=root, store=store, source=source, deploy_dir=deploy_dir)
        )
    except (InstallError, OSError) as exc:
        fail(str(exc))
    if not plan.changes:
        echo("nothing to change: this machine is set up as a gateway")
        return
    if dry_run:
        echo(f"{len(plan.changes)} changes would be made (dry run, nothing changed):")
        for change in plan.changes:
            echo(f"+ {change.summary}")
            if change.detail:
                echo("".join(f"    {line}\n" for line in change.detail.splitlines()), nl=False)
        return
    if root == Path("/") and os.geteuid() != 0:
        fail("run it as root: sudo lokaalmeten gateway install (or --dry-run to look first)")

    def printed(command: list[str]) -> None:
        echo(f"  (not run under --root) $ {' '.join(command)}")

    run = subprocess_runner(echo) if root == Path("/") else printed
    try:
        plan.apply(run, lambda line: echo(f"* {line}"))
    except (InstallError, OSError) as exc:
        fail(str(exc))
    echo(f"done: {len(plan.changes)} changes. Check: systemctl status lokaalmeten-gateway")
    # Every command reads the registry and the broker's folder from the configuration just
    # written, from whatever folder the operator runs it (tests/gateway/test_installed.py).
    echo(f"Register kits with: sudo -u lokaalmeten {VENV}/bin/lokaalmeten nodes add NODE")
