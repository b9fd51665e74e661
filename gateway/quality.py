"""Quality stage: sets the quality flags of readings at ingest; never changes a value.

Every ingest path (MQTT, HTTP, airRohr, a replay of the quarantine) reaches it through
:meth:`RecordValidator.readings <lokaalmeten.gateway.validate.RecordValidator.readings>`. The
thresholds are the ``QUALITY`` table of :mod:`lokaalmeten.protocol.quantities`; the rules as
users read them are in docs/quality.md::

    stage = QualityStage(humidity_threshold=95.0)
    flagged = stage.flag(readings, uptime_s=42.0)   # the same readings, some with more bits

The state is small and bounded: per (node, quantity) the last ``spike_window`` values, the
last value, time and flags and a repeat count; per node its latest humidity; at most
``max_series`` of each (the oldest is forgotten first). A reading older than its series'
latest (sent late, out of order) is checked only by the rules that need no history, and a
re-sent reading (same time and value as the latest) gets the flags it got the first time.
"""

from __future__ import annotations

import math
import threading
import time as clock
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from lokaalmeten.calibration.humidity import MAX_HUMIDITY
from lokaalmeten.protocol.quantities import QUALITY, WARM_UP_S
from lokaalmeten.readings import (
    FLAG_HIGH_HUMIDITY,
    FLAG_IMPLAUSIBLE,
    FLAG_SPIKE,
    FLAG_STUCK,
    FLAG_WARMING_UP,
    Reading,
)

# The spike rule needs this many earlier readings of the node before it judges one.
MIN_HISTORY = 5
# MAD × this estimates the standard deviation of normally distributed values.
_MAD_TO_SIGMA = 1.4826
# A neighbour's readings count for a comparison when its latest is this close in time.
NEIGHBOUR_FRESH_S = 900
# A neighbour's level is the median of its last few readings: one of its own spikes does not
# move it, a change of the air it shares does within minutes.
NEIGHBOUR_RECENT = 3
_PLACES_EVERY_S = 60.0  # the node directory's places are read again this often
_PM = frozenset({"pm1", "pm25", "pm4", "pm10"})
_EARTH_KM = 6371.0

if TYPE_CHECKING:
    from lokaalmeten.gateway.directory import KitEntry
    from lokaalmeten.settings import GatewaySettings

Places = Callable[[], Mapping[str, tuple[float, float]]]


class _Directory(Protocol):
    def entries(self) -> dict[str, KitEntry]: ...


def quality_stage(settings: GatewaySettings, directory: _Directory | None) -> QualityStage | None:
    """The quality stage the settings ask for (None: off), neighbours from ``directory``."""
    if not settings.quality:
        return None
    near = directory is not None and settings.quality_neighbour_km > 0
    return QualityStage(
        humidity_threshold=settings.quality_humidity,
        neighbour_radius_km=settings.quality_neighbour_km,
        places=directory_places(directory) if near and directory is not None else None,
    )


def directory_places(directory: _Directory) -> Places:
    """The places of the kits in the node directory, read when called."""

    def places() -> dict[str, tuple[float, float]]:
        return {
            node: (entry.place.latitude, entry.place.longitude)
            for node, entry in directory.entries().items()
            if entry.place is not None
        }

    return places


class _Series:
    """What the stage remembers of one node's quantity."""

    __slots__ = ("last_flags", "last_time", "last_value", "recent", "repeats")

    def __init__(self, window: int, time: int, value: float) -> None:
        self.recent: deque[float] = deque(maxlen=window)
        self.last_time = time
        self.last_value = value
        self.last_flags = 0
        self.repeats = 1


