"""What the server knows about each node, put together once per request for every API family:
readings summary, the operator's metadata, the published place and the online status.

    for view in node_views(store, settings): print(view.node, view.online, view.place)

Online status comes from the age of the node's last reading (the gateway does not keep the
kits' status messages): online when the last reading is at most ``3 × interval`` old, and at
least 15 minutes are always allowed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.server.privacy import PublicPlace, public_place
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import NodeMeta, NodeSummary, Store

ONLINE_MIN_SECONDS = 900

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
    store: Store, settings: ServerSettings, now: float | None = None
) -> dict[str, NodeView]:
    """Every node with readings, by id, in id order."""
    now = time.time() if now is None else now
    metas = store.node_meta()
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
            online=now - summary.last_time <= max(3 * interval, ONLINE_MIN_SECONDS),
        )
    return views


def thresholds(store: Store, settings: ServerSettings) -> tuple[int, dict[str, int]]:
    """Readings an hour needs to count (75 % of the expected), by default and per node."""
    default = hour_threshold(settings.measurement_interval)
    per_node = {
        node: hour_threshold(meta.interval)
        for node, meta in store.node_meta().items()
        if meta.interval
    }
    return default, per_node


def expected_per_hour(interval: float) -> float:
    return 3600 / interval


def hour_threshold(interval: float) -> int:
    """Smallest whole count that is at least 75 % of the readings expected in an hour."""
    needed = 0.75 * expected_per_hour(interval)
    whole = int(needed)
    return max(1, whole if whole >= needed - 1e-9 else whole + 1)
