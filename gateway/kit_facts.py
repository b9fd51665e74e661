"""What the gateway learns about kits from their traffic, kept in the node directory: their
retained status and Last Will (online/offline, firmware, counters, configured location) and
the sensor models their readings name::

    facts = KitFacts(directory, metrics, "lokaalmeten", known=registry.known, rollout=watch)
    facts.status(message)        # a message on lokaalmeten/<node>/status
    facts.readings(readings)     # spooled readings: new sensor models reach the directory
    facts.relayed(batch.kits)    # what a relay's directory publishes of its kits

When registration is required only registered kits' statuses count; the broker's ACL lets a
kit publish only its own status (gateway/registry.py). The status of a kit a firmware rollout
is offered to is what the rollout's health gate judges (gateway/fleet_gate.py): it is applied
once the status is kept, so that the rollout pauses as soon as too many kits fail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from lokaalmeten.gateway.directory import Directory, DirectoryError, Edit
from lokaalmeten.gateway.fleet import RolloutError
from lokaalmeten.gateway.fleet_gate import RolloutWatch
from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.mqtt_ingest import Message
from lokaalmeten.protocol.relay import RelayedKit
from lokaalmeten.protocol.status import StatusError, parse_status
from lokaalmeten.protocol.topics import node_of
from lokaalmeten.readings import Reading

log = logging.getLogger("lokaalmeten.gateway")

_LOG_EVERY = 10.0  # seconds between log lines about ignored statuses


class KitFacts:
    def __init__(
        self,
        directory: Directory,
        metrics: GatewayMetrics,
        topic_prefix: str,
        known: Callable[[str], bool] | None = None,
        rollout: RolloutWatch | None = None,
    ) -> None:
        """``known`` says whether a node is registered; None counts every node's status.
        ``rollout``: the firmware rollout whose gate a kept status may close."""
        self.directory = directory
        self.metrics = metrics
        self.topic_prefix = topic_prefix
        self.known = known
        self.rollout = rollout
        self._sensors = {node: set(e.sensors) for node, e in directory.entries().items()}
        self._last_logged = -_LOG_EVERY

    def status(self, message: Message) -> None:
        """One status message; a bad or foreign one is counted, logged and left out."""
        node = node_of(message.topic, self.topic_prefix)
        if node is None:
            return
        if not message.payload:
            return  # a retained status cleared by hand: nothing to learn
        if self.known is not None and not self.known(node):
            self._ignore(f"{node} is not registered; its status is not taken")
            return
        try:
            report = parse_status(message.payload)
        except StatusError as exc:
            self._ignore(f"{message.topic}: {exc}")
            return
        try:
            self.directory.report_status(node, report, message.received_at, message.retained)
        except DirectoryError as exc:
            # The status is retained by the broker: the next one (or a restart) brings it back.
            log.error("status of %s not kept: %s", node, exc)
            return
        self.metrics.add("statuses_received")
        log.debug("%s is %s (%s)", node, report.state, "retained" if message.retained else "live")
        if self.rollout is not None:
            try:
                self.rollout.status_kept(node)
            except (RolloutError, DirectoryError) as exc:
                # The status is kept; the gate is applied again at the next one or download.
                log.error(
                    "the rollout's health gate was not applied after %s's status: %s", node, exc
                )

    def readings(self, readings: Sequence[Reading]) -> None:
        """Note the sensor models of spooled readings; the directory is written only when a
        kit names a model not seen before."""
        new: dict[str, set[str]] = {}
        for reading in readings:
            if reading.sensor and reading.sensor not in self._sensors.get(reading.node, ()):
                new.setdefault(reading.node, set()).add(reading.sensor)
        for node, models in new.items():
            try:
                self.directory.saw_sensors(node, models)
            except DirectoryError as exc:
                log.error("sensor models of %s not kept: %s", node, exc)
                continue
            self._sensors.setdefault(node, set()).update(models)

    def relayed(self, kits: Mapping[str, RelayedKit]) -> None:
        """What a neighbourhood gateway publishes of kits it relays here (and owns here:
        the validator has left out the others) becomes their entry in this directory; the
        relay's directory is theirs to keep."""
        for node, kit in kits.items():
            place = (
                None
                if kit.latitude is None or kit.longitude is None
                else (
                    kit.latitude,
                    kit.longitude,
                )
            )
            edit = Edit(
                name=kit.name,
                description=kit.description,
                interval=kit.interval or 0,
                location=place,
                clear_location=place is None,
                exact=kit.exact,
                indoor=kit.indoor,
                height_m=kit.height_m,
            )
            try:
                self.directory.edit(node, edit)
            except DirectoryError as exc:
                log.error("the relayed entry of %s not kept: %s", node, exc)

    def _ignore(self, detail: str) -> None:
        self.metrics.add("statuses_ignored")
        now = time.monotonic()
        if now - self._last_logged >= _LOG_EVERY:
            self._last_logged = now
            log.warning("status ignored: %s", detail)
