"""``lokaalmeten quarantine …``: see what the gateway refused, and replay it after a fix.

lokaalmeten quarantine list                       # counts per reason, the newest entries
lokaalmeten quarantine list --reason unknown_node --source kit-9
lokaalmeten quarantine show 12                    # one entry with its payload
lokaalmeten quarantine replay --reason unknown_node --dry-run
lokaalmeten quarantine replay 12 13               # or --reason R, or --all
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from lokaalmeten.cli_errors import fail
from lokaalmeten.gateway.quarantine import Entry, Quarantine, QuarantineError
from lokaalmeten.readings import iso_utc
from lokaalmeten.settings import (
    GatewaySettings,
    SettingsError,
    load_settings,
    refuse_outside_installation,
)

quarantine_app = typer.Typer(
    help="Inspect the input the gateway refused (kept in its spool's quarantine, by reason) "
    "and replay it after fixing the cause: a kit registered, a unit mapped.",
    no_args_is_help=True,
)

SpoolOption = Annotated[
    Path | None,
    typer.Option(
        "--spool",
        help="The gateway's spool file (default: its spool setting, LM_SPOOL). Never created.",
    ),
]
_DETAIL_WIDTH = 60
_VIA = {"mqtt": "MQTT", "http": "HTTP", "store": "refused by a store"}


def _settings(**overrides: Any) -> GatewaySettings:
    """The spool and registry given, else the installation's (never a new file)."""
    try:
        settings = load_settings(GatewaySettings, **overrides)
        refuse_outside_installation(settings, "spool", "registry")
    except SettingsError as exc:
        fail(str(exc))
    return settings


