"""Validation stage: a message becomes readings, or a refusal with a counted reason.

Refusals are logged (rate-limited per reason) and never stop the gateway::

    validator = RecordValidator(metrics, topic_prefix="lokaalmeten")
    readings = validator.readings(topic, payload, received_at)
"""

from __future__ import annotations

import logging
import time

from lokaalmeten.gateway.metrics import GatewayMetrics

from lokaalmeten.protocol.record import RecordError, parse_record
from lokaalmeten.protocol.topics import node_of
from lokaalmeten.readings import Reading

log = logging.getLogger("lokaalmeten.gateway")

# One log line per reason per this many seconds; the counters keep the exact totals.
_LOG_EVERY = 10.0


class RecordValidator:
    def __init__(self, metrics: GatewayMetrics, topic_prefix: str) -> None:
        self.metrics = metrics
        self.topic_prefix = topic_prefix
        self._last_logged: dict[str, float] = {}

    def readings(self, topic: str, payload: bytes, received_at: int) -> list[Reading]:
        """The readings of one message; an empty list when it was refused."""
        node = node_of(topic, self.topic_prefix)
        if node is None:
            self._refuse("bad_topic", f"topic {topic!r} is not {self.topic_prefix}/<node>/…")
            return []
        try:
            parsed = parse_record(payload, node, received_at)
        except RecordError as exc:
            self._refuse(exc.reason, f"{topic}: {exc.detail}")
            return []
        for quantity, value in parsed.out_of_range:
            self._refuse("out_of_range", f"{topic} seq {parsed.seq}: {quantity}={value!r}")
        return parsed.readings

    def _refuse(self, reason: str, detail: str) -> None:
        self.metrics.refuse(reason)
        now = time.monotonic()
        if now - self._last_logged.get(reason, -_LOG_EVERY) >= _LOG_EVERY:
            self._last_logged[reason] = now
            log.warning("refused (%s): %s", reason, detail)