def _median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance between two (latitude, longitude) places; equirectangular, which is exact to
    well under 1 % over the few kilometres a neighbourhood spans."""
    lat_a, lon_a = map(math.radians, a)
    lat_b, lon_b = map(math.radians, b)
    x = (lon_b - lon_a) * math.cos((lat_a + lat_b) / 2)
    return _EARTH_KM * math.hypot(x, lat_b - lat_a)


class QualityStage:
    def __init__(
        self,
        *,
        humidity_threshold: float = MAX_HUMIDITY,
        humidity_window_s: int = 300,
        neighbour_radius_km: float = 2.0,
        places: Places | None = None,
        max_series: int = 100_000,
    ) -> None:
        """``places``: the nodes with a known place, (latitude, longitude) by node id (the node
        directory); None compares each node only with itself."""
        self.humidity_threshold = humidity_threshold
        self.humidity_window_s = humidity_window_s
        self.neighbour_radius_km = neighbour_radius_km
        self.max_series = max_series
        self._places = places
        self._places_at = -math.inf
        self._neighbours: dict[str, tuple[str, ...]] = {}
        self._series: dict[tuple[str, str], _Series] = {}
        self._humidity: dict[str, tuple[int, float]] = {}  # node: (time, %) of its latest
        # MQTT and the HTTP ingest validate in different threads; one record at a time.
        self._lock = threading.Lock()

    def flag(self, readings: list[Reading], uptime_s: float | None = None) -> list[Reading]:
        """``readings`` with their quality bits added (kept: the bits they came with).

        ``uptime_s``: seconds since the kit started when it made these readings (one record),
        None when it did not say.
        """
        out = []
        with self._lock:
            in_batch = self._note_humidity(readings)
            for reading in readings:
                bits = self._bits(reading, uptime_s, in_batch)
                if bits & ~reading.flags:
                    reading = reading._replace(flags=reading.flags | bits)
                out.append(reading)
        return out

    # -- the rules -----------------------------------------------------------------------

    def _bits(
        self, r: Reading, uptime_s: float | None, in_batch: dict[tuple[str, int], float]
    ) -> int:
        rule = QUALITY[r.quantity]
        value = r.value
        bits = 0
        implausible = value < rule.low or value > rule.high
        if implausible:
            bits |= FLAG_IMPLAUSIBLE
        if uptime_s is not None:
            warm_up = WARM_UP_S.get(r.sensor, rule.warm_up_s) if r.sensor else rule.warm_up_s
            if uptime_s < warm_up:
                bits |= FLAG_WARMING_UP
        if r.quantity in _PM and self._humid(r.node, r.time, in_batch):
            bits |= FLAG_HIGH_HUMIDITY
        key = (r.node, r.quantity)
        series = self._series.get(key)
        if series is None:
            series = _Series(rule.spike_window, r.time, value)
            series.last_flags = bits
            self._remember(key, series, value, implausible)
            return bits
        if r.time < series.last_time or (r.time == series.last_time and value != series.last_value):
            return bits  # out of order: no history to judge it by
        if r.time == series.last_time:
            return bits | series.last_flags  # re-sent: what it got the first time
        series.repeats = series.repeats + 1 if value == series.last_value else 1
        stuck = rule.stuck
        if stuck is not None and series.repeats >= stuck and value not in rule.stuck_allowed:
            bits |= FLAG_STUCK
        floor = rule.spike_floor
        recent = series.recent
        if (
            floor is not None
            and not implausible
            and len(recent) >= MIN_HISTORY
            and self._spike(r, value, recent, floor, rule.spike_mads)
        ):
            bits |= FLAG_SPIKE
        if not implausible:
            recent.append(value)
        series.last_time = r.time
        series.last_value = value
        series.last_flags = bits
        return bits

    def _spike(
        self, r: Reading, value: float, recent: deque[float], floor: float, mads: float
    ) -> bool:
        median = _median(recent)
        if abs(value - median) <= floor:
            return False  # the limit is never below the floor: no need for the spread
        mad = _median([abs(v - median) for v in recent])
        limit = max(mads * _MAD_TO_SIGMA * mad, floor)
        if abs(value - median) <= limit:
            return False
        # Far from its own past. Where neighbours saw the same (a fog bank, fireworks at
        # midnight), the air changed, not the sensor.
        around = self._neighbour_median(r.node, r.quantity, r.time)
        return around is None or abs(value - around) > limit

    def _humid(self, node: str, time: int, in_batch: dict[tuple[str, int], float]) -> bool:
        rh = in_batch.get((node, time))
        if rh is None:
            latest = self._humidity.get(node)
            if latest is None or abs(latest[0] - time) > self.humidity_window_s:
                return False
            rh = latest[1]
        return rh >= self.humidity_threshold

    # -- state ---------------------------------------------------------------------------

    def _note_humidity(self, readings: list[Reading]) -> dict[tuple[str, int], float]:
        """The humidity of each (node, time) in this batch; the nodes' latest kept."""
        found: dict[tuple[str, int], float] = {}
        for r in readings:
            if r.quantity != "humidity":
                continue
            found[(r.node, r.time)] = r.value
            latest = self._humidity.get(r.node)
            if latest is None or r.time >= latest[0]:
                if latest is None and len(self._humidity) >= self.max_series:
                    del self._humidity[next(iter(self._humidity))]
                self._humidity[r.node] = (r.time, r.value)
        return found

    def _remember(
        self, key: tuple[str, str], series: _Series, value: float, implausible: bool
    ) -> None:
        if len(self._series) >= self.max_series:
            del self._series[next(iter(self._series))]  # the series made longest ago
        if not implausible:
            series.recent.append(value)
        self._series[key] = series

    def _neighbour_median(self, node: str, quantity: str, time: int) -> float | None:
        """The median of the neighbours' levels (each the median of its last few readings),
        None without a neighbour that measured lately."""
        medians = []
        for other in self._neighbours_of(node):
            series = self._series.get((other, quantity))
            fresh = series is not None and abs(series.last_time - time) <= NEIGHBOUR_FRESH_S
            if series is not None and fresh and series.recent:
                medians.append(_median(list(series.recent)[-NEIGHBOUR_RECENT:]))
        return _median(medians) if medians else None

    def _neighbours_of(self, node: str) -> tuple[str, ...]:
        if self._places is None:
            return ()
        now = clock.monotonic()
        if now - self._places_at >= _PLACES_EVERY_S:
            self._places_at = now
            self._neighbours = self._find_neighbours(self._places())
        return self._neighbours.get(node, ())

    def _find_neighbours(
        self, places: Mapping[str, tuple[float, float]]
    ) -> dict[str, tuple[str, ...]]:
        # Pairs once a minute, only when a spike is suspected: a city's few hundred kits
        # are some tens of thousands of distances.
        radius = self.neighbour_radius_km
        items = list(places.items())
        return {
            node: tuple(
                other
                for other, there in items
                if other != node and distance_km(here, there) <= radius
            )
            for node, here in items
        }


def rules_table() -> str:
    """The QUALITY table as Markdown, as docs/quality.md shows it (a test keeps them equal)."""
    from lokaalmeten.protocol.quantities import QUANTITIES

    def number(value: float) -> str:
        return f"{value:g}"

    rows = [
        "| quantity | unit | plausible range | stuck after | repeats allowed | spike floor "
        "| warm-up (unnamed sensor) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rule in QUALITY.items():
        allowed = ", ".join(number(v) for v in rule.stuck_allowed) or "–"
        rows.append(
            f"| `{name}` | {QUANTITIES[name].unit} | {number(rule.low)} to {number(rule.high)} "
            f"| {rule.stuck if rule.stuck is not None else 'never'} | {allowed} "
            f"| {number(rule.spike_floor) if rule.spike_floor is not None else 'no spike rule'} "
            f"| {rule.warm_up_s} s |"
        )
    return "\n".join(rows)
