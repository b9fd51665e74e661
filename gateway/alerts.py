"""Kit-health alerts: the rules, judged on the readings passing through the gateway and on a
timer::

    engine = AlertEngine(book, AlertRules.of(settings), directory.entries)
    engine.readings(spooled)          # cheap: counts only; True when a judgement is due soon
    engine.evaluate(time.time())      # opens and resolves alerts in the book (its events)

The rules, per kit (N = LM_ALERT_OFFLINE_INTERVALS, the interval the kit's, from the node
directory, else LM_ALERT_INTERVAL):

- offline: no reading arrived for more than N intervals, or its status says offline (its
  Last Will) and no reading arrived since; resolved when readings arrive again.
- dead_sensor: a quantity the kit used to send has been silent for N intervals while the kit
  still sends others; resolved when that quantity arrives again.
- stuck: the quantity's latest reading carries the stuck flag; resolved by one without it.
- persistent_flags: more than LM_ALERT_FLAG_SHARE of a quantity's readings of the last hour
  carry one of LM_ALERT_FLAGS (implausible, spike), judged once there are at least
  LM_ALERT_FLAG_MIN_READINGS; resolved when the share is at or below it again.

Times are the gateway's clock when readings arrived, not the readings' own times: a kit that
sends old readings late is sending. When readings last arrived is saved in the book at every
evaluation and at the stop, so a restart does not forget a kit or a sensor; their silence
counts from the start at the earliest (the gateway heard nobody while it was down), and an
alert that is open stays open until the evidence that ends it arrives.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lokaalmeten.gateway.alert_book import (
    KINDS,
    Alert,
    AlertBook,
    AlertBookError,
    AlertEvent,
    AlertKey,
)
from lokaalmeten.gateway.directory import KitEntry
from lokaalmeten.readings import FLAG_NAMES, FLAG_STUCK, Reading, iso_utc
from lokaalmeten.settings import GatewaySettings

log = logging.getLogger("lokaalmeten.gateway")

WINDOW_S = 3600  # the persistent-flag rule looks at the last hour
_BUCKET_S = 60  # ... counted per minute, so memory does not grow with the reading rate
_LOG_AT_MOST = 20  # alert events logged one by one per judgement (a broker outage ends many)


@dataclass(frozen=True, slots=True)
class AlertRules:
    offline_intervals: int = 4
    interval: float = 145.0  # a kit's interval when the directory names none
    flag_mask: int = 8 | 32  # implausible | spike
    flag_share: float = 0.5
    flag_min_readings: int = 4

    @classmethod
    def of(cls, settings: GatewaySettings) -> AlertRules:
        bits = dict((name, bit) for bit, name in FLAG_NAMES)
        mask = 0
        for name in settings.alert_flags:
            mask |= bits[name]
        return cls(
            settings.alert_offline_intervals,
            settings.alert_interval,
            mask,
            settings.alert_flag_share,
            settings.alert_flag_min_readings,
        )


def _duration(seconds: float) -> str:
    """A span as people say it: '40 s', '12 min', '5.5 h', '3 days'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _flag_words(mask: int) -> str:
    return " or ".join(name for bit, name in FLAG_NAMES if mask & bit)


