"""What the operator does with a rollout: offer a release (canaries, then all), pause, resume,
and look at how every kit is doing. ``lokaalmeten fleet`` (lokaalmeten/kit_tools/fleet_cli.py)
prints what these return::

    fleet = open_fleet(settings)                       # the state, directory, registry, broker
    started = offer_release(fleet, "0.3.0", Choice(canary="10%"))
    started.chosen                                     # ["kit-2", "kit-5"], most alive first
    offer_release(fleet, "0.3.0", Choice(all_kits=True))   # FleetError while canaries pend
    pause(fleet, "checking kit-2", withdraw=True)
    resume(fleet)

The state is written before the offers are published, so a kit that downloads the moment its
offer arrives is admitted; an offer the broker did not take is taken back out of the state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from lokaalmeten.gateway.directory import Directory, DirectoryError, KitEntry
from lokaalmeten.gateway.fleet import (
    Gate,
    Offer,
    Rollout,
    RolloutError,
    RolloutFile,
    Stage,
    offer_message,
    release_builds,
)
from lokaalmeten.gateway.fleet_gate import UNSETTLED, GateResult, KitVerdict, RolloutWatch, judge
from lokaalmeten.gateway.fleet_offers import OfferError, publish_retained
from lokaalmeten.gateway.registry import Registry, RegistryError
from lokaalmeten.settings import GatewaySettings

Publish = Callable[[Mapping[str, bytes]], None]


class FleetError(RuntimeError):
    """The action cannot be done; the message says why and what to do instead."""


@dataclass
class Fleet:
    settings: GatewaySettings
    state: RolloutFile
    directory: Directory
    registered: list[str] | None  # the registered kits; None: registration is not required
    publish: Publish
    releases: Path
    clock: Callable[[], float] = time.time

    @property
    def watch(self) -> RolloutWatch:
        return RolloutWatch(self.state, self.directory.entries, self.clock)

    def kits(self) -> dict[str, KitEntry | None]:
        """The kits a release may be offered to: the registered ones (those never heard
        from too), else every kit in the node directory."""
        entries = self.directory.entries()
        if self.registered is None:
            return dict(entries)
        return {node: entries.get(node) for node in sorted(self.registered)}

    def close(self) -> None:
        self.directory.close()


def open_fleet(settings: GatewaySettings, releases: Path | None = None) -> Fleet:
    """The rollout's state, the node directory and the registry the gateway uses."""
    where = Path(settings.registry)
    if not where.exists():
        raise FleetError(
            f"no registry at {where.absolute()}; the node directory lives in it and the "
            "gateway makes it when it starts (LM_REGISTRY, or --registry PATH)"
        )
    registered = None
    try:
        if settings.require_registration:
            registry = Registry(where)
            registered = [e.name for e in registry.entries() if e.role == "kit"]
            registry.close()
        directory = Directory(where)
    except (RegistryError, DirectoryError, OSError) as exc:
        raise FleetError(f"cannot open the registry {where.absolute()}: {exc}") from None
    return Fleet(
        settings,
        RolloutFile(Path(settings.rollout)),
        directory,
        registered,
        lambda messages: publish_retained(settings, messages),
        Path(settings.releases) if releases is None else releases,
    )


@dataclass(frozen=True)
class Choice:
    """Which kits to offer the release: ``canary`` N or N% of the kits not on it, every kit
    not yet offered it (``all_kits``), or these ``nodes``."""

    canary: str | None = None
    all_kits: bool = False
    nodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Started:
    rollout: Rollout
    chosen: list[str]
    withdrawn: list[str] = field(default_factory=list)  # kits offered the replaced release
    replaced: str | None = None  # the version of the rollout this one replaced


def canary_count(spec: str, pool: int) -> int:
    """``3`` kits, or ``10%`` of ``pool`` rounded up; at least one."""
    text = spec.strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if not 0 < share <= 100:
                raise ValueError
            return max(1, math.ceil(share / 100 * pool))
        count = int(text)
        if count < 1:
            raise ValueError
        return count
    except ValueError:
        raise FleetError(
            f"--canary {spec!r}: give a number of kits (e.g. 3) or a share (e.g. 10%)"
        ) from None


