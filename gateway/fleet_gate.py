"""The health gate of a rollout: how each offered kit is doing, and whether to pause.

:func:`judge` is pure: the rollout (gateway/fleet.py), each kit's node directory entry (its
firmware and the update counters of its status) and the time give every offered kit a
verdict, and say to pause when more than the gate's share of them failed or fell silent::

    result = judge(rollout, directory.entries(), now=time.time())
    result.kits["kit-3"]      # KitVerdict("kit-3", "failed", "rolled_back: MemoryError", …)
    result.pause              # "2 of 5 kits offered 0.3.0 failed or fell silent …" or None

:class:`RolloutWatch` applies it where the gateway learns something: after a kit's status is
kept (gateway/kit_facts.py), at every download (gateway/http_fleet.py), and in
``lokaalmeten fleet`` — so the rollout pauses by itself, and a paused rollout's release is
refused to the kits that have not yet started.

The kit reports its update in three status counters, about the version ``update_version``:
``update`` (offered, downloading, waiting, refused, trial, healthy, rolled_back) and
``update_reason`` (refused, rolled_back, waiting).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from lokaalmeten.gateway.directory import KitEntry
from lokaalmeten.gateway.fleet import Gate, Offer, Rollout, RolloutFile

log = logging.getLogger("lokaalmeten.gateway")

Verdict = Literal["pending", "downloading", "trial", "healthy", "failed", "silent", "withdrawn"]
# Settled: neither silence nor time changes them any more.
SETTLED: frozenset[Verdict] = frozenset({"healthy", "failed", "withdrawn"})
# Not yet settled: a kit that may still switch, so not a reason to go on to every kit.
UNSETTLED: frozenset[Verdict] = frozenset({"pending", "downloading", "trial"})
_SHOWN = 8  # kits a pause's reason names


@dataclass(frozen=True, slots=True)
class KitVerdict:
    node: str
    verdict: Verdict
    why: str
    update: str = ""  # the kit's own update state for the rollout's version; '' none


@dataclass(frozen=True, slots=True)
class GateResult:
    kits: Mapping[str, KitVerdict]
    pause: str | None  # why the rollout must pause; None: it may go on

    def count(self, *verdicts: Verdict) -> int:
        return sum(1 for kit in self.kits.values() if kit.verdict in verdicts)


def _minutes(seconds: float) -> str:
    return f"{max(0, round(seconds / 60))} min"


def _silence(offer: Offer, entry: KitEntry | None, gate: Gate, now: float) -> str | None:
    """Why the kit counts as silent, or None. A kit publishes its status on connecting and
    every 10 minutes, so ``silent_after`` without one, counted from the offer at the
    earliest, means it is not running; so does a Last Will that has stood that long."""
    status = None if entry is None else entry.status
    if status is None:
        last = None
    elif status.state == "offline":
        last = status.since
    else:
        last = status.heard
    quiet = now - max(offer.at, last or 0)
    if quiet <= gate.silent_after:
        return None
    if status is not None and status.state == "offline":
        if status.since >= offer.at:
            return f"offline for {_minutes(now - status.since)}"
        return f"offline, no status since the offer {_minutes(now - offer.at)} ago"
    if last is None or last < offer.at:
        return f"no status since the offer {_minutes(now - offer.at)} ago"
    return f"no status for {_minutes(quiet)}"


def kit_verdict(
    version: str, node: str, offer: Offer, entry: KitEntry | None, gate: Gate, now: float
) -> KitVerdict:
    """One offered kit's verdict; counters about another version (an earlier update) are
    not this rollout's."""
    if offer.withdrawn is not None:
        return KitVerdict(node, "withdrawn", "the offer was withdrawn (fleet pause --withdraw)")
    counters = entry.status.counters if entry is not None and entry.status is not None else {}
    ours = counters.get("update_version") == version
    update = str(counters.get("update") or "") if ours else ""
    reason = str(counters.get("update_reason") or "") if ours else ""
    if update in ("refused", "rolled_back"):
        return KitVerdict(node, "failed", f"{update}: {reason or 'no reason given'}", update)
    if update == "healthy":
        return KitVerdict(node, "healthy", f"runs {version}, healthy", update)
    if not update and entry is not None and entry.firmware == version:
        return KitVerdict(node, "healthy", f"runs {version}", update)
    silent = _silence(offer, entry, gate, now)
    if silent is not None:
        return KitVerdict(node, "silent", silent, update)
    if update == "trial":
        return KitVerdict(node, "trial", f"switched to {version}, not yet healthy", update)
    if update == "downloading":
        return KitVerdict(node, "downloading", f"downloading {version}", update)
    if update == "waiting":
        return KitVerdict(node, "pending", f"waiting: {reason or 'no reason given'}", update)
    if update == "offered":
        return KitVerdict(node, "pending", "has the offer, not yet downloading", update)
    if update:
        return KitVerdict(node, "pending", f"reports update state {update!r}", update)
    running = entry.firmware if entry is not None and entry.firmware else "unknown firmware"
    return KitVerdict(node, "pending", f"has not taken the offer up yet ({running})", update)


