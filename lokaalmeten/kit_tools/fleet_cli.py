"""``lokaalmeten fleet``: firmware releases for the kits of this gateway, rolled out in stages.

lokaalmeten fleet release firmware/ --version 0.3.0
lokaalmeten fleet rollout 0.3.0 --canary 2        # or --canary 10%, or --node ID
lokaalmeten fleet status                          # every kit: firmware, offer, verdict, why
lokaalmeten fleet rollout 0.3.0 --all             # once the canaries are healthy
lokaalmeten fleet pause --reason "kit-3 reboots" --withdraw
lokaalmeten fleet resume

The settings are the gateway's (docs/configuration.md: ``registry``, ``broker``,
``releases``, ``rollout``, ``ingest_port``), from the options, the environment or the
installation's /etc/lokaalmeten/lokaalmeten.env; run them as the gateway's user
(``sudo -u lokaalmeten``), whose gateway writes the same rollout state. What they do is in
gateway/fleet_actions.py; the health gate is gateway/fleet_gate.py (docs/fleet.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lokaalmeten.cli_errors import fail
from lokaalmeten.gateway.cli import RegistryOption
from lokaalmeten.settings import (
    STATE_DIR,
    GatewaySettings,
    SettingsError,
    load_settings,
    refuse_outside_installation,
)

if TYPE_CHECKING:  # the gateway's modules (and paho) load only for the commands using them
    from lokaalmeten.gateway.fleet import Rollout
    from lokaalmeten.gateway.fleet_actions import Fleet

fleet_app = typer.Typer(
    help="Firmware releases for the kits: built, signed and kept by the gateway, offered to "
    "canaries first and then to every kit, paused by a health gate when too many fail "
    "(docs/fleet.md).",
    no_args_is_help=True,
)

ReleasesOption = Annotated[
    Path | None,
    typer.Option(
        "--releases",
        help="Folder the releases are kept in (default: the releases setting, LM_RELEASES; "
        "the gateway serves the kits from it).",
    ),
]
StateOption = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="The rollout's state file (default: the rollout setting, LM_ROLLOUT); the "
        "gateway must read the same one.",
    ),
]
BrokerOption = Annotated[
    str | None,
    typer.Option(
        "--broker",
        help="The broker the offers are published to with the gateway's account, "
        "mqtt://[user[:password]@]host[:port] (default: LM_BROKER, LM_MQTT_PASSWORD).",
    ),
]
MaxFailedOption = Annotated[
    str | None,
    typer.Option(
        "--max-failed",
        help="The health gate pauses the rollout when more than this share of the kits "
        "offered it fail (refuse it, roll back) or fall silent: 0.2 or 20% (default: the "
        "rollout's, 20% for a new one).",
    ),
]
SilentAfterOption = Annotated[
    int | None,
    typer.Option(
        "--silent-after",
        min=1,
        metavar="MINUTES",
        help="Minutes without a status after which an offered kit counts as silent "
        "(default: the rollout's, 30 for a new one; kits send one every 10 minutes).",
    ),
]


def _settings(
    registry: Path | None = None,
    broker: str | None = None,
    releases: Path | None = None,
    state: Path | None = None,
    files: tuple[str, ...] = ("registry", "releases", "rollout"),
) -> GatewaySettings:
    """The gateway's settings with the options given. None of ``files`` may be a new one
    beside the installation's: the gateway would never read it."""
    try:
        settings = load_settings(
            GatewaySettings,
            {"rollout": "--state"},
            registry=None if registry is None else str(registry),
            broker=broker,
            releases=None if releases is None else str(releases),
            rollout=None if state is None else str(state),
        )
        refuse_outside_installation(settings, *files)
    except SettingsError as exc:
        fail(str(exc))
    return settings


@contextmanager
def _fleet(settings: GatewaySettings) -> Iterator[Fleet]:
    """The rollout's state, node directory and registry; every problem is one error line."""
    from lokaalmeten.gateway.directory import DirectoryError
    from lokaalmeten.gateway.fleet import RolloutError
    from lokaalmeten.gateway.fleet_actions import FleetError, open_fleet
    from lokaalmeten.gateway.registry import RegistryError

    # The gate's own log line (a pause it just made) is for the gateway's journal; here the
    # command's answer says it.
    logging.getLogger("lokaalmeten.gateway").addHandler(logging.NullHandler())
    try:
        fleet = open_fleet(settings)
    except FleetError as exc:
        fail(str(exc))
    try:
        yield fleet
    except (FleetError, RolloutError, DirectoryError, RegistryError) as exc:
        fail(str(exc))
    finally:
        fleet.close()


