"""Replay quarantined input after its cause is fixed (a kit registered, a unit mapped).

Each payload goes through the decoding and validation the live ingest gave it (MQTT topic
and payload, or the HTTP endpoint with what the request said beside the body), with the
current registry and settings and the original receive time. In one spool transaction, the
readings that now pass join the spool (the gateway's writers take them to the stores) and
the payload's quarantine entries are marked replayed; what is still refused stays, with its
new reason. Idempotent: a replayed entry is never replayed again, readings the payload had
already delivered are not sent again, and the stores keep each reading (node, quantity,
time) once whatever comes twice::

    replayer = Replayer(quarantine, validator, spool_limits)
    summary = replayer.replay(quarantine.with_mates(list(quarantine.waiting())))
    summary.line()   # "replayed 3: 3 readings stored, 0 still refused"
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lokaalmeten.gateway import decode
from lokaalmeten.gateway.quarantine import Entry, Quarantine
from lokaalmeten.gateway.spool import (
    QUARANTINE_INSERT,
    FullPolicy,
    Identity,
    Refusal,
    SpoolFull,
    quarantine_rows,
    spool_readings,
)
from lokaalmeten.gateway.validate import Checked, RecordValidator
from lokaalmeten.readings import Reading
from lokaalmeten.store.sqlite import immediate_transaction

# Payloads replayed per spool transaction: short, so the running gateway's commits wait little.
BATCH = 200


@dataclass(slots=True)
class Outcome:
    """What replaying one payload (and its quarantine entries) gives."""

    entries: list[Entry]
    fresh: list[Reading]  # readings to spool: not delivered by this payload before
    refusals: list[Refusal]  # what is still refused, with the new reasons

    @property
    def spooled(self) -> frozenset[Identity]:
        """Identities of the payload's readings delivered once this outcome is committed."""
        delivered = frozenset[Identity]().union(*(entry.spooled for entry in self.entries))
        return delivered | {reading.identity for reading in self.fresh}


@dataclass(slots=True)
class Summary:
    entries: int = 0  # quarantine entries replayed
    readings: int = 0  # readings committed to the spool for the stores
    refused: Counter[str] = field(default_factory=Counter)  # entries still refused, by reason
    skipped: int = 0  # entries another replay took meanwhile
    stopped: str | None = None  # why the replay ended early (spool full)

    def line(self, dry_run: bool = False) -> str:
        ordered = sorted(self.refused.items(), key=lambda item: (-item[1], item[0]))
        reasons = ", ".join(f"{reason} {n}" for reason, n in ordered)
        still = sum(self.refused.values())
        text = (
            f"replayed {self.entries}: {self.readings} readings stored, {still} still refused"
            + (f" ({reasons})" if reasons else "")
        )
        if self.skipped:
            text += f"; {self.skipped} skipped (replayed meanwhile by someone else)"
        return f"dry run, nothing changed: {text}" if dry_run else text


def decode_again(validator: RecordValidator, entry: Entry) -> Checked:
    """An entry's payload through the live ingest's decoding, received when it was."""
    now = entry.received_at
    if entry.via == "store":
        return _stored_reading(validator, entry)
    if entry.via == "mqtt":
        return validator.mqtt(entry.source, entry.payload, now)
    if entry.source == decode.RECORDS:
        return decode.records(validator, entry.payload, None, now)
    if entry.source in decode.AIRROHR_JSON:
        hint = entry.context.get("node_hint")
        return decode.airrohr_json(validator, entry.source, entry.payload, hint, None, now)
    if entry.source == decode.TTN_UPLINK:
        return decode.ttn_uplink(validator, entry.payload, None, now)
    precision = str(entry.context.get("precision", "ns"))
    return decode.line_protocol(validator, entry.payload, precision, None, now)[0]


def _stored_reading(validator: RecordValidator, entry: Entry) -> Checked:
    """A reading a store refused (quarantined by its writer as JSON): offered to the stores
    again, if its node is still registered."""
    try:
        reading = Reading(**json.loads(entry.payload))
    except (ValueError, TypeError) as exc:
        detail = f"not a reading: {exc}"
        return validator.refuse(entry.source, "schema", detail, entry.payload, entry.received_at)
    return validator.readings(
        entry.source, reading.node, [reading], [], entry.payload, entry.received_at
    )


def outcome_of(validator: RecordValidator, group: list[Entry]) -> Outcome:
    checked = decode_again(validator, group[0])
    delivered = frozenset[Identity]().union(*(entry.spooled for entry in group))
    fresh = [reading for reading in checked.readings if reading.identity not in delivered]
    context = json.dumps({**group[0].context, "via": group[0].via}, sort_keys=True)
    refusals = [
        Refusal(r.source, r.reason, r.detail, r.payload, group[0].received_at, context)
        for r in checked.refusals
    ]
    return Outcome(group, fresh, refusals)


