"""Where a node may be said to be: the published location, rounded unless the owner opted in.

A home location leaves the server rounded to ``location_decimals`` (default 3, about 100 m)
in every output; only a node whose owner chose ``exact`` is published as recorded::

    place = public_place(NodeMeta("kit-1", 52.091234, 5.121987), decimals=3)
    (place.latitude, place.longitude, place.exactness)   # (52.091, 5.122, 'rounded-3dp')
"""

from __future__ import annotations

from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.node_meta import PublicPlace, public_place
from lokaalmeten.settings import ServerSettings

__all__ = ["PublicPlace", "public_place", "public_places"]


def public_places(directory: DirectoryReader, settings: ServerSettings) -> dict[str, PublicPlace]:
    """Every located node's published place, by node id."""
    places = {}
    for node, meta in directory.metas().items():
        place = public_place(meta, settings.location_decimals)
        if place is not None:
            places[node] = place
    return places
