"""The ``lokaalmeten`` command: one program for the gateway, the server and the tools.

lokaalmeten demo                 # everything on this machine, simulated kits
lokaalmeten gateway --broker mqtt://127.0.0.1:1883 --store sqlite:///var/lib/lm.db
lokaalmeten server --store sqlite:///var/lib/lm.db --port 8000
lokaalmeten simulate --kits 3 --broker mqtt://127.0.0.1:1883
lokaalmeten archive --folder /var/lib/lokaalmeten/archive   # daily CSV, monthly Parquet
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lokaalmeten import __version__
from lokaalmeten.cli_errors import fail

if TYPE_CHECKING:  # the server's modules load only for the server command
    from fastapi import FastAPI

    from lokaalmeten.settings import ServerSettings

app = typer.Typer(
    name="lokaalmeten",
    help="Citizen 'lokaal meten' networks: sensor kits, gateway and open-data server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_groups() -> None:
    from lokaalmeten.archive.cli import archive_command
    from lokaalmeten.calibration.cli import calibrate_app
    from lokaalmeten.gateway.cli import nodes_app
    from lokaalmeten.gateway.forward_cli import forward_app
    from lokaalmeten.gateway.lorawan_cli import lorawan_app
    from lokaalmeten.gateway.places_cli import places_app
    from lokaalmeten.gateway.quarantine_cli import quarantine_app
    from lokaalmeten.kit_tools.cli import deploy, flash
    from lokaalmeten.kit_tools.fleet_cli import fleet_app
    from lokaalmeten.noise import noise_app

    app.add_typer(calibrate_app, name="calibrate")
    app.add_typer(fleet_app, name="fleet")
    app.add_typer(forward_app, name="forward")
    app.add_typer(lorawan_app, name="lorawan")
    app.add_typer(nodes_app, name="nodes")
    app.add_typer(noise_app, name="noise")
    app.add_typer(places_app, name="places")
    app.add_typer(quarantine_app, name="quarantine")
    app.command("archive")(archive_command)
    app.command("flash")(flash)
    app.command("deploy")(deploy)


_register_groups()


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )


@app.command()
def version() -> None:
    """Print the lokaalmeten version."""
    typer.echo(f"lokaalmeten {__version__}")


# `gateway` runs the gateway, and `gateway install` sets up a machine for it: a group whose
# callback is the gateway itself when no subcommand is given.
gateway_app = typer.Typer(invoke_without_command=True)


@gateway_app.callback()
def gateway(
    ctx: typer.Context,
    broker: Annotated[
        str | None, typer.Option(help="MQTT broker, mqtt://[user[:pass]@]host[:port].")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Store URL, e.g. sqlite:///var/lib/lokaalmeten/lm.db.")
    ] = None,
    extra_store: Annotated[
        list[str] | None, typer.Option(help="Another store that gets every reading; repeatable.")
    ] = None,
    spool: Annotated[str | None, typer.Option(help="Spool file (SQLite).")] = None,
    registry: Annotated[str | None, typer.Option(help="Kit registry file (SQLite).")] = None,
    open_network: Annotated[
        bool,
        typer.Option("--open", help="Accept readings of unregistered nodes (test networks)."),
    ] = False,
    ingest_host: Annotated[
        str | None, typer.Option(help="Address of the HTTP ingest (LM_INGEST_HOST).")
    ] = None,
    ingest_port: Annotated[
        int | None,
        typer.Option(help="Port of the HTTP ingest, /health, /metrics; 0: off (LM_INGEST_PORT)."),
    ] = None,
    client_id: Annotated[str | None, typer.Option(help="Fixed MQTT client id.")] = None,
    stats: Annotated[float | None, typer.Option(help="Seconds between counter log lines.")] = None,
    log_format: Annotated[str | None, typer.Option(help="text or json.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Receive kit records (MQTT, HTTP), spool them durably and write them to the store(s).

    Options not given come from LM_* environment variables (LM_BROKER, LM_STORE, ...),
    then from the installation's /etc/lokaalmeten/lokaalmeten.env (or the file LM_CONFIG
    names), then from the defaults in docs/configuration.md. 'lokaalmeten gateway install' sets
    up a Raspberry Pi or Debian machine as a gateway (docs/gateway-install.md).
    """
    if ctx.invoked_subcommand is not None:
        return
    from lokaalmeten.gateway.cli import run_gateway

    overrides: dict[str, Any] = {
        "broker": broker,
        "store": store,
        "extra_stores": extra_store or None,
        "spool": spool,
        "registry": registry,
        "require_registration": False if open_network else None,
        "ingest_host": ingest_host,
        "ingest_port": ingest_port,
        "client_id": client_id,
        "stats_interval": stats,
        "log_format": log_format,
    }
    run_gateway(overrides, verbose)


