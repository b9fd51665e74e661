"""``lokaalmeten places``: the operator's node metadata the server publishes (location, its
public exactness, name, interval), kept in the store beside the readings.

lokaalmeten places set esp32-0a1b2c --lat 52.091234 --lon 5.121987 --name "Balkon Lombok"
lokaalmeten places set school-1 --lat 52.1 --lon 5.2 --exact     # the owner chose exact
lokaalmeten places list                                          # exact, for the operator
"""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

from lokaalmeten.settings import (
    ServerSettings,
    SettingsError,
    load_settings,
    refuse_outside_installation,
)
from lokaalmeten.store import NodeMeta, Store, StoreError, missing_store, open_store

places_app = typer.Typer(
    help="Node locations and names for the open-data server (published rounded by default).",
    no_args_is_help=True,
)

StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL (default: LM_STORE, as the server).")
]


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _open(url: str | None) -> Store:
    """The store named, else the installation's, as the server reads it."""
    try:
        settings = load_settings(ServerSettings, store=url)
        refuse_outside_installation(settings, "store")
        if missing_store(settings.store):
            _fail(
                f"no store at {settings.store}; the gateway makes it when it starts "
                "(--store / LM_STORE, as in /etc/lokaalmeten/lokaalmeten.env)"
            )
        return open_store(settings.store)
    except (SettingsError, StoreError) as exc:
        _fail(str(exc))


@places_app.command("set")
def set_place(
    node: Annotated[str, typer.Argument(help="Node id, as in its MQTT topic.")],
    lat: Annotated[float | None, typer.Option(min=-90, max=90, help="Latitude, WGS84.")] = None,
    lon: Annotated[float | None, typer.Option(min=-180, max=180, help="Longitude, WGS84.")] = None,
    exact: Annotated[
        bool, typer.Option(help="Publish the exact location (only with the owner's consent).")
    ] = False,
    name: Annotated[str, typer.Option(help="Public name of the node.")] = "",
    description: Annotated[str, typer.Option(help="Public description.")] = "",
    interval: Annotated[
        float | None,
        typer.Option(min=1, help="Seconds between readings, if not the network's default."),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Set (replace) a node's metadata."""
    if (lat is None) != (lon is None):
        _fail("give both --lat and --lon, or neither")
    opened = _open(store)
    try:
        opened.set_node_meta(NodeMeta(node, lat, lon, exact, name, description, interval))
    except StoreError as exc:
        _fail(str(exc))
    finally:
        opened.close()
    typer.echo(f"{node}: saved")


@places_app.command("list")
def list_places(store: StoreOption = None) -> None:
    """Every node's metadata, with exact locations (for the operator only)."""
    opened = _open(store)
    try:
        metas = opened.node_meta()
    except StoreError as exc:
        _fail(str(exc))
    finally:
        opened.close()
    for meta in metas.values():
        where = "-" if meta.latitude is None else f"{meta.latitude},{meta.longitude}"
        typer.echo(
            f"{meta.node}\t{where}\t{'exact' if meta.exact else 'rounded'}\t"
            f"{meta.interval or '-'}\t{meta.name}"
        )
