"""Where a node may be said to be: the published location, rounded unless the owner opted in.

A home location leaves the server rounded to ``location_decimals`` (default 3, about 100 m)
in every output; only a node whose owner chose ``exact`` is published as recorded::

    place = public_place(NodeMeta("kit-1", 52.091234, 5.121987), decimals=3)
    (place.latitude, place.longitude, place.exactness)   # (52.091, 5.122, 'rounded-3dp')
"""

from __future__ import annotations

from dataclasses import dataclass

from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.settings import ServerSettings


@dataclass(frozen=True, slots=True)
class PublicPlace:
    latitude: float
    longitude: float
    exactness: str  # "exact" or "rounded-<n>dp"
    precision_m: float  # about half the rounding step, north-south


def public_place(meta: NodeMeta, decimals: int) -> PublicPlace | None:
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


def public_places(directory: DirectoryReader, settings: ServerSettings) -> dict[str, PublicPlace]:
    """Every located node's published place, by node id."""
    places = {}
    for node, meta in directory.metas().items():
        place = public_place(meta, settings.location_decimals)
        if place is not None:
            places[node] = place
    return places
