"""The gateway's counters: what came in, what was stored, what was refused and why.

Counters are plain integers behind a lock, cheap enough for every message; the Prometheus
view (``/metrics``) is made from them when it is scraped (:class:`PrometheusCollector`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class GatewayMetrics:
    """Thread-safe counters, read by the log summary, /metrics and the tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()
        self._flagged: Counter[str] = Counter()
        self._latency_sum = 0.0
        self._latency_count = 0
        self._latency_max = 0.0

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def refuse(self, reason: str, amount: int = 1) -> None:
        with self._lock:
            self._refused[reason] += amount

    def flag(self, counts: Counter[str]) -> None:
        """Readings given quality flags at ingest, by flag name."""
        with self._lock:
            self._flagged.update(counts)

    def flagged(self) -> dict[str, int]:
        with self._lock:
            return dict(self._flagged)

    def observe_store_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency_sum += seconds
            self._latency_count += 1
            self._latency_max = max(self._latency_max, seconds)

    def merge_latency(self, total: float, writes: int, slowest: float) -> None:
        """Store writes another process made (a writer process's report)."""
        with self._lock:
            self._latency_sum += total
            self._latency_count += writes
            self._latency_max = max(self._latency_max, slowest)

    def count(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def refusals(self) -> dict[str, int]:
        """Refused messages (or values) per reason."""
        with self._lock:
            return dict(self._refused)

    def latency(self) -> tuple[float, int, float]:
        """Store write latency: (sum of seconds, number of writes, slowest write)."""
        with self._lock:
            return self._latency_sum, self._latency_count, self._latency_max

    def summary(self) -> str:
        parts = [f"{name}={value}" for name, value in sorted(self.counts().items())]
        refused = self.refusals()
        if refused:
            reasons = ",".join(f"{reason}:{n}" for reason, n in sorted(refused.items()))
            parts.append(f"refused[{reasons}]")
        return " ".join(parts) or "nothing received yet"


# (counter name, help) for the counters /metrics always shows, zero or not.
_COUNTERS = (
    ("messages_received", "MQTT messages received"),
    ("http_requests_received", "HTTP ingest requests received"),
    ("readings_spooled", "Readings committed to the spool"),
    ("readings_stored", "Readings new to a store"),
    ("readings_repeated", "Readings a store already had (repeats are ignored)"),
    ("store_errors", "Failed store writes (each retried)"),
    ("spool_full_waits", "Times ingest waited because the spool was full"),
    ("statuses_received", "Kit status messages (and Last Wills) kept in the node directory"),
    ("statuses_ignored", "Kit status messages left out: unregistered node or not a status"),
    ("fleet_files_served", "Firmware release files (whole, or a range) sent to kits"),
    ("fleet_downloads_refused", "Release downloads refused: not offered, or the rollout paused"),
)

# The label of a gauge by key (a gauge not named here is one per store).
_GAUGE_LABELS = {"alerts_open": "kind", "alert_outbox": "sink"}


class PrometheusCollector(Collector):
    """Exposes :class:`GatewayMetrics` and live gauges as ``lokaalmeten_gateway_*``."""

    def __init__(self, metrics: GatewayMetrics, gauges: Callable[[], dict[str, Any]]) -> None:
        self.metrics = metrics
        self.gauges = gauges  # called at scrape time: spool depth, connection and store state

    def collect(self) -> Iterator[Any]:
        counts = self.metrics.counts()
        for name, text in _COUNTERS:
            family = CounterMetricFamily(f"lokaalmeten_gateway_{name}", text)
            family.add_metric([], counts.get(name, 0))
            yield family
        refused = CounterMetricFamily(
            "lokaalmeten_gateway_refused", "Input refused, by reason", labels=["reason"]
        )
        for reason, n in sorted(self.metrics.refusals().items()):
            refused.add_metric([reason], n)
        yield refused
        flagged = CounterMetricFamily(
            "lokaalmeten_gateway_flagged",
            "Readings given a quality flag at ingest, by flag",
            labels=["flag"],
        )
        for name, n in sorted(self.metrics.flagged().items()):
            flagged.add_metric([name], n)
        yield flagged
        total, writes, slowest = self.metrics.latency()
        latency = CounterMetricFamily(
            "lokaalmeten_gateway_store_write_seconds", "Time spent in store writes"
        )
        latency.add_metric([], total)
        yield latency
        writes_family = CounterMetricFamily(
            "lokaalmeten_gateway_store_writes", "Successful store writes"
        )
        writes_family.add_metric([], writes)
        yield writes_family
        state = self.gauges()
        for name, value in sorted(state.items()):
            if isinstance(value, dict):
                gauge = GaugeMetricFamily(
                    f"lokaalmeten_gateway_{name}",
                    name.replace("_", " "),
                    labels=[_GAUGE_LABELS.get(name, "store")],
                )
                for store, v in sorted(value.items()):
                    gauge.add_metric([store], float(v))
            else:
                gauge = GaugeMetricFamily(f"lokaalmeten_gateway_{name}", name.replace("_", " "))
                gauge.add_metric([], float(value))
            yield gauge
        slow = GaugeMetricFamily(
            "lokaalmeten_gateway_store_write_max_seconds", "Slowest store write so far"
        )
        slow.add_metric([], slowest)
        yield slow