def share(spec: str) -> float:
    """``0.2`` or ``20%``, as a share from 0 to 1."""
    text = spec.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise FleetError(f"--max-failed {spec!r}: give a share such as 0.2 or 20%")
    return value


def preference(kits: Mapping[str, KitEntry | None], now: float, recent: float) -> list[str]:
    """The kits in the order they are chosen: online ones heard within ``recent`` seconds
    first, then the other online ones, then the rest; by node id within each, so that the
    same directory always gives the same canaries."""

    def rank(node: str) -> tuple[int, str]:
        entry = kits[node]
        status = None if entry is None else entry.status
        if status is None or status.state != "online":
            return 2, node
        heard = status.heard or 0
        return (0 if now - heard <= recent else 1), node

    return sorted(kits, key=rank)


def _gate(current: Rollout | None, max_failed: float | None, silent_after: int | None) -> Gate:
    gate = current.gate if current is not None else Gate()
    if max_failed is not None:
        gate = replace(gate, max_failed=max_failed)
    if silent_after is not None:
        gate = replace(gate, silent_after=silent_after)
    return gate


def _refuse_all(result: GateResult | None, rollout: Rollout) -> None:
    unsettled = [
        kit
        for node, kit in (result.kits.items() if result else ())
        if rollout.offers[node].stage == "canary" and kit.verdict in UNSETTLED
    ]
    if unsettled:
        named = ", ".join(f"{kit.node} ({kit.verdict}: {kit.why})" for kit in unsettled[:8])
        raise FleetError(
            f"not every canary of {rollout.version} is settled: {named}. Wait until they are "
            "healthy (lokaalmeten fleet status), or --force"
        )


def offer_release(
    fleet: Fleet,
    version: str,
    choice: Choice,
    max_failed: float | None = None,
    silent_after: int | None = None,
    force: bool = False,
) -> Started:
    """Offer ``version`` to the chosen kits; a rollout of another version is replaced (its
    offers withdrawn). FleetError, with nothing changed, when it may not be done."""
    if not release_builds(fleet.releases, version):
        raise FleetError(_no_release(fleet.releases, version))
    port = _ingest_port(fleet)
    current, result = fleet.watch.check()
    same = current is not None and current.version == version
    gate = _gate(current if same else None, max_failed, silent_after)
    kits = fleet.kits()
    now = fleet.clock()
    admitted = {n for n in kits if same and current is not None and current.admits(n)}
    not_on_it = [n for n in preference(kits, now, gate.silent_after) if _runs(kits[n]) != version]
    if same and current is not None and current.paused is not None:
        # Not even with --force: a paused rollout's downloads are refused (503), so an offer
        # made now would only leave kits waiting. Resuming judges the kits again first.
        by = "the health gate" if current.paused.by == "gate" else "the operator"
        raise FleetError(
            f"the rollout of {version} is paused by {by} ({current.paused.reason}); "
            "lokaalmeten fleet resume first, or roll out a fixed release"
        )
    stage: Stage = "canary"
    if choice.nodes:
        unknown = [n for n in choice.nodes if n not in kits]
        if unknown:
            raise FleetError(f"not a known kit: {', '.join(unknown)} (lokaalmeten nodes list)")
        on_it = [n for n in choice.nodes if _runs(kits[n]) == version]
        if on_it:
            raise FleetError(f"{', '.join(on_it)} already run {version}")
        chosen = [n for n in dict.fromkeys(choice.nodes) if n not in admitted]
    elif choice.canary is not None:
        pool = [n for n in not_on_it if n not in admitted]
        chosen = pool[: canary_count(choice.canary, len(not_on_it))]
    else:
        stage = "all"
        if not same and not force:
            raise FleetError(
                f"no canaries of {version} yet: start with --canary N (or --all --force to "
                "offer it to every kit at once)"
            )
        if same and current is not None and not force:
            if result is not None and result.pause is not None:
                raise FleetError(f"the health gate pauses the rollout: {result.pause}")
            _refuse_all(result, current)
        chosen = [n for n in not_on_it if n not in admitted]
    if not chosen:
        raise FleetError(
            f"no kit left to offer {version} to: "
            + (f"{len(admitted)} have it offered, " if admitted else "")
            + f"{len(kits) - len(not_on_it)} of {len(kits)} run it"
        )
    return _start(fleet, version, kits, chosen, stage, gate, current, int(now), port)