def too_many(bad: int, judged: int, max_failed: float) -> bool:
    """More than ``max_failed`` of ``judged``? Exactly that share is not more: 0.29 × 100 is
    28.999… in binary floating point, so the share is rounded before it is compared."""
    return bad > round(max_failed * judged, 9)


def judge(rollout: Rollout, entries: Mapping[str, KitEntry], now: float) -> GateResult:
    """Every offered kit's verdict, and the reason to pause when more than
    ``gate.max_failed`` of the kits still offered the release failed or fell silent."""
    kits = {
        node: kit_verdict(rollout.version, node, offer, entries.get(node), rollout.gate, now)
        for node, offer in sorted(rollout.offers.items())
    }
    judged = [kit for kit in kits.values() if kit.verdict != "withdrawn"]
    bad = [kit for kit in judged if kit.verdict in ("failed", "silent")]
    if not judged or not too_many(len(bad), len(judged), rollout.gate.max_failed):
        return GateResult(kits, None)
    named = "; ".join(
        f"{kit.node} {kit.why}" if kit.verdict == "failed" else f"{kit.node} silent: {kit.why}"
        for kit in bad[:_SHOWN]
    )
    more = f"; and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    reason = (
        f"{len(bad)} of {len(judged)} kits offered {rollout.version} failed or fell silent "
        f"(more than {rollout.gate.max_failed:.0%}): {named}{more}"
    )
    return GateResult(kits, reason)


class RolloutWatch:
    """The gate applied to the rollout on disk: pauses it (by the gate) when it says so."""

    def __init__(
        self,
        state: RolloutFile,
        entries: Callable[[], Mapping[str, KitEntry]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.entries = entries
        self.clock = clock

    def status_kept(self, node: str) -> None:
        """A kit's status reached the directory: judged again only when the kit is offered
        the release of a rollout that is not paused (one ``stat`` otherwise)."""
        rollout = self.state.current()
        if rollout is not None and rollout.paused is None and node in rollout.offers:
            self.check()

    def check(self) -> tuple[Rollout | None, GateResult | None]:
        """The rollout as it stands after the gate was applied, with the gate's result."""
        rollout = self.state.current()
        if rollout is None:
            return None, None
        now = self.clock()
        result = judge(rollout, self.entries(), now)
        if result.pause is None or rollout.paused is not None:
            return rollout, result
        judged = rollout
        paused: list[str] = []

        def pause(current: Rollout | None) -> Rollout | None:
            # Decided on the state under the lock: a pause, a resume with another gate or a
            # new rollout written meanwhile (by the operator, another process) is judged
            # afresh, so the gate never pauses twice nor over what it did not judge.
            if current is None or current.paused is not None:
                return current
            reason = (
                result.pause if current == judged else judge(current, self.entries(), now).pause
            )
            if reason is None:
                return current
            paused.append(reason)
            return current.paused_by("gate", reason, int(now))

        rollout = self.state.change(pause)
        if paused:
            log.warning(
                "the rollout of %s is paused by the health gate: %s", judged.version, paused[0]
            )
        if rollout is not None and rollout != judged:
            result = judge(rollout, self.entries(), now)
        return rollout, result