def _gate_line(rollout: Rollout) -> str:
    gate = rollout.gate
    return (
        f"health gate: pauses when more than {gate.max_failed:.0%} of the kits offered it "
        f"fail or fall silent (no status for {gate.silent_after / 60:g} min)"
    )


def _listed(nodes: list[str], shown: int = 12) -> str:
    more = f" and {len(nodes) - shown} more" if len(nodes) > shown else ""
    return ", ".join(nodes[:shown]) + more


def _kits(count: int) -> str:
    return "1 kit" if count == 1 else f"{count} kits"


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
    releases: ReleasesOption = None,
    key: Annotated[
        Path,
        typer.Option(
            help="The gateway's release key (Ed25519; made on first use, readable by its "
            "owner only). Keep a copy offline: kits accept only releases it signed."
        ),
    ] = STATE_DIR / "release.key",
    march: Annotated[
        list[str] | None,
        typer.Option(
            help="Build for this chip architecture only (repeatable): xtensawin (ESP32, "
            "ESP32-S3), rv32imc (ESP32-C3, C6), or x64 for simulated kits (lokaalmeten "
            "simulate). Default: every chip the boards use."
        ),
    ] = None,
) -> None:
    """Build and sign a new release of FIRMWARE for every kind of chip.

    Each build has a manifest of every file (size, SHA-256) signed by the release key; a
    release is never changed once made."""
    from lokaalmeten.kit_tools.release import ReleaseError, make_release, public_key, release_key

    folder = Path(_settings(releases=releases, files=("releases",)).releases)
    try:
        signer = release_key(key)
        typer.echo(f"building release {version} from {firmware} …")
        made = make_release(firmware, version, folder, signer, tuple(march or ()))
    except (ReleaseError, OSError) as exc:
        fail(str(exc))
    for built_for, build in made.folders.items():
        typer.echo(f"  {built_for}: {build}")
    typer.echo(
        f"release {made.version}: {made.files} files, {made.size / 1024:.0f} KiB per build, "
        f"signed by {key}"
    )
    typer.echo(f"release public key (kits verify with it): {public_key(signer).hex()}")
    typer.echo(f"next: lokaalmeten fleet rollout {made.version} --canary 2")


@fleet_app.command("rollout")
def rollout(
    version: Annotated[
        str, typer.Argument(help="The release to offer, made by 'lokaalmeten fleet release'.")
    ],
    canary: Annotated[
        str | None,
        typer.Option(
            "--canary",
            metavar="N|P%",
            help="Offer it to N kits (e.g. 2) or a share of them (e.g. 10%, rounded up), "
            "chosen among the kits not running it: online ones heard recently first, then "
            "by node id. Again: as many more.",
        ),
    ] = None,
    all_kits: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Offer it to every kit not yet offered it; refused while a canary is still "
            "pending, downloading or on trial (--force to go on regardless).",
        ),
    ] = False,
    node: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            metavar="ID",
            help="Offer it to this kit (repeatable, or comma-separated): canaries chosen by hand.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="With --all: offer it although canaries are unsettled, or without canaries.",
        ),
    ] = False,
    max_failed: MaxFailedOption = None,
    silent_after: SilentAfterOption = None,
    registry: RegistryOption = None,
    broker: BrokerOption = None,
    releases: ReleasesOption = None,
    state: StateOption = None,
) -> None:
    """Offer release VERSION to canaries (--canary, --node), then to every kit (--all).

    Each chosen kit gets a retained offer on <prefix>/<node>/update and fetches the release
    from the gateway's HTTP ingest. A rollout of another version is replaced (its offers
    withdrawn)."""
    from lokaalmeten.gateway.fleet_actions import Choice, FleetError, offer_release, share

    nodes = tuple(n.strip() for given in node or () for n in given.split(",") if n.strip())
    if sum((canary is not None, all_kits, bool(nodes))) != 1:
        fail("say which kits: one of --canary N|P%, --all or --node ID")
    if force and not all_kits:
        fail("--force goes only with --all")
    try:
        failed_share = None if max_failed is None else share(max_failed)
    except FleetError as exc:
        fail(str(exc))
    settings = _settings(registry, broker, releases, state)
    with _fleet(settings) as fleet:
        started = offer_release(
            fleet,
            version,
            Choice(canary=canary, all_kits=all_kits, nodes=nodes),
            max_failed=failed_share,
            silent_after=None if silent_after is None else silent_after * 60,
            force=force,
        )
    stage = "every kit" if all_kits else "canaries"
    typer.echo(
        f"offered {version} to {_kits(len(started.chosen))} ({stage}): {_listed(started.chosen)}"
    )
    typer.echo(
        f"  retained on {settings.topic_prefix}/<node>/update; the kits download it from "
        f"port {settings.ingest_port} of this gateway"
    )
    if started.replaced is not None:
        typer.echo(
            f"replaced the rollout of {started.replaced}: its offer withdrawn from "
            f"{_kits(len(started.withdrawn))}"
        )
    typer.echo(_gate_line(started.rollout))
    if not all_kits:
        typer.echo(
            f"next: lokaalmeten fleet status; lokaalmeten fleet rollout {version} --all once "
            "the canaries are healthy"
        )