def _register_gateway() -> None:
    from lokaalmeten.gateway.install_cli import install_command

    gateway_app.command("install")(install_command)
    app.add_typer(gateway_app, name="gateway")


_register_gateway()


@app.command()
def server(
    store: Annotated[str | None, typer.Option(help="Store URL to read.")] = None,
    registry: Annotated[
        str | None,
        typer.Option(help="The gateway's registry file with the node directory (LM_REGISTRY)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="HTTP port (default LM_SERVER_PORT, else 8000).")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default LM_SERVER_HOST).")
    ] = None,
    create_store: Annotated[
        bool,
        typer.Option(
            "--create-store", help="Start on an empty store when the SQLite file does not exist."
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes (default LM_SERVER_WORKERS, else 1)."),
    ] = None,
) -> None:
    """Serve the open-data API (OpenAPI docs at /docs).

    Options not given come from LM_* environment variables, then from the installation's
    /etc/lokaalmeten/lokaalmeten.env (or the file LM_CONFIG names): the gateway's store.
    """
    from lokaalmeten.server.app import create_app
    from lokaalmeten.server.serve import serve
    from lokaalmeten.settings import (
        ServerSettings,
        SettingsError,
        load_settings,
        refuse_outside_installation,
    )
    from lokaalmeten.store import StoreError, missing_store, open_store

    try:
        settings = load_settings(
            ServerSettings,
            {"server_port": "--port", "server_host": "--host", "server_workers": "--workers"},
            store=store,
            registry=registry,
            server_port=port,
            server_host=host,
            server_workers=workers,
        )
        refuse_outside_installation(settings, "store", "registry")
        missing = missing_store(settings.store)
        if missing and not create_store:
            fail(
                f"no store at {Path(missing).absolute()} ({settings.store}); the gateway makes "
                "it when it starts. Check --store / LM_STORE, or pass --create-store to serve "
                "an empty one"
            )
        if settings.server_workers > 1:
            # Each worker opens its own store after the fork; this one only tells a bad
            # store once, here, instead of in every worker.
            open_store(settings.store, read_only=True).close()
        else:
            application = create_app(settings)
    except SettingsError as exc:
        fail(str(exc))
    except StoreError as exc:
        fail(str(exc))
    _setup_logging(False)
    if settings.server_workers > 1:
        _serve_workers(settings)
    else:
        serve(application, settings.server_host, settings.server_port, settings.trusted_proxies)


def _serve_workers(settings: ServerSettings) -> None:
    from lokaalmeten.server.app import create_app
    from lokaalmeten.server.buckets import SharedBuckets
    from lokaalmeten.server.workers import serve_workers

    buckets = SharedBuckets.create()  # before the fork: every worker maps the same table
    address = (settings.server_host, settings.server_port)

    def make_app(index: int) -> FastAPI:
        application = create_app(settings, buckets=buckets)
        if index == 0:
            application.state.address = address  # one start line, not one per worker
        return application

    try:
        serve_workers(make_app, *address, settings.server_workers, settings.trusted_proxies)
    except OSError as exc:
        fail(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}")


@app.command()
def simulate(
    kits: Annotated[int, typer.Option(min=1, max=500, help="Number of simulated kits.")] = 3,
    broker: Annotated[str, typer.Option(help="MQTT broker the kits publish to.")] = (
        "mqtt://127.0.0.1:1883"
    ),
    interval: Annotated[
        float, typer.Option(min=1.0, help="Seconds between records of one kit.")
    ] = 5.0,
    cycles: Annotated[
        int, typer.Option(min=0, help="Measurement cycles per kit, then stop (0: until Ctrl-C).")
    ] = 0,
    heap: Annotated[
        str,
        typer.Option(
            help="MicroPython heap per kit (-X heapsize). Default: what the chosen --sensors "
            "need under this 64-bit interpreter with the fake hardware, plus a quarter "
            "(measured by make bench; docs/kit.md)."
        ),
    ] = "",
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="Compress time: a simulated clock advances one interval per cycle, starting "
            "in the past, so records keep distinct timestamps that never lie in the future.",
        ),
    ] = False,
    sensors: Annotated[
        str,
        typer.Option(
            help="sim: random-walk sensors; drivers: every real driver on simulated devices; "
            "or driver types separated by commas, e.g. sds011,bme280 or noise."
        ),
    ] = "sim",
    folder: Annotated[
        Path, typer.Option(help="Each kit's flash (config, outbox) is FOLDER/<node>/.")
    ] = Path("var/sim"),
    prefix: Annotated[str, typer.Option(help="Node ids are PREFIX-1, PREFIX-2, ...")] = "sim",
    quiet: Annotated[bool, typer.Option(help="Only problems and the summary.")] = False,
) -> None:
    """Run kits from this firmware under the real MicroPython interpreter.

    Each kit runs the kit runtime (measurement cycle, outbox on its own folder, MQTT with
    QoS 1) with simulated hardware, publishes to the broker as a real kit would, and the
    summary gives records, publishes and the lowest free heap each kit saw.
    """
    from lokaalmeten.settings import parse_broker_url
    from lokaalmeten.simulate import (
        KitPlan,
        SimulationError,
        default_heap,
        run_kits,
        sensor_types,
    )

    try:
        heap = heap or default_heap(sensors)
        if sensors not in ("sim", "drivers"):
            sensors = ",".join(sensor_types(sensors))
    except ValueError as exc:
        fail(str(exc))
    if not re.fullmatch(r"\d+[kKmM]?", heap):
        fail(f"--heap must be a size such as 64k or 2m, not {heap!r}")
    try:
        address = parse_broker_url(broker)
    except ValueError as exc:
        fail(str(exc))
    plan = KitPlan(
        kits,
        address.host,
        address.port,
        interval,
        cycles,
        heap,
        prefix,
        fast=fast,
        folder=folder,
        sensors=sensors,
    )
    from lokaalmeten.shutdown import Shutdown

    stop = Shutdown()
    stop.install()  # SIGINT/SIGTERM only set a flag, which run_kits looks at 5 times a second

    def report(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "published" and not quiet:
            values = " ".join(f"{k}={v}" for k, v in event.get("values", {}).items())
            typer.echo(f"{event['node']} seq {event['seq']}: {values}")
        elif kind in ("broker_unreachable", "publish_failed", "output", "crash", "safe_mode"):
            detail = event.get("error", event.get("text", ""))
            typer.echo(f"{event.get('node')}: {kind} {detail}")

    try:
        results = run_kits(plan, report, stop)
    except SimulationError as exc:
        fail(str(exc))
    failed = False
    for result in results:
        status = "ok" if result.exit_code in (0, -signal.SIGTERM) else f"exit {result.exit_code}"
        heap_text = "" if result.min_free is None else f", min free heap {result.min_free} B"
        typer.echo(f"{result.node}: {result.published} records published{heap_text}, {status}")
        for line in result.errors[-5:]:
            typer.echo(f"  {line}", err=True)
        failed = failed or status != "ok"
    lows = [r.min_free for r in results if r.min_free is not None]
    if lows:
        typer.echo(f"minimum free heap seen: {min(lows)} bytes (heap {heap} per kit)")
    if failed:
        raise typer.Exit(1)


@app.command()
def demo(
    port: Annotated[
        int | None, typer.Option(help="HTTP port (default LM_SERVER_PORT, else 8000).")
    ] = None,
    kits: Annotated[int, typer.Option(min=1, max=50, help="Simulated kits.")] = 3,
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between records.")] = 5.0,
    embedded_broker: Annotated[
        bool, typer.Option(help="Use the embedded broker (amqtt) even if Mosquitto is installed.")
    ] = False,
) -> None:
    """Run broker, gateway, server and simulated kits together on this machine.

    Files go to var/demo/ under the current folder, apart from any installation on this
    machine. Uses Mosquitto when installed, otherwise an embedded broker. Ctrl-C stops
    everything.
    """
    from lokaalmeten.demo import DemoError, DemoPlan, run_demo
    from lokaalmeten.settings import SettingsError, retired_variables

    try:
        retired_variables()
    except SettingsError as exc:
        fail(str(exc))
    try:
        http_port = port or int(os.environ.get("LM_SERVER_PORT", "8000"))
    except ValueError:
        fail(f"LM_SERVER_PORT = {os.environ['LM_SERVER_PORT']!r}: must be a port number, e.g. 8080")
    try:
        plan = DemoPlan(
            http_port=http_port, kits=kits, interval=interval, embedded_broker=embedded_broker
        )
        code = run_demo(plan, typer.echo)
    except DemoError as exc:
        fail(str(exc))
    raise typer.Exit(code)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
