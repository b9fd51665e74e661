"""``lokaalmeten places``: the operator's part of the node directory (gateway/directory.py):
where each kit stands and what the server publishes about it. The kit's own configured
location counts until the operator sets one; either is published rounded unless the owner
consented to exact publication (``--exact``)::

    lokaalmeten places set esp32-0a1b2c --lat 52.091234 --lon 5.121987 --name "Balkon Lombok"
    lokaalmeten places set school-1 --lat 52.1 --lon 5.2 --exact --outdoor --height 4
    lokaalmeten places list                    # exact, with state and firmware, for the operator
    lokaalmeten places history esp32-0a1b2c    # where it has stood

Only the fields given change. The directory is in the registry's file (LM_REGISTRY); a
registry that does not exist is never made here.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from lokaalmeten.cli_errors import fail
from lokaalmeten.gateway.cli import RegistryOption, directory_at
from lokaalmeten.gateway.directory import Edit, KitEntry, Place

places_app = typer.Typer(
    help="Where each kit stands and what the open-data server says about it (the node "
    "directory; locations are published rounded unless the owner chose exact).",
    no_args_is_help=True,
)


@places_app.command("set")
def set_place(
    node: Annotated[str, typer.Argument(help="Node id, as in its MQTT topic.")],
    lat: Annotated[float | None, typer.Option(min=-90, max=90, help="Latitude, WGS84.")] = None,
    lon: Annotated[float | None, typer.Option(min=-180, max=180, help="Longitude, WGS84.")] = None,
    exact: Annotated[
        bool | None,
        typer.Option(
            "--exact/--no-exact",
            help="Publish the location exactly (only with the owner's consent); --no-exact "
            "withdraws it, for where the kit has stood too. Default with --lat/--lon: rounded.",
        ),
    ] = None,
    clear_location: Annotated[
        bool,
        typer.Option(
            "--clear-location", help="Forget the operator's location: the kit's own counts."
        ),
    ] = False,
    name: Annotated[str | None, typer.Option(help="Public name of the kit.")] = None,
    description: Annotated[str | None, typer.Option(help="Public description.")] = None,
    interval: Annotated[
        float | None,
        typer.Option(
            min=0, help="Seconds between readings, if not the network's default (0: the default)."
        ),
    ] = None,
    indoor: Annotated[
        bool | None, typer.Option("--indoor/--outdoor", help="Where it measures.")
    ] = None,
    height: Annotated[
        float | None, typer.Option(help="Height of the inlet above the ground, in metres.")
    ] = None,
    notes: Annotated[
        str | None, typer.Option(help="The operator's notes (never published).")
    ] = None,
    registry: RegistryOption = None,
) -> None:
    """Change a kit's entry; only the fields given change."""
    if (lat is None) != (lon is None):
        fail("give both --lat and --lon, or neither")
    location = None if lat is None or lon is None else (lat, lon)
    edit = Edit(
        name=name,
        description=description,
        interval=interval,
        location=location,
        clear_location=clear_location,
        exact=exact,
        indoor=indoor,
        height_m=height,
        notes=notes,
    )
    if edit == Edit():
        fail("nothing to change: give --lat/--lon, --name, --exact … (see --help)")
    with directory_at(registry) as directory:
        entry = directory.edit(node, edit)
    typer.echo(f"{node}: saved; {_where(entry)}")


@places_app.command("list")
def list_places(registry: RegistryOption = None) -> None:
    """Every kit in the directory, with its exact location (for the operator only)."""
    with directory_at(registry) as directory:
        entries = directory.entries()
    if not entries:
        typer.echo("no kits in the node directory yet")
        return
    typer.echo("node\tlocation\tpublished\tsource\tstate\tfirmware\tinterval\tname")
    for entry in entries.values():
        place = entry.place
        where = "-" if place is None else f"{place.latitude},{place.longitude}"
        published = "-" if place is None else ("exact" if place.exact else "rounded")
        state = "-" if entry.status is None else entry.status.state
        typer.echo(
            f"{entry.node}\t{where}\t{published}\t{place.source if place else '-'}\t{state}\t"
            f"{entry.firmware or '-'}\t{entry.interval or '-'}\t{entry.name}"
        )


@places_app.command("history")
def history(
    node: Annotated[str, typer.Argument(help="Node id.")], registry: RegistryOption = None
) -> None:
    """Where a kit has stood, oldest first (exact, for the operator only)."""
    with directory_at(registry) as directory:
        places = directory.history(node)
    if not places:
        fail(f"{node} has no location in the node directory")
    typer.echo("since\tuntil\tlocation\tpublished\tsource")
    for place in places:
        typer.echo(
            f"{_time(place.since)}\t{'now' if place.until is None else _time(place.until)}\t"
            f"{place.latitude},{place.longitude}\t{'exact' if place.exact else 'rounded'}\t"
            f"{place.source}"
        )


def _where(entry: KitEntry) -> str:
    place: Place | None = entry.place
    if place is None:
        return "no location"
    shown = "exactly" if place.exact else "rounded"
    return f"at {place.latitude},{place.longitude} ({place.source}'s), published {shown}"


def _time(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch))