@fleet_app.command("status")
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document (rollout, counts, kits).")
    ] = False,
    registry: RegistryOption = None,
    state: StateOption = None,
) -> None:
    """Every kit's firmware, offer and health verdict, under the rollout's state.

    One line per kit: its node id, the firmware it runs, whether it is online, its offer and
    the health gate's verdict with the reason; above them the rollout (version, stage, paused
    by whom and why) and the counts. Applies the gate first, as the gateway does."""
    from lokaalmeten.gateway.fleet_actions import status as fleet_status
    from lokaalmeten.kit_tools.fleet_status import status_doc, status_text

    with _fleet(_settings(registry, state=state)) as fleet:
        doc = status_doc(*fleet_status(fleet))
    if as_json:
        typer.echo(json.dumps(doc, indent=1))
        return
    for line in status_text(doc):
        typer.echo(line)


@fleet_app.command("pause")
def pause(
    reason: Annotated[
        str, typer.Option(help="Why, shown by 'fleet status' and to kits refused a download.")
    ] = "paused by the operator",
    withdraw: Annotated[
        bool,
        typer.Option(
            "--withdraw",
            help="Also clear the retained offers of the kits that have not started (they "
            "stay on their firmware); resume offers it to them again.",
        ),
    ] = False,
    registry: RegistryOption = None,
    broker: BrokerOption = None,
    state: StateOption = None,
) -> None:
    """Pause the rollout: its downloads are refused until it is resumed.

    The gateway answers 503 with Retry-After, so kits that have not switched stay on their
    firmware; kits already on trial finish it."""
    from lokaalmeten.gateway.fleet_actions import pause as fleet_pause

    with _fleet(_settings(registry, broker, state=state)) as fleet:
        before = fleet.state.current()
        paused, withdrawn = fleet_pause(fleet, reason, withdraw)
    held = paused.paused
    already = before is not None and before.paused is not None
    if held is not None and (already or held.by == "gate"):
        # The gate's own pause keeps its reason: it says what went wrong.
        by = "the health gate" if held.by == "gate" else "the operator"
        typer.echo(f"the rollout of {paused.version} was already paused by {by}: {held.reason}")
    elif held is not None:
        typer.echo(f"paused the rollout of {paused.version}: {held.reason}")
    if withdraw:
        if withdrawn:
            typer.echo(
                f"withdrew the offer from {_kits(len(withdrawn))} that had not started: "
                f"{_listed(withdrawn)}"
            )
        else:
            typer.echo("no offer withdrawn: every kit offered it has started")
    typer.echo("lokaalmeten fleet resume goes on; lokaalmeten fleet status shows every kit")


@fleet_app.command("resume")
def resume(
    max_failed: MaxFailedOption = None,
    silent_after: SilentAfterOption = None,
    registry: RegistryOption = None,
    broker: BrokerOption = None,
    state: StateOption = None,
) -> None:
    """Go on with a paused rollout, offering it anew to the kits that had not started.

    Its downloads are served again, and the kits that had not started (or whose offer was
    withdrawn) get a new offer. Refused when the health gate would pause it again at once
    (raise --max-failed, or roll out a fixed release)."""
    from lokaalmeten.gateway.fleet_actions import FleetError, share
    from lokaalmeten.gateway.fleet_actions import resume as fleet_resume

    try:
        failed_share = None if max_failed is None else share(max_failed)
    except FleetError as exc:
        fail(str(exc))
    with _fleet(_settings(registry, broker, state=state)) as fleet:
        resumed, again = fleet_resume(
            fleet, failed_share, None if silent_after is None else silent_after * 60
        )
    typer.echo(f"resumed the rollout of {resumed.version} (stage {resumed.stage})")
    if again:
        typer.echo(f"offered it again to {_kits(len(again))}: {_listed(again)}")
    typer.echo(_gate_line(resumed))
