"""What ``lokaalmeten fleet status`` prints: every kit with its firmware, its offer and the
health gate's verdict, under a header on the rollout; as a table or as JSON::

    rollout, result, lines = status(fleet)          # gateway/fleet_actions.py
    doc = status_doc(rollout, result, lines)        # what --json prints
    print("\\n".join(status_text(doc)))

The JSON is the source of the table, so that the two never say different things.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lokaalmeten.gateway.fleet import Rollout
from lokaalmeten.gateway.fleet_actions import KitLine
from lokaalmeten.gateway.fleet_gate import GateResult, Verdict
from lokaalmeten.readings import iso_utc

# In the order a rollout goes through them; the counts are listed in it.
VERDICTS: tuple[Verdict, ...] = (
    "pending",
    "downloading",
    "trial",
    "healthy",
    "failed",
    "silent",
    "withdrawn",
)
_COLUMNS = ("node", "firmware", "state", "offer", "verdict", "why")


def _kit_state(line: KitLine) -> str:
    status = None if line.entry is None else line.entry.status
    return "never heard" if status is None else status.state


def _kit(line: KitLine) -> dict[str, Any]:
    offer = line.offer
    return {
        "node": line.node,
        "firmware": (line.entry.firmware if line.entry is not None else "") or None,
        "state": _kit_state(line),
        "offer": None
        if offer is None
        else {
            "stage": offer.stage,
            "serial": offer.serial,
            "offered": iso_utc(offer.at),
            "withdrawn": None if offer.withdrawn is None else iso_utc(offer.withdrawn),
            "was": offer.was or None,
        },
        "verdict": None if line.verdict is None else line.verdict.verdict,
        "why": None if line.verdict is None else line.verdict.why,
        "update": (line.verdict.update if line.verdict is not None else "") or None,
    }


def status_doc(
    rollout: Rollout | None, result: GateResult | None, lines: Sequence[KitLine]
) -> dict[str, Any]:
    """The rollout, the counts and every kit, as ``fleet status --json`` prints them."""
    kits = [_kit(line) for line in lines]
    counts: dict[str, int] = {"kits": len(kits)}
    if rollout is not None:
        counts["offered"] = sum(1 for kit in kits if kit["offer"] is not None)
        counts["not_offered"] = len(kits) - counts["offered"]
        counts["running_it"] = sum(1 for kit in kits if kit["firmware"] == rollout.version)
        for verdict in VERDICTS:
            counts[verdict] = result.count(verdict) if result is not None else 0
    header = None
    if rollout is not None:
        paused = rollout.paused
        header = {
            "version": rollout.version,
            "stage": rollout.stage,
            "started": iso_utc(rollout.started),
            "gate": {
                "max_failed": rollout.gate.max_failed,
                "silent_after_minutes": rollout.gate.silent_after / 60,
            },
            "paused": None
            if paused is None
            else {"by": paused.by, "reason": paused.reason, "at": iso_utc(paused.at)},
        }
    return {"rollout": header, "counts": counts, "kits": kits}


def _offer_cell(kit: dict[str, Any]) -> str:
    offer = kit["offer"]
    if offer is None:
        return "-"
    cell = f"{offer['stage']} #{offer['serial']}"
    return cell + " (withdrawn)" if offer["withdrawn"] else cell


def _table(kits: Sequence[dict[str, Any]]) -> list[str]:
    rows = [
        (
            kit["node"],
            kit["firmware"] or "?",
            kit["state"],
            _offer_cell(kit),
            kit["verdict"] or "-",
            kit["why"] or "",
        )
        for kit in kits
    ]
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS) - 1)]
    return [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in [_COLUMNS, *rows]
    ]


def status_text(doc: dict[str, Any]) -> list[str]:
    """The lines of ``fleet status``: the rollout's header, the counts, a table of the kits."""
    counts, rollout = doc["counts"], doc["rollout"]
    if rollout is None:
        out = ["no rollout (lokaalmeten fleet rollout VERSION --canary N starts one)"]
    else:
        gate = rollout["gate"]
        out = [
            f"rollout of {rollout['version']}: stage {rollout['stage']}, started "
            f"{rollout['started']}",
            f"health gate: pauses when more than {gate['max_failed']:.0%} of the kits offered "
            f"it fail or fall silent (no status for {gate['silent_after_minutes']:g} min)",
        ]
        paused = rollout["paused"]
        if paused is not None:
            by = "the health gate" if paused["by"] == "gate" else "the operator"
            out.append(f"PAUSED by {by} at {paused['at']}: {paused['reason']}")
            out.append("  lokaalmeten fleet resume goes on once the cause is understood")
        verdicts = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
        out.append(
            f"kits: {counts['kits']}; offered {counts['offered']}"
            + (f" ({verdicts})" if verdicts else "")
            + f"; not offered {counts['not_offered']}; running {rollout['version']}: "
            f"{counts['running_it']}"
        )
    if not doc["kits"]:
        out.append("no kits yet (lokaalmeten nodes add NODE registers one)")
        return out
    if rollout is None:
        out.append(f"kits: {counts['kits']}")
    return [*out, "", *_table(doc["kits"])]