class AlertEngine:
    def __init__(
        self,
        book: AlertBook,
        rules: AlertRules,
        kits: Callable[[], Mapping[str, KitEntry]],
        started: float,
        known: Callable[[str], bool] | None = None,
    ) -> None:
        """``kits``: the node directory's entries (intervals, statuses); ``started``: the
        gateway's clock at start, from when a kit never heard of counts as silent;
        ``known``: whether a node is registered (None: every node counts). A kit removed
        from the registry is not watched any longer and its open alerts are resolved."""
        self.book = book
        self.rules = rules
        self.kits = kits
        self.started = started
        self.known = known
        self._lock = threading.Lock()
        seen = book.seen()
        self._node_seen = {n: last for (n, q), last in seen.items() if not q}
        self._quantity_seen = {(n, q): last for (n, q), last in seen.items() if q}
        self._changed: dict[tuple[str, str], float] = {}
        self._stuck: dict[tuple[str, str], bool] = {}
        # (node, quantity) -> {minute: [readings, flagged]}
        self._windows: dict[tuple[str, str], dict[int, list[int]]] = {}
        self.open = book.open_alerts()
        self._watched = {(a.node, a.quantity) for a in self.open.values()}

    # -- on readings (the ingest threads) ------------------------------------------------

    def readings(self, readings: Sequence[Reading], now: float) -> bool:
        """Count spooled readings; True when one may change an alert (judge it soon)."""
        due = False
        mask = self.rules.flag_mask
        minute = int(now // _BUCKET_S)
        with self._lock:
            for r in readings:
                key = (r.node, r.quantity)
                self._node_seen[r.node] = now
                self._quantity_seen[key] = now
                self._changed[(r.node, "")] = now
                self._changed[key] = now
                stuck = bool(r.flags & FLAG_STUCK)
                if self._stuck.get(key, False) != stuck:
                    due = True
                self._stuck[key] = stuck
                window = self._windows.setdefault(key, {})
                counts = window.get(minute)
                if counts is None:
                    counts = window[minute] = [0, 0]
                counts[0] += 1
                if r.flags & mask:
                    counts[1] += 1  # a share of an hour: judged on the timer, not at once
                # The first reading of a kit or sensor with an open alert may end it. Taken
                # out until the next judgement, so a busy kit does not ask for one each time.
                for watched in (key, (r.node, "")):
                    if watched in self._watched:
                        self._watched.discard(watched)
                        due = True
        return due

    # -- on the timer ---------------------------------------------------------------------

    def evaluate(self, now: float) -> list[AlertEvent]:
        """Judge every rule; raise and resolve alerts in the book. Returns the events."""
        kits = self.kits()
        with self._lock:
            wanted, fine = self._judge(kits, now)
        self.save()
        at = int(now)
        resolves = [(alert, fine[key]) for key, alert in self.open.items() if key in fine]
        raises = [(key, message) for key, message in wanted.items() if key not in self.open]
        events = self.book.apply(raises, resolves, at)
        for event in events:
            if event.change == "resolved":
                del self.open[event.alert.key]
            else:
                self.open[event.alert.key] = event.alert
        for event in events[:_LOG_AT_MOST]:
            level = logging.WARNING if event.change == "raised" else logging.INFO
            log.log(level, "alert %s: %s", event.change, event.alert.message)
        if len(events) > _LOG_AT_MOST:
            log.warning(
                "and %d more alert events (the alert book and /v1/nodes have them all)",
                len(events) - _LOG_AT_MOST,
            )
        with self._lock:
            self._watched = {(a.node, a.quantity) for a in self.open.values()}
        return events

    def save(self) -> None:
        """Keep when readings last arrived in the book (each judgement, and at the stop)."""
        with self._lock:
            changed, self._changed = self._changed, {}
        try:
            self.book.save_seen(changed)
        except AlertBookError:
            with self._lock:  # kept for the next time
                for where, last in changed.items():
                    self._changed.setdefault(where, last)
            raise

    def _judge(
        self, kits: Mapping[str, KitEntry], now: float
    ) -> tuple[dict[AlertKey, str], dict[AlertKey, str]]:
        """(alerts that should be open, with their message; alerts shown to be over, with why)."""
        # Only changes get a message: alerts to raise, and open ones to resolve. Formatting
        # one for every healthy sensor was most of a judgement's time at 10,000 kits.
        wanted: dict[AlertKey, str] = {}
        fine: dict[AlertKey, str] = {}
        opened = self.open
        rules = self.rules
        n = rules.offline_intervals
        nodes = set(self._node_seen) | {a.node for a in self.open.values()}
        nodes |= {node for node, entry in kits.items() if entry.status is not None}
        if self.known is not None:
            gone = {node for node in nodes if not self.known(node)}
            for alert in self.open.values():
                if alert.node in gone:
                    fine[alert.key] = f"Kit {alert.node} is no longer registered."
            nodes -= gone
        else:
            gone = set()

        def limit_of(node: str) -> tuple[float, float]:
            entry = kits.get(node)
            interval = entry.interval if entry is not None and entry.interval else rules.interval
            return interval, n * interval

        # Silence counts from the gateway's start at the earliest: while it was down it
        # heard nobody, and a power cut must not make every kit "offline" at once. Only a
        # reading heard shows a kit or sensor well again, so an open alert outlives a restart.
        started = self.started
        for node in sorted(nodes):
            interval, limit = limit_of(node)
            last = self._node_seen.get(node)
            silent_for = now - (started if last is None else max(last, started))
            entry = kits.get(node)
            status = entry.status if entry is not None else None
            said_offline = (
                status is not None
                and status.state == "offline"
                and (last is None or last < status.since)
            )
            key = AlertKey("offline", node)
            if key in opened and (said_offline or silent_for > limit):
                pass
            elif said_offline and status is not None:
                wanted[key] = (
                    f"Kit {node} is offline: its status says so since {iso_utc(status.since)} "
                    "and no reading has arrived since."
                )
            elif silent_for > limit:
                heard = (
                    f"none since the gateway started {_duration(now - started)} ago"
                    if last is None
                    else f"{iso_utc(int(last))}, {_duration(now - last)} ago"
                )
                wanted[key] = (
                    f"Kit {node} sends nothing: no reading for more than {n} x its interval "
                    f"of {interval:.0f} s (last reading: {heard})."
                )
            elif key in opened and last is not None and now - last <= limit:
                fine[key] = f"Kit {node} sends readings again."
        for (node, quantity), last in self._quantity_seen.items():
            if node in gone:
                continue
            interval, limit = limit_of(node)
            node_last = self._node_seen.get(node, last)
            key = AlertKey("dead_sensor", node, quantity)
            if now - last <= limit:
                if key in opened:
                    fine[key] = f"Kit {node} sends {quantity} again."
            elif (
                now - max(last, started) > limit and now - node_last <= limit and key not in opened
            ):
                wanted[key] = (
                    f"Kit {node} has sent no {quantity} for {_duration(now - last)} "
                    f"(more than {n} x its interval of {interval:.0f} s) while it still sends "
                    "other quantities: a dead or disconnected sensor."
                )
        for (node, quantity), stuck in self._stuck.items():
            if node in gone:
                continue
            key = AlertKey("stuck", node, quantity)
            if stuck and key not in opened:
                wanted[key] = f"Kit {node}'s {quantity} sensor is stuck: it repeats the same value."
            elif not stuck and key in opened:
                fine[key] = f"Kit {node}'s {quantity} values change again."
        oldest = int((now - WINDOW_S) // _BUCKET_S)
        words = _flag_words(rules.flag_mask)
        for (node, quantity), window in self._windows.items():
            if node in gone:
                continue
            for minute in [m for m in window if m <= oldest]:
                del window[minute]
            total = sum(c[0] for c in window.values())
            if total < rules.flag_min_readings:
                continue
            flagged = sum(c[1] for c in window.values())
            share = flagged / total
            key = AlertKey("persistent_flags", node, quantity)
            if share > rules.flag_share:
                if key in opened:
                    continue
                wanted[key] = (
                    f"Kit {node}: {flagged} of its last hour's {total} {quantity} readings "
                    f"({share:.0%}) are flagged {words}."
                )
            elif key in opened:
                fine[key] = (
                    f"Kit {node}: {share:.0%} of its last hour's {quantity} readings are "
                    f"flagged {words}, not more than {rules.flag_share:.0%}."
                )
        return wanted, fine

    def open_alerts(self) -> list[Alert]:
        return list(self.open.values())

    def open_counts(self) -> dict[str, int]:
        """Open alerts per kind, every kind named (for /metrics)."""
        counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        for alert in list(self.open.values()):
            counts[alert.kind] += 1
        return counts
