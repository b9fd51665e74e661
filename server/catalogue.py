"""What the server knows about each node, put together once per request for every API family:
readings summary, the node directory's entry, the published place and the online status.

    for view in node_views(store, directory, settings): print(view.node, view.online, view.place)

Online status is the kit's own, from the node directory: the gateway keeps each kit's retained
status and its Last Will, which the broker publishes when the kit has been silent for its
keep-alive. A kit that never sent a status (an HTTP kit, an older firmware) is online when its
last reading is at most ``3 × interval`` old, and at least 15 minutes are always allowed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.noise_indicators import VALID_SHARE
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.server.privacy import PublicPlace, public_place
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import NodeSummary, Store

ONLINE_MIN_SECONDS = 900
# The coverage rule (lokaalmeten.noise_indicators.VALID_SHARE) in the words of the API's
# descriptions, so that no description states a number of its own.
VALID_PERCENT = f"{VALID_SHARE * 100:g} %"

_ORDER = {name: i for i, name in enumerate(QUANTITIES)}


@dataclass(frozen=True, slots=True)
class NodeView:
    node: str
    summary: NodeSummary
    meta: NodeMeta
    place: PublicPlace | None
    interval: float
    online: bool

    @property
    def quantities(self) -> list[str]:
        return sorted(self.summary.quantities, key=_ORDER.__getitem__)


def interval_of(meta: NodeMeta | None, settings: ServerSettings) -> float:
    if meta is not None and meta.interval:
        return meta.interval
    return settings.measurement_interval


def node_views(
    store: Store, directory: DirectoryReader, settings: ServerSettings, now: float | None = None
) -> dict[str, NodeView]:
    """Every node with readings, by id, in id order."""
    now = time.time() if now is None else now
    metas = directory.metas()
    views = {}
    for summary in sorted(store.nodes(), key=lambda s: s.node):
        meta = metas.get(summary.node, NodeMeta(summary.node))
        interval = interval_of(meta, settings)
        views[summary.node] = NodeView(
            node=summary.node,
            summary=summary,
            meta=meta,
            place=public_place(meta, settings.location_decimals),
            interval=interval,
            online=_online(meta, summary, interval, now),
        )
    return views


def _online(meta: NodeMeta, summary: NodeSummary, interval: float, now: float) -> bool:
    return online_at(meta, summary.last_time, interval, now)


def online_at(meta: NodeMeta, last_time: int, interval: float, now: float) -> bool:
    if meta.state is not None:
        return meta.state == "online"
    return now <= silent_after(last_time, interval)


def silent_after(last_time: int, interval: float) -> float:
    """When a kit that sends no status, last heard at ``last_time``, counts as offline."""
    return last_time + max(3 * interval, ONLINE_MIN_SECONDS)


def thresholds(directory: DirectoryReader, settings: ServerSettings) -> tuple[int, dict[str, int]]:
    """Readings an hour needs to count (VALID_SHARE of the expected), by default and per
    node."""
    default = hour_threshold(settings.measurement_interval)
    per_node = {
        node: hour_threshold(meta.interval)
        for node, meta in directory.metas().items()
        if meta.interval
    }
    return default, per_node


def expected_per_hour(interval: float) -> float:
    return 3600 / interval


def hour_threshold(interval: float) -> int:
    """Smallest whole count that is at least VALID_SHARE of the readings expected in an
    hour."""
    needed = VALID_SHARE * expected_per_hour(interval)
    whole = int(needed)
    return max(1, whole if whole >= needed - 1e-9 else whole + 1)