def _start(
    fleet: Fleet,
    version: str,
    kits: Mapping[str, KitEntry | None],
    chosen: list[str],
    stage: Stage,
    gate: Gate,
    before: Rollout | None,
    now: int,
    port: int,
) -> Started:
    def edit(current: Rollout | None) -> Rollout:
        if current is not None and current.version == version:
            base = replace(current, gate=gate)
        else:
            serial = 0 if current is None else current.serial
            base = Rollout(version, now, gate=gate, serial=serial)
        offers, serial = {}, base.serial
        for node in chosen:
            serial += 1
            earlier = base.offers.get(node)
            was = earlier.was if earlier is not None else _runs(kits[node])
            offers[node] = Offer(now, serial, stage, was)
        return base.offered(offers)

    rollout = _change(fleet, edit)
    if rollout is None:
        raise FleetError("the rollout's state vanished while it was written; run it again")
    messages = {node: offer_message(version, port, rollout.offers[node].serial) for node in chosen}
    withdrawn = []
    if before is not None and before.version != version:
        withdrawn = [n for n in before.offers if n not in messages]
        messages.update({n: b"" for n in withdrawn})
    try:
        fleet.publish(messages)
    except OfferError as exc:
        # Taken back unless the state changed meanwhile (the gate, another command): then
        # the kits not reached stay listed, as offered but pending, until offered again.
        _change(fleet, lambda current: before if current == rollout else current)
        raise FleetError(f"{exc}; nothing was offered") from None
    replaced = before.version if before is not None and before.version != version else None
    return Started(rollout, chosen, withdrawn, replaced)


def pause(fleet: Fleet, reason: str, withdraw: bool = False) -> tuple[Rollout, list[str]]:
    """Pause the rollout by hand; ``withdraw``: clear the offers of the kits that have not
    started (they stay on their version and are not admitted until ``resume``)."""
    current, result = _rollout(fleet)
    now = int(fleet.clock())
    quiet = [] if not withdraw else _not_started(current, result)

    def edit(rollout: Rollout | None) -> Rollout | None:
        if rollout is None or rollout.version != current.version:
            return rollout
        offers = {n: replace(rollout.offers[n], withdrawn=now) for n in quiet}
        # A pause the gate made keeps its reason: it says what went wrong.
        held = rollout if rollout.paused is not None else rollout.paused_by("operator", reason, now)
        return replace(held, offers={**rollout.offers, **offers})

    paused = _change(fleet, edit)
    if paused is None or paused.version != current.version:
        raise FleetError("the rollout changed meanwhile; look again: lokaalmeten fleet status")
    if quiet:
        try:
            fleet.publish({node: b"" for node in quiet})
        except OfferError as exc:
            # Paused all the same, so no download starts; the offers stay where they are.
            _change(fleet, lambda r: _unwithdraw(r, quiet, current.offers))
            raise FleetError(f"paused, but the offers were not withdrawn: {exc}") from None
    return paused, quiet


