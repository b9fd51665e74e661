"""``lokaalmeten lorawan``: kits that send over LoRaWAN through The Things Stack.

    lokaalmeten lorawan formatter > lokaalmeten-formatter.js

prints the uplink payload formatter to paste into the application's "Payload formatters"
(Custom Javascript formatter), made from the kits' frame table (docs/protocol.md).

A device's uplinks are readings of the node with its device id, unless the node directory
maps it to another node::

    lokaalmeten lorawan map buurt esp32-0a1b2c-lora esp32-0a1b2c
    lokaalmeten lorawan devices
    lokaalmeten lorawan unmap buurt esp32-0a1b2c-lora
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from lokaalmeten.cli_errors import fail
from lokaalmeten.gateway.cli import RegistryOption, directory_at
from lokaalmeten.protocol.schema import NODE_ID_PATTERN

lorawan_app = typer.Typer(
    help="LoRaWAN kits through The Things Stack: the payload formatter of the kits' frames, "
    "and which node each device's uplinks belong to.",
    no_args_is_help=True,
)
ApplicationArgument = Annotated[str, typer.Argument(help="The Things Stack's application id.")]
DeviceArgument = Annotated[str, typer.Argument(help="The end device id in that application.")]


@lorawan_app.command("formatter")
def formatter(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write it to this file instead of printing it."),
    ] = None,
) -> None:
    """Print The Things Stack's uplink payload formatter (JavaScript) for the kits' frames.

    Paste it as the application's Custom Javascript formatter; the console then shows each
    uplink's readings. The gateway decodes the frames itself, so the readings are kept the
    same whether a formatter is set or not."""
    from lokaalmeten.protocol.lora_frame import payload_formatter

    text = payload_formatter()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")
    typer.echo(f"wrote the payload formatter to {output}", err=True)


@lorawan_app.command("map")
def map_device(
    application: ApplicationArgument,
    device: DeviceArgument,
    node: Annotated[str, typer.Argument(help="The node its uplinks are readings of.")],
    registry: RegistryOption = None,
) -> None:
    """Make a device's uplinks readings of another node than its device id: a kit that
    keeps its id with a LoRa radio, or devices of the same id in two applications."""
    if not re.match(NODE_ID_PATTERN, node):
        fail(f"{node!r} is not a node id: 2 to 32 characters from a-z, 0-9, '-' and '_'")
    with directory_at(registry) as directory:
        directory.map_device(application, device, node)
    typer.echo(f"{application}/{device}: its uplinks are readings of {node} from now on")
    typer.echo(f"(the gateway reads it within seconds; register {node} if it is not yet)")


@lorawan_app.command("unmap")
def unmap_device(
    application: ApplicationArgument, device: DeviceArgument, registry: RegistryOption = None
) -> None:
    """Let a device's uplinks be its device id's readings again."""
    with directory_at(registry) as directory:
        node = directory.unmap_device(application, device)
    typer.echo(f"{application}/{device} is no longer {node}; its uplinks are {device}'s")


@lorawan_app.command("devices")
def list_devices(registry: RegistryOption = None) -> None:
    """Every device mapped to a node of its own."""
    from lokaalmeten.readings import iso_utc

    with directory_at(registry) as directory:
        devices = directory.devices()
    if not devices:
        typer.echo(
            "every device's uplinks are its device id's ('lokaalmeten lorawan map' maps one)"
        )
        return
    for application, device, node, since in devices:
        typer.echo(f"{application}/{device}  ->  {node}  since {iso_utc(since)}")