@contextmanager
def _opened(settings: GatewaySettings) -> Iterator[Quarantine]:
    """The spool's quarantine; any problem reading it is one error line."""
    try:
        quarantine = Quarantine(Path(settings.spool), synchronous=settings.spool_synchronous)
    except QuarantineError as exc:
        fail(str(exc))
    try:
        yield quarantine
    except QuarantineError as exc:
        fail(str(exc))
    except sqlite3.Error as exc:
        fail(f"cannot read the spool {quarantine.path.absolute()}: {exc}")
    finally:
        quarantine.close()


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _short(text: str, width: int = _DETAIL_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _filters(reason: str | None, source: str | None) -> str:
    parts = [f"--reason {reason}" if reason else "", f"--source {source}" if source else ""]
    return " ".join(part for part in parts if part)


@quarantine_app.command("list")
def list_entries(
    reason: Annotated[
        str | None, typer.Option(help="Only entries refused for this reason, e.g. unknown_node.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Only entries whose source (MQTT topic, http:/path) contains this."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many (the newest).")] = 50,
    replayed: Annotated[
        bool, typer.Option("--replayed", help="List the entries already replayed instead.")
    ] = False,
    spool: SpoolOption = None,
) -> None:
    """Count the refused input per reason and list the newest entries."""
    settings = _settings(spool=str(spool) if spool else None)
    with _opened(settings) as quarantine:
        counts = quarantine.counts(reason, source, replayed)
        entries = quarantine.entries(reason, source, limit, replayed)
        others = sum(quarantine.counts(replayed=not replayed).values())
    where = quarantine.path.absolute()
    state = "replayed" if replayed else "waiting for a replay"
    total = sum(counts.values())
    if not total:
        matching = f" matches {_filters(reason, source)}" if reason or source else ""
        if replayed:
            typer.echo(f"no replayed entries{matching} in the quarantine of {where}")
        elif matching:
            typer.echo(f"no refused input waiting{matching} in the quarantine of {where}")
        else:
            typer.echo(f"the quarantine of {where} is empty: no refused input waiting")
        return
    typer.echo(f"quarantine of {where}: {_entries(total)} {state}")
    width = max(len(name) for name in counts)
    for name, count in counts.items():
        typer.echo(f"  {name:<{width}}  {count}")
    typer.echo("")
    rows = [
        (str(e.id), iso_utc(e.received_at), e.source, e.reason, _short(e.detail)) for e in entries
    ]
    header = ("id", "received (UTC)", "source", "reason", "detail")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        padded = [cell.ljust(width) for cell, width in zip(row[1:4], widths[1:], strict=True)]
        typer.echo("  ".join([row[0].rjust(widths[0]), *padded, row[4]]).rstrip())
    if len(entries) < total:
        typer.echo(f"(the newest {len(entries)} of {total}; --limit N shows more)")
    if others and not replayed:
        typer.echo(f"({_entries(others)} replayed earlier not shown; --replayed lists them)")
    if not replayed:
        typer.echo(
            "'lokaalmeten quarantine show ID' shows an entry with its payload; "
            "'lokaalmeten quarantine replay' replays after a fix"
        )


def _payload_text(payload: bytes) -> tuple[str, str]:
    """(what the payload is, the payload for reading): JSON indented, text as it is, other
    bytes as a hex dump."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    else:
        return "JSON", json.dumps(doc, indent=2, ensure_ascii=False)
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        pass
    else:
        if all(char.isprintable() or char in "\n\r\t" for char in text):
            return "text, not JSON", text
    lines = [
        f"{offset:08x}  {payload[offset : offset + 16].hex(' ')}"
        for offset in range(0, len(payload), 16)
    ]
    return "binary, shown in hex", "\n".join(lines)


@quarantine_app.command("show")
def show(
    entry_id: Annotated[int, typer.Argument(metavar="ID", help="The entry's id, from 'list'.")],
    spool: SpoolOption = None,
) -> None:
    """Show one refused entry in full, with its payload."""
    settings = _settings(spool=str(spool) if spool else None)
    with _opened(settings) as quarantine:
        entry = quarantine.get(entry_id)
    if entry is None:
        fail(f"no entry {entry_id} in the quarantine of {quarantine.path.absolute()}")
    _show(entry)


def _show(entry: Entry) -> None:
    typer.echo(f"entry     {entry.id}")
    typer.echo(f"received  {iso_utc(entry.received_at)}")
    typer.echo(f"source    {entry.source} ({_VIA[entry.via]})")
    typer.echo(f"reason    {entry.reason}")
    typer.echo(f"detail    {entry.detail}")
    context = {k: v for k, v in entry.context.items() if k != "via"}
    if context:
        typer.echo(f"context   {', '.join(f'{k}={v}' for k, v in sorted(context.items()))}")
    if entry.spooled:
        delivered = len(entry.spooled)
        typer.echo(f"delivered {delivered} readings of this payload went to the stores already")
    if entry.replayed_at is None:
        typer.echo(f"state     waiting ('lokaalmeten quarantine replay {entry.id}' after a fix)")
    else:
        typer.echo(f"state     replayed {iso_utc(entry.replayed_at)}")
    kind, text = _payload_text(entry.payload)
    typer.echo(f"payload   {len(entry.payload)} bytes, {kind}:")
    typer.echo(text)


def _validator(settings: GatewaySettings, registry_path: Path) -> Any:
    """The live ingest's validator, with the registry as it is now."""
    from lokaalmeten.gateway.directory import Directory, DirectoryError, relay_claims
    from lokaalmeten.gateway.metrics import GatewayMetrics
    from lokaalmeten.gateway.registry import Registry
    from lokaalmeten.gateway.validate import RecordValidator

    registry = None
    if settings.require_registration:
        if not registry_path.is_file():
            fail(
                f"no registry at {registry_path.absolute()}; the gateway checks every kit "
                "against its registry (--registry PATH, or LM_REGISTRY)"
            )
        try:
            registry = Registry(registry_path)
        except sqlite3.Error as exc:
            fail(f"cannot read the registry {registry_path.absolute()}: {exc}")
    try:
        directory = Directory(registry_path)
    except DirectoryError as exc:
        fail(str(exc))
    # A relayed batch replayed is sent again by its relay: the same claims hold; a LoRaWAN
    # uplink is its device's node's, as at the webhook.
    claim = relay_claims(directory, registry)
    from lokaalmeten.gateway.quality import quality_stage

    # The live ingest's quality rules; neighbours are left out (the replay has no history of
    # theirs), so a replayed reading is compared only with what it brings along.
    quality = quality_stage(settings, None)
    known = registry.known if registry is not None else None
    return RecordValidator(
        GatewayMetrics(),
        settings.topic_prefix,
        known,
        log_refusals=False,
        quality=quality,
        claim=claim,
        device_node=directory.device_node,
    )


def _selected(
    quarantine: Quarantine, ids: list[int], reason: str | None, every: bool
) -> list[Entry]:
    if ids:
        entries = []
        for entry_id in dict.fromkeys(ids):
            entry = quarantine.get(entry_id)
            if entry is None:
                fail(f"no entry {entry_id} in the quarantine of {quarantine.path.absolute()}")
            if entry.replayed_at is not None:
                typer.echo(f"entry {entry_id} was replayed {iso_utc(entry.replayed_at)}; not again")
            else:
                entries.append(entry)
        return entries
    return list(quarantine.waiting(reason if not every else None))


@quarantine_app.command("replay")
def replay(
    ids: Annotated[
        list[int] | None, typer.Argument(metavar="ID", help="Entries to replay (ids from 'list').")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Replay every waiting entry refused for this reason.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Replay every waiting entry.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what a replay would do; change nothing.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="One line per payload replayed.")
    ] = False,
    spool: SpoolOption = None,
    registry: Annotated[
        Path | None,
        typer.Option(help="The kit registry (default: its registry setting, LM_REGISTRY)."),
    ] = None,
) -> None:
    """Replay refused input through the gateway's own checks, after a fix.

    Each payload is decoded and checked again as the gateway did when it
    arrived (its MQTT topic, or its HTTP endpoint), at the time it was
    received, with today's registry and settings. Readings that pass go to the
    spool; the gateway takes them to the stores (at its next start, if it is
    not running). Entries that pass are marked replayed; the rest stay, with
    their new reason.

    Safe while the gateway runs, and safe to repeat: a replayed entry is not
    replayed again, readings a payload delivered before are not sent again,
    and the stores keep each reading (node, quantity, time) once.
    """
    from lokaalmeten.gateway.replay import BATCH, Outcome, Replayer

    chosen = sum([bool(ids), reason is not None, every])
    if chosen != 1:
        what = "entry ids, --reason R or --all" + (" (one of them)" if chosen else "")
        fail(f"say what to replay: {what}; --dry-run shows what it would do")
    settings = _settings(
        spool=str(spool) if spool else None, registry=str(registry) if registry else None
    )
    with _opened(settings) as quarantine:
        entries = _selected(quarantine, ids or [], reason, every)
        if not entries:
            typer.echo("nothing to replay: no such entry is waiting")
            return
        validator = _validator(settings, Path(settings.registry))
        groups = quarantine.with_mates(entries)
        done = 0

        def progress(outcome: Outcome) -> None:
            nonlocal done
            done += 1
            if verbose:
                numbers = ", ".join(str(entry.id) for entry in outcome.entries)
                refused = "; ".join(f"{r.reason} ({_short(r.detail)})" for r in outcome.refusals)
                result = f"still refused: {refused}" if refused else "accepted"
                typer.echo(
                    f"entry {numbers} ({outcome.entries[0].source}): "
                    f"{len(outcome.fresh)} readings, {result}"
                )
            elif len(groups) > BATCH and done % BATCH == 0:
                typer.echo(f"... {done} of {len(groups)} payloads")

        replayer = Replayer(
            quarantine,
            validator,
            max_readings=settings.spool_max_readings,
            full_policy=settings.spool_full_policy,
        )
        summary = replayer.replay(groups, dry_run=dry_run, progress=progress)
    typer.echo(summary.line(dry_run))
    if summary.stopped:
        fail(f"{summary.stopped}; the rest waits in the quarantine: replay it later", code=1)