def resume(
    fleet: Fleet, max_failed: float | None = None, silent_after: int | None = None
) -> tuple[Rollout, list[str]]:
    """Clear the pause and offer the release again to the kits that have not started (a kit
    that was refused a download tries again at a new offer). Refused, with nothing changed,
    when the gate would pause again at once."""
    current, _ = _rollout(fleet)
    if current.paused is None:
        raise FleetError(f"the rollout of {current.version} is not paused")
    port = _ingest_port(fleet)
    gate = _gate(current, max_failed, silent_after)
    now = fleet.clock()
    result = judge(replace(current, gate=gate, paused=None), fleet.directory.entries(), now)
    if result.pause is not None:
        raise FleetError(
            f"the health gate would pause the rollout again at once: {result.pause}. Raise "
            "--max-failed, or roll out a fixed release"
        )
    again = _not_started(current, result) + [
        n for n, o in current.offers.items() if o.withdrawn is not None
    ]

    def edit(rollout: Rollout | None) -> Rollout | None:
        if rollout is None or rollout.version != current.version:
            return rollout
        offers, serial = {}, rollout.serial
        for node in sorted(again):
            serial += 1
            offers[node] = replace(rollout.offers[node], at=int(now), serial=serial, withdrawn=None)
        return replace(rollout.resumed(), gate=gate).offered(offers)

    resumed = _change(fleet, edit)
    if resumed is None or resumed.version != current.version:
        raise FleetError("the rollout changed meanwhile; look again: lokaalmeten fleet status")
    messages = {n: offer_message(current.version, port, resumed.offers[n].serial) for n in again}
    try:
        fleet.publish(messages)
    except OfferError as exc:
        # Paused again as it was, so that the kits the offers did not reach are not left
        # admitted but never told (the command can simply be run again).
        _change(fleet, lambda rollout: current if rollout == resumed else rollout)
        raise FleetError(f"{exc}; the rollout stays paused") from None
    return resumed, sorted(again)


@dataclass(frozen=True)
class KitLine:
    """One kit in ``lokaalmeten fleet status``."""

    node: str
    entry: KitEntry | None
    offer: Offer | None
    verdict: KitVerdict | None


def status(fleet: Fleet) -> tuple[Rollout | None, GateResult | None, list[KitLine]]:
    """The rollout after the gate was applied, the gate's result, and every kit."""
    rollout, result = fleet.watch.check()
    kits = fleet.kits()
    nodes = sorted(set(kits) | set(rollout.offers if rollout else ()))
    lines = [
        KitLine(
            node,
            kits.get(node),
            rollout.offers.get(node) if rollout else None,
            result.kits.get(node) if result else None,
        )
        for node in nodes
    ]
    return rollout, result, lines


def _rollout(fleet: Fleet) -> tuple[Rollout, GateResult]:
    current, result = fleet.watch.check()
    if current is None or result is None:
        raise FleetError(
            f"no rollout ({fleet.state.path} does not exist): start one with "
            "lokaalmeten fleet rollout VERSION --canary N"
        )
    return current, result


def _not_started(rollout: Rollout, result: GateResult) -> list[str]:
    """Admitted kits that have not begun to download (pending, waiting)."""
    return [
        node
        for node, kit in sorted(result.kits.items())
        if rollout.admits(node) and kit.verdict == "pending"
    ]


def _unwithdraw(
    rollout: Rollout | None, nodes: list[str], was: Mapping[str, Offer]
) -> Rollout | None:
    if rollout is None:
        return None
    return replace(rollout, offers={**rollout.offers, **{n: was[n] for n in nodes}})


def _change(fleet: Fleet, edit: Callable[[Rollout | None], Rollout | None]) -> Rollout | None:
    try:
        return fleet.state.change(edit)
    except RolloutError as exc:
        raise FleetError(str(exc)) from None


def _ingest_port(fleet: Fleet) -> int:
    port = fleet.settings.ingest_port
    if not port:
        raise FleetError(
            "the gateway's HTTP ingest is off (ingest_port 0, LM_INGEST_PORT): kits download "
            "releases from it"
        )
    return port


def _runs(entry: KitEntry | None) -> str:
    return "" if entry is None else entry.firmware


def _no_release(releases: Path, version: str) -> str:
    there = []
    if releases.is_dir():
        there = sorted(p.name for p in releases.iterdir() if p.is_dir() and p.name[0] != ".")
    listed = f"; there are: {', '.join(there)}" if there else ""
    return (
        f"no release {version} in {releases} (a folder per chip with manifest.json and "
        f"manifest.sig): make it with lokaalmeten fleet release FIRMWARE --version {version}"
        f"{listed}"
    )
