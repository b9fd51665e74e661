"""A kit as the server publishes it, in one flat record made from the node directory
(gateway/directory.py): where it is now, its public details and what the gateway heard of it.

Older lokaalmeten versions kept the first seven fields in the readings store; the gateway
moves those into the directory once (``Store.legacy_node_meta``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lokaalmeten.protocol.status import State


@dataclass(frozen=True, slots=True)
class NodeMeta:
    """A kit as the server publishes it, flat: where it is now (rounded on the way out unless
    ``exact``, the owner's consent), its public details and what the gateway heard of it."""

    node: str
    latitude: float | None = None
    longitude: float | None = None
    exact: bool = False
    name: str = ""
    description: str = ""
    interval: float | None = None  # seconds between readings, when not the network's default
    indoor: bool | None = None
    height_m: float | None = None
    sensors: tuple[str, ...] = ()
    firmware: str = ""
    state: State | None = None  # from its status (and Last Will); None: never heard
    state_since: int | None = None


@dataclass(frozen=True, slots=True)
class PublicPlace:
    latitude: float
    longitude: float
    exactness: str  # "exact" or "rounded-<n>dp"
    precision_m: float  # about half the rounding step, north-south


def public_place(meta: NodeMeta, decimals: int) -> PublicPlace | None:
    """Where a node may be said to be: rounded to ``decimals`` unless its owner chose
    ``exact`` (the server's outputs, and what a relay tells its city gateway)."""
    if meta.latitude is None or meta.longitude is None:
        return None
    if meta.exact:
        return PublicPlace(meta.latitude, meta.longitude, "exact", 0.0)
    return PublicPlace(
        round(meta.latitude, decimals),
        round(meta.longitude, decimals),
        f"rounded-{decimals}dp",
        round(111_320 * 10.0**-decimals / 2, 1),
    )
