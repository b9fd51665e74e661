"""``lokaalmeten forward``: a kit owner's choice of the platforms their readings also go to.

The choices live in the node directory (gateway/directory.py); the gateway's outputs read
them within seconds, each with its own spool cursor (docs/gateway.md, "Forwarding")::

    lokaalmeten forward add esp32-0a1b2c opensensemap --box 5f0c… --token … \\
        --sensor pm25=5f0c…a1 --sensor pm10=5f0c…a2
    lokaalmeten forward add esp32-0a1b2c sensorcommunity
    lokaalmeten forward add esp32-0a1b2c homeassistant
    lokaalmeten forward list                      # tokens never shown
    lokaalmeten forward remove esp32-0a1b2c opensensemap
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from lokaalmeten.cli_errors import fail
from lokaalmeten.gateway.cli import RegistryOption, directory_at
from lokaalmeten.gateway.directory import TARGETS
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import iso_utc

forward_app = typer.Typer(
    help="Send a kit's readings to other platforms too, by its owner's choice: openSenseMap, "
    "Sensor.Community, Home Assistant.",
    no_args_is_help=True,
)
# openSenseMap's ids are MongoDB object ids: 24 hexadecimal digits.
_OSEM_ID = re.compile(r"^[0-9a-f]{24}$")
# What each output needs to send for a kit, and where it is configured.
_OUTPUT = {
    "opensensemap": "opensensemap+https://api.opensensemap.org/",
    "sensorcommunity": "sensorcommunity+https://api.sensor.community/v1/push-sensor-data/",
    "homeassistant": "homeassistant+mqtt://<Home Assistant's broker>/",
}


def _opensensemap(box: str | None, token: str | None, sensors: list[str]) -> dict[str, Any]:
    if box is None or token is None or not sensors:
        fail(
            "openSenseMap needs the senseBox id (--box), its access token (--token) and a "
            "sensor id per quantity (--sensor pm25=<id>), all shown on the box's page"
        )
    if not _OSEM_ID.match(box):
        fail(f"--box {box!r} is not a senseBox id (24 hexadecimal digits)")
    mapped: dict[str, str] = {}
    for pair in sensors:
        quantity, _, sensor = pair.partition("=")
        if quantity not in QUANTITIES:
            fail(f"--sensor {pair!r}: no quantity {quantity!r}; one of {', '.join(QUANTITIES)}")
        if not _OSEM_ID.match(sensor):
            fail(f"--sensor {pair!r}: {sensor!r} is not a sensor id (24 hexadecimal digits)")
        mapped[quantity] = sensor
    return {"box": box, "token": token, "sensors": mapped}


@forward_app.command("add")
def add(
    node: Annotated[str, typer.Argument(help="Node id.")],
    target: Annotated[str, typer.Argument(help=f"One of: {', '.join(TARGETS)}.")],
    box: Annotated[str | None, typer.Option(help="openSenseMap: the senseBox id.")] = None,
    token: Annotated[str | None, typer.Option(help="openSenseMap: the box's access token.")] = None,
    sensor: Annotated[
        list[str] | None,
        typer.Option(help="openSenseMap: QUANTITY=SENSOR_ID, once per quantity."),
    ] = None,
    registry: RegistryOption = None,
) -> None:
    """Forward a kit's readings to a platform (replacing an earlier choice of it)."""
    if target not in TARGETS:
        fail(f"no forwarding to {target!r}; choose from {', '.join(TARGETS)}")
    given = box is not None or token is not None or bool(sensor)
    if target != "opensensemap" and given:
        fail("--box, --token and --sensor are openSenseMap's; leave them out")
    options = _opensensemap(box, token, sensor or []) if target == "opensensemap" else {}
    with directory_at(registry) as directory:
        directory.forward(node, target, options)
    typer.echo(f"{node} is forwarded to {target} from now on")
    typer.echo(f"(by the gateway's output --extra-store '{_OUTPUT[target]}'; add it once)")


@forward_app.command("remove")
def remove(
    node: Annotated[str, typer.Argument(help="Node id.")],
    target: Annotated[str, typer.Argument(help=f"One of: {', '.join(TARGETS)}.")],
    registry: RegistryOption = None,
) -> None:
    """Stop forwarding a kit to a platform; what was sent stays there."""
    with directory_at(registry) as directory:
        directory.stop_forwarding(node, target)
    typer.echo(f"{node} is no longer forwarded to {target}")


@forward_app.command("list")
def list_forwards(registry: RegistryOption = None) -> None:
    """Every kit forwarded, to where, since when (never a token)."""
    with directory_at(registry) as directory:
        choices = directory.forwards()
    if not choices:
        typer.echo("no kit is forwarded; 'lokaalmeten forward add NODE TARGET' forwards one")
        return
    for node, target, options, since in choices:
        detail = ""
        if target == "opensensemap":
            quantities = ",".join(sorted(options.get("sensors", {})))
            detail = f"  box {options.get('box')} ({quantities})"
        typer.echo(f"{node}  {target}{detail}  since {iso_utc(since)}")
