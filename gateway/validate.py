"""Validation stage: input becomes readings, or refusals with a counted reason.

Every refusal keeps the original payload, so that it lands in the spool's quarantine, where an
operator can see it and replay it after fixing the cause (registering a kit, say) with
``lokaalmeten quarantine`` (:mod:`lokaalmeten.gateway.replay`). Refusals
are logged (one line per reason per 10 s) and never stop the gateway::

    validator = RecordValidator(metrics, topic_prefix="lokaalmeten", known=registry.known)
    checked = validator.mqtt(topic, payload, received_at)
    spool.put(checked.readings, checked.refusals)
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.quality import QualityStage
from lokaalmeten.gateway.spool import Refusal
from lokaalmeten.protocol.record import RecordError, decode_json, parse_document
from lokaalmeten.protocol.relay import RelayedKit, RelayError, parse_batch
from lokaalmeten.protocol.topics import is_relay, node_of
from lokaalmeten.readings import Reading, flag_names

log = logging.getLogger("lokaalmeten.gateway")

# One log line per reason per this many seconds; the counters keep the exact totals.
_LOG_EVERY = 10.0

# A refusal's detail names this many of the values it left out (a relay's batch may
# leave out hundreds); the quarantined payload has them all.
_NAMED = 20
# (relay, its batch's nodes, now) -> the nodes another gateway speaks for, with their owner.
Claim = Callable[[str, set[str], int], dict[str, str]]

# What a refusal quarantines: the bytes received, or a function making them when the input
# was decoded already (so that only a refused record is encoded again).
Payload = bytes | Callable[[], bytes]


def _bytes(payload: Payload) -> bytes:
    return payload if isinstance(payload, bytes) else payload()


@dataclass(slots=True)
class Checked:
    readings: list[Reading] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    # A relay's description of the kits it owns here, for the node directory.
    kits: dict[str, RelayedKit] = field(default_factory=dict)


class RecordValidator:
    def __init__(
        self,
        metrics: GatewayMetrics,
        topic_prefix: str,
        known: Callable[[str], bool] | None = None,
        *,
        log_refusals: bool = True,
        quality: QualityStage | None = None,
        claim: Claim | None = None,
        device_node: Callable[[str, str], str] | None = None,
    ) -> None:
        """``known`` says whether a node is registered; None accepts every node.
        ``log_refusals``: off where the caller reports refusals itself (a replay).
        ``quality``: sets the quality flags of every reading accepted; None sets none.
        ``claim``: which relay may speak for which relayed kit; None lets any relay.
        ``device_node``: the node of a LoRaWAN (application, device); None: the device id."""
        self.metrics = metrics
        self.claim = claim
        self.device_node = device_node
        self.quality = quality
        self.topic_prefix = topic_prefix
        self.known = known
        self.log_refusals = log_refusals
        self._last_logged: dict[str, float] = {}

    def mqtt(self, topic: str, payload: bytes, received_at: int) -> Checked:
        """One MQTT message on ``<prefix>/<node>/readings`` (or a relay's batch)."""
        node = node_of(topic, self.topic_prefix)
        if node is None:
            detail = f"topic {topic!r} is not {self.topic_prefix}/<node>/readings"
            return self._refused(topic, "bad_topic", detail, payload, received_at)
        if is_relay(topic, self.topic_prefix):
            return self.relayed(topic, node, payload, received_at)
        return self.record(topic, node, payload, received_at)

    def relayed(self, source: str, relay: str, payload: bytes, received_at: int) -> Checked:
        """A neighbourhood gateway's batch on ``<prefix>/<relay>/relay``: its readings were
        checked and flagged there, so they are kept as they are, except those of kits
        another relay speaks for (or registered here) and those the batch got wrong."""
        try:
            batch = parse_batch(payload, received_at)
        except RelayError as exc:
            return self._refused(source, exc.reason, exc.detail, payload, received_at)
        if batch.relay != relay:
            detail = f"a batch of {batch.relay!r} on the topic of {relay!r}"
            return self._refused(source, "node_mismatch", detail, payload, received_at)
        readings, problems = batch.readings, list(batch.problems)
        if self.claim is not None and readings:
            others = self.claim(relay, {r.node for r in readings}, received_at)
            if others:
                readings = [r for r in readings if r.node not in others]
                problems += [
                    ("relay_conflict", f"{node} (spoken for by {owner})")
                    for node, owner in sorted(others.items())
                ]
        owned = {r.node for r in readings}
        kits = {node: kit for node, kit in batch.kits.items() if node in owned}
        checked = Checked(readings, kits=kits)
        return self._with_problems(source, relay, checked, problems, payload, received_at)

    def record(self, source: str, node: str, payload: bytes, received_at: int) -> Checked:
        """One record of our protocol, sent by ``node`` (from its topic or credentials)."""
        try:
            doc = decode_json(payload)
        except RecordError as exc:
            return self._refused(source, exc.reason, exc.detail, payload, received_at)
        return self.document(source, node, doc, payload, received_at)

    def document(
        self, source: str, node: str, doc: object, payload: Payload, received_at: int
    ) -> Checked:
        """One record already decoded from JSON: checked without encoding and parsing it
        again. ``payload``: its bytes for the quarantine, or a function making them, called
        only if something is refused."""
        try:
            parsed = parse_document(doc, node, received_at)
        except RecordError as exc:
            return self._refused(source, exc.reason, exc.detail, payload, received_at)
        problems = [("out_of_range", f"{q}={v!r}") for q, v in parsed.out_of_range]
        return self.readings(
            source, node, parsed.readings, problems, payload, received_at, parsed.uptime_s
        )

    def readings(
        self,
        source: str,
        node: str,
        readings: list[Reading],
        problems: Sequence[tuple[str, str]],
        payload: Payload,
        received_at: int,
        uptime_s: float | None = None,
    ) -> Checked:
        """Readings already parsed from some format: the node check, the quality flags,
        then accept.

        ``problems`` are (reason, description) of values left out while parsing; each is
        counted, and the payload is quarantined once per reason. ``uptime_s``: seconds since
        the kit started when it made the readings, if it said (the warm-up rule).
        """
        if self.known is not None and not self.known(node):
            detail = f"{node} is not registered; 'lokaalmeten nodes add {node}' registers it"
            return self._refused(source, "unknown_node", detail, payload, received_at)
        if self.quality is not None and readings:
            readings = self._flagged(readings, uptime_s, self.quality)
        return self._with_problems(
            source, node, Checked(readings=readings), problems, payload, received_at
        )

    def _with_problems(
        self,
        source: str,
        node: str,
        checked: Checked,
        problems: Sequence[tuple[str, str]],
        payload: Payload,
        received_at: int,
    ) -> Checked:
        if not problems:
            return checked
        readings = checked.readings
        by_reason: dict[str, list[str]] = {}
        for reason, description in problems:
            self.metrics.refuse(reason)
            by_reason.setdefault(reason, []).append(description)
        # The readings kept go with each refusal, so that a replay does not send them again.
        spooled = tuple(reading.identity for reading in readings)
        for reason, descriptions in by_reason.items():
            named = ", ".join(descriptions[:_NAMED])
            more = f" and {len(descriptions) - _NAMED} more" if len(descriptions) > _NAMED else ""
            detail = f"{node}: left out {named}{more}"
            self._log(reason, f"{source}: {detail}")
            checked.refusals.append(
                Refusal(source, reason, detail, _bytes(payload), received_at, spooled=spooled)
            )
        return checked

    def _flagged(
        self, readings: list[Reading], uptime_s: float | None, quality: QualityStage
    ) -> list[Reading]:
        flagged = quality.flag(readings, uptime_s)
        counts: Counter[str] | None = None  # made only when needed: most records get no flag
        for before, after in zip(readings, flagged, strict=True):
            if after.flags != before.flags:  # only what the stage added is counted
                if counts is None:
                    counts = Counter()
                counts.update(flag_names(after.flags & ~before.flags))
        if counts:
            self.metrics.flag(counts)
        return flagged

    def refuse(
        self, source: str, reason: str, detail: str, payload: bytes, received_at: int
    ) -> Checked:
        """Refuse input that failed a check made outside this class (e.g. HTTP parsing)."""
        return self._refused(source, reason, detail, payload, received_at)

    def _refused(
        self, source: str, reason: str, detail: str, payload: Payload, received_at: int
    ) -> Checked:
        self.metrics.refuse(reason)
        self._log(reason, f"{source}: {detail}")
        return Checked(refusals=[Refusal(source, reason, detail, _bytes(payload), received_at)])

    def _log(self, reason: str, detail: str) -> None:
        if not self.log_refusals:
            return
        now = time.monotonic()
        if now - self._last_logged.get(reason, -_LOG_EVERY) >= _LOG_EVERY:
            self._last_logged[reason] = now
            log.warning("refused (%s): %s", reason, detail)