def _pair(
    entries: list[Entry], refusals: list[Refusal]
) -> tuple[list[tuple[Entry, Refusal]], list[Entry], list[Refusal]]:
    """Still-refused entries keep their id: first those refused for the same reason, then the
    rest in order. Returns (entry, its new refusal) pairs, the entries no longer refused, and
    refusals beyond the entries (new quarantine entries)."""
    left = list(refusals)
    pairs: list[tuple[Entry, Refusal]] = []
    unpaired: list[Entry] = []
    for entry in entries:
        same = next((r for r in left if r.reason == entry.reason), None)
        if same is None:
            unpaired.append(entry)
        else:
            pairs.append((entry, same))
            left.remove(same)
    while unpaired and left:
        pairs.append((unpaired.pop(0), left.pop(0)))
    return pairs, unpaired, left


class Replayer:
    def __init__(
        self,
        quarantine: Quarantine,
        validator: RecordValidator,
        *,
        max_readings: int,
        full_policy: FullPolicy,
    ) -> None:
        self.quarantine = quarantine
        self.validator = validator
        self.max_readings = max_readings
        self.full_policy = full_policy

    def replay(
        self,
        groups: Sequence[list[Entry]],
        *,
        dry_run: bool = False,
        progress: Callable[[Outcome], None] | None = None,
    ) -> Summary:
        """Replay the groups (from :meth:`Quarantine.with_mates`), committing every
        :data:`BATCH` payloads; ``dry_run`` decodes them and changes nothing."""
        summary = Summary()
        if not dry_run:
            self.quarantine.migrate()
        for start in range(0, len(groups), BATCH):
            outcomes = [
                outcome_of(self.validator, group) for group in groups[start : start + BATCH]
            ]
            try:
                done = outcomes if dry_run else self._commit(outcomes)
            except SpoolFull as exc:
                summary.stopped = str(exc)
                return summary
            for outcome in done:
                pairs, _, extra = _pair(outcome.entries, outcome.refusals)
                summary.entries += len(outcome.entries)
                summary.readings += len(outcome.fresh)
                summary.refused.update(r.reason for _, r in pairs)
                summary.refused.update(r.reason for r in extra)
                if progress is not None:
                    progress(outcome)
            committed = {id(outcome) for outcome in done}
            summary.skipped += sum(len(o.entries) for o in outcomes if id(o) not in committed)
        return summary

    def _commit(self, outcomes: list[Outcome]) -> list[Outcome]:
        """One transaction: the fresh readings into the spool, the entries updated. Returns
        the outcomes committed (not those whose entries another replay took meanwhile)."""
        conn = self.quarantine.conn
        now = int(time.time())
        done: list[Outcome] = []
        with immediate_transaction(conn):
            for outcome in outcomes:
                ids = [entry.id for entry in outcome.entries]
                marks = ",".join("?" * len(ids))
                waiting = conn.execute(
                    f"SELECT count(*) FROM quarantine WHERE id IN ({marks}) "
                    "AND replayed_at IS NULL",
                    ids,
                ).fetchone()[0]
                if waiting != len(ids):
                    continue
                self._update(outcome, now)
                done.append(outcome)
            readings = [reading for outcome in done for reading in outcome.fresh]
            spool_readings(
                conn,
                readings,
                max_readings=self.max_readings,
                full_policy=self.full_policy,
                path=self.quarantine.path,
            )
        return done

    def _update(self, outcome: Outcome, now: int) -> None:
        conn = self.quarantine.conn
        spooled = json.dumps(sorted(outcome.spooled)) if outcome.spooled else None
        pairs, resolved, extra = _pair(outcome.entries, outcome.refusals)
        for entry, refusal in pairs:
            conn.execute(
                "UPDATE quarantine SET reason = ?, detail = ?, context = ?, spooled = ? "
                "WHERE id = ?",
                (refusal.reason, refusal.detail, refusal.context, spooled, entry.id),
            )
        for entry in resolved:
            conn.execute(
                "UPDATE quarantine SET replayed_at = ?, spooled = ? WHERE id = ?",
                (now, spooled, entry.id),
            )
        if extra:
            kept = tuple(sorted(outcome.spooled))
            rows = quarantine_rows(
                [
                    Refusal(r.source, r.reason, r.detail, r.payload, r.received_at, r.context, kept)
                    for r in extra
                ]
            )
            conn.executemany(QUARANTINE_INSERT, rows)
