"""``lokaalmeten fleet``: firmware releases for the kits of this gateway.

lokaalmeten fleet release firmware/ --version 0.2.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lokaalmeten.cli_errors import fail
from lokaalmeten.settings import STATE_DIR

fleet_app = typer.Typer(
    help="Firmware releases for the kits: built, signed and kept by the gateway.",
    no_args_is_help=True,
)


@fleet_app.command("release")
def release(
    firmware: Annotated[
        Path,
        typer.Argument(
            help="The firmware folder to release (the one with main.py and kit/), e.g. the "
            "repository's firmware/.",
            exists=True,
            file_okay=False,
        ),
    ],
    version: Annotated[
        str, typer.Option(help="The release's version, e.g. 0.2.0; never used twice.")
    ],
    releases: Annotated[Path, typer.Option(help="Folder the releases are kept in.")] = STATE_DIR
    / "releases",
    key: Annotated[
        Path,
        typer.Option(
            help="The gateway's release key (Ed25519; made on first use, readable by its "
            "owner only). Keep a copy offline: kits accept only releases it signed."
        ),
    ] = STATE_DIR / "release.key",
) -> None:
    """Build FIRMWARE for every kind of chip, with a manifest of every file (size, SHA-256)
    signed by the release key, as one new release."""
    from lokaalmeten.kit_tools.release import ReleaseError, make_release, public_key, release_key

    try:
        signer = release_key(key)
        typer.echo(f"building release {version} from {firmware} …")
        made = make_release(firmware, version, releases, signer)
    except (ReleaseError, OSError) as exc:
        fail(str(exc))
    for march, folder in made.folders.items():
        typer.echo(f"  {march}: {folder}")
    typer.echo(
        f"release {made.version}: {made.files} files, {made.size / 1024:.0f} KiB per build, "
        f"signed by {key}"
    )
    typer.echo(f"release public key (kits verify with it): {public_key(signer).hex()}")
