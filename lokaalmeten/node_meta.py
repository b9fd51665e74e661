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
