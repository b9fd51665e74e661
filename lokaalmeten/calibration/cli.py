"""``lokaalmeten calibrate``: reference data in, co-location fits out, into the calibration book
(LM_CALIBRATION; default calibration.db beside the registry)::

    lokaalmeten calibrate import NL10636.json NL10636-pm25.json utrecht-2026-11.csv
    lokaalmeten calibrate fit --radius 2000 --start 2026-11-01 --end 2026-12-01
    lokaalmeten calibrate list

The store is only read: the raw readings are never changed. A fit is kept as a new version
only when its inputs differ from every fit kept before (docs/calibration.md).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lokaalmeten.calibration.book import BookError, CalibrationBook
from lokaalmeten.calibration.reference import ReferenceError, ReferenceFile, read_reference
from lokaalmeten.cli_errors import fail

if TYPE_CHECKING:
    from lokaalmeten.settings import ServerSettings

calibrate_app = typer.Typer(
    help="PM calibration against reference stations: import their data, fit the kits near "
    "them, list the fits (the raw readings stay as they are; docs/calibration.md).",
    no_args_is_help=True,
)

StoreOption = Annotated[
    str | None, typer.Option(help="Store URL to read (default: LM_STORE, as the server's).")
]
RegistryOption = Annotated[
    str | None,
    typer.Option(help="Registry file whose node directory places the kits (LM_REGISTRY)."),
]
BookOption = Annotated[
    str | None,
    typer.Option(
        "--calibration",
        help="Calibration book file (LM_CALIBRATION; default: calibration.db beside the registry).",
    ),
]


# Options whose name is not the setting's (`--radius` sets calibration_radius).
_FLAGS = {"calibration_radius": "--radius", "pm_kappa": "--kappa"}


def _settings(**overrides: Any) -> ServerSettings:
    from lokaalmeten.settings import ServerSettings, SettingsError, load_settings

    try:
        return load_settings(ServerSettings, _FLAGS, **overrides)
    except SettingsError as exc:
        fail(str(exc))


def _book(path: Path, read_only: bool = False) -> CalibrationBook:
    try:
        return CalibrationBook(path, read_only=read_only)
    except BookError as exc:
        fail(str(exc))


@calibrate_app.command("import")
def import_files(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Luchtmeetnet open API JSON (measurements, stations) or CSV files "
            "(station, time, component, value[, latitude, longitude, name]).",
        ),
    ],
    calibration: BookOption = None,
) -> None:
    """Import reference-station data; every file is checked whole before any is imported."""
    settings = _settings(calibration=calibration)
    parsed: list[ReferenceFile] = []
    for path in files:
        try:
            parsed.append(read_reference(path))
        except ReferenceError as exc:
            fail(f"{exc} (nothing imported)")
    book = _book(settings.calibration_path)
    try:
        for reference in parsed:
            count = book.import_file(reference)
            left_out = []
            if reference.other_components:
                left_out.append(f"{reference.other_components} of other components")
            if reference.missing:
                left_out.append(f"{reference.missing} empty")
            typer.echo(
                f"{reference.path}: {count.stations} stations, {count.new} new values, "
                f"{count.changed} revised, {count.unchanged} unchanged"
                + (f"; left out {', '.join(left_out)}" if left_out else "")
            )
        known = {station.number for station in book.stations()}
        unplaced = sorted({s for s, *_ in book.series()} - known)
        if unplaced:
            typer.echo(
                f"note: no place for {', '.join(unplaced)} yet: import the station file "
                "(/open_api/stations/NUMBER) or a CSV with latitude, longitude"
            )
    finally:
        book.close()
    typer.echo(f"calibration book: {settings.calibration_path}")


@calibrate_app.command("fit")
def fit(
    radius: Annotated[
        float | None,
        typer.Option(help="Metres from a station within which kits are fitted (default 2000)."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First hour, ISO 8601 UTC (default: the reference's).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="End, ISO 8601 UTC, exclusive (default: the reference's).")
    ] = None,
    kappa: Annotated[
        float | None, typer.Option(help="κ of the humidity correction (LM_PM_KAPPA, 0.4).")
    ] = None,
    store: StoreOption = None,
    registry: RegistryOption = None,
    calibration: BookOption = None,
) -> None:
    """Fit every PM stream of the kits near a station.

    A fit over the same inputs as a kept one is not kept again; new inputs make a new
    version, and the old ones stay."""
    from lokaalmeten.calibration.fit import calibrate
    from lokaalmeten.gateway.directory import DirectoryReader
    from lokaalmeten.server.catalogue import thresholds
    from lokaalmeten.store import StoreError, missing_store, open_store

    settings = _settings(
        store=store,
        registry=registry,
        calibration=calibration,
        pm_kappa=kappa,
        calibration_radius=radius,
    )
    span = (_time(start, "--start"), _time(end, "--end"))
    if span[0] is not None and span[1] is not None and span[0] >= span[1]:
        fail("--start must be earlier than --end")
    if missing_store(settings.store):
        fail(f"no store at {missing_store(settings.store)} (--store or LM_STORE)")
    if not Path(settings.registry).exists():
        fail(
            f"no registry at {settings.registry}: the node directory in it places the kits "
            "(--registry or LM_REGISTRY)"
        )
    directory = DirectoryReader(Path(settings.registry))
    places = {
        node: (entry.place.latitude, entry.place.longitude)
        for node, entry in directory.entries().items()
        if entry.place is not None
    }
    default, per_node = thresholds(directory, settings)
    directory.close()
    book = _book(settings.calibration_path)
    try:
        readings = open_store(settings.store, read_only=True)
    except StoreError as exc:
        book.close()
        fail(str(exc))
    began = time.monotonic()
    try:
        outcomes = calibrate(
            readings,
            book,
            places,
            settings.calibration_radius,
            span[0],
            span[1],
            settings.pm_kappa,
            default,
            per_node,
            progress=lambda what: typer.echo(f"fitting {what} …", err=True),
        )
    except StoreError as exc:
        fail(str(exc))
    finally:
        readings.close()
        book.close()
    if not places:
        typer.echo("no kit has a place in the node directory (lokaalmeten places set)")
    for outcome in outcomes:
        head = f"{outcome.node} {outcome.quantity}"
        if outcome.fit is None:
            typer.echo(f"{head}: no fit: {outcome.reason}")
            continue
        f = outcome.fit
        typer.echo(
            f"{head}: {f.version} ({outcome.reason}) station {f.station} at {f.distance_m:.0f} m: "
            f"reference = {f.slope:.3f} × corrected + {f.offset:.2f}, n={f.n}, r²={f.r2:.3f}, "
            f"RMSE={f.rmse:.2f} µg/m³, {_iso(f.start)}..{_iso(f.end)}"
            + (f", {outcome.too_humid} hours ≥ 95 % RH left out" if outcome.too_humid else "")
        )
    typer.echo(f"{len(outcomes)} streams in {time.monotonic() - began:.1f} s")


@calibrate_app.command("list")
def list_fits(
    node: Annotated[str | None, typer.Option(help="Only this kit's fits.")] = None,
    calibration: BookOption = None,
) -> None:
    """Every fit kept, oldest first per stream; the newest of each stream is applied."""
    settings = _settings(calibration=calibration)
    if not settings.calibration_path.exists():
        fail(f"no calibration book at {settings.calibration_path} (calibrate import first)")
    book = _book(settings.calibration_path, read_only=True)
    try:
        fits = book.fits(node)
        series = book.series()
    finally:
        book.close()
    typer.echo("station\tquantity\tfirst hour\tlast hour\thours")
    for station, quantity, first, last, hours in series:
        typer.echo(f"{station}\t{quantity}\t{_iso(first)}\t{_iso(last)}\t{hours}")
    if not fits:
        typer.echo("no fits yet (lokaalmeten calibrate fit)")
        return
    typer.echo("\nnode\tquantity\tversion\tstation\tslope\toffset\tn\tr2\trmse\tperiod\tmade")
    for f in fits:
        typer.echo(
            f"{f.node}\t{f.quantity}\t{f.version}\t{f.station}\t{f.slope:.4f}\t{f.offset:.3f}\t"
            f"{f.n}\t{f.r2:.3f}\t{f.rmse:.2f}\t{_iso(f.start)}..{_iso(f.end)}\t{_iso(f.made)}"
        )


def _time(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option} {text!r} is not ISO 8601: write e.g. 2026-11-01 or 2026-11-01T00:00Z")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # as the API: a time without an offset is UTC
    return int(moment.timestamp())


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(epoch))
