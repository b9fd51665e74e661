"""``lokaalmeten archive``: the bulk archive brought up to date (the systemd timer runs it
every night; docs/archive.md)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from lokaalmeten.cli_errors import fail


def _day(text: str | None, option: str) -> int | None:
    from lokaalmeten.archive.layout import day_start

    if text is None:
        return None
    try:
        return day_start(date.fromisoformat(text.strip()))
    except ValueError:
        fail(f"{option} {text!r}: send a date as YYYY-MM-DD, e.g. 2026-11-28 (a UTC day)")


def archive_command(
    folder: Annotated[
        str | None,
        typer.Option(help="The archive folder (default LM_ARCHIVE_FOLDER); made if missing."),
    ] = None,
    store: Annotated[str | None, typer.Option(help="Store URL to read (LM_STORE).")] = None,
    registry: Annotated[
        str | None,
        typer.Option(help="The gateway's registry, for the kits' published places (LM_REGISTRY)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="First UTC day to check, YYYY-MM-DD (default: the first reading's)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Last UTC day to check, YYYY-MM-DD, included (default: yesterday)."),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(min=1, help="Check only the last DAYS complete days (instead of --since)."),
    ] = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Write every file of the range again, changed or not (after moving a kit's "
            "place); files whose bytes come out equal are left as they are.",
        ),
    ] = False,
) -> None:
    """Write the bulk archive: one gzipped CSV per UTC day, one Parquet per month and
    quantity, SHA256SUMS and a DCAT index (index.jsonld).

    Only days whose readings changed since the last run are written again (a late reading
    rewrites its day and month), and only complete UTC days are archived. Rerun it as often
    as you like: an unchanged day keeps its bytes. The server publishes the folder at
    /archive/ when LM_ARCHIVE_FOLDER names it.
    """
    from lokaalmeten.archive.build import ArchiveError, ArchivePlan, build_archive
    from lokaalmeten.archive.layout import DAY, day_text
    from lokaalmeten.gateway.directory import DirectoryReader
    from lokaalmeten.server.privacy import public_places
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
            {"archive_folder": "--folder"},
            store=store,
            registry=registry,
            archive_folder=folder,
        )
        refuse_outside_installation(settings, "store", "registry")
    except SettingsError as exc:
        fail(str(exc))
    if not settings.archive_folder:
        fail("no archive folder: pass --folder or set LM_ARCHIVE_FOLDER")
    missing = missing_store(settings.store)
    if missing:
        fail(f"no store at {Path(missing).absolute()} ({settings.store}); check --store / LM_STORE")
    today = int(time.time()) // DAY * DAY
    first, last = _day(since, "--since"), _day(until, "--until")
    if days is not None and first is not None:
        fail("--days and --since both say where to start: pass one of them")
    end = today if last is None else last + DAY
    if end > today:
        fail(
            f"--until {until}: the archive holds complete UTC days only; the last one now "
            f"is {day_text(today - DAY)}"
        )
    try:
        opened = open_store(settings.store, read_only=True)
    except StoreError as exc:
        fail(str(exc))
    directory = DirectoryReader(Path(settings.registry))
    try:
        if days is not None:
            first = end - days * DAY
        if first is None:
            spans = opened.spans()
            if not spans:
                typer.echo("the store holds no readings yet: nothing to archive")
                first = end - DAY
            else:
                first = min(start for start, _ in spans.values()) // DAY * DAY
        if first >= end:
            fail(f"--since {since} is after --until {until or day_text(today - DAY)}")
        places = public_places(directory, settings)
        typer.echo(
            f"archive {settings.archive_folder}: UTC days {day_text(first)} to "
            f"{day_text(end - DAY)} from {settings.store}"
        )
        plan = ArchivePlan(Path(settings.archive_folder), first, end, today, rebuild)
        summary = build_archive(opened, places, settings, plan, typer.echo)
    except (ArchiveError, StoreError) as exc:
        fail(str(exc))
    finally:
        opened.close()
        directory.close()
    typer.echo(
        f"{summary.days} days with readings checked: {len(summary.written)} files written, "
        f"{summary.unchanged} unchanged"
        + (f", {len(summary.kept)} kept from before the store's retention" if summary.kept else "")
    )
