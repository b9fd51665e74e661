"""``/v1/nodes``: the kits that have sent readings."""

from __future__ import annotations

from fastapi import APIRouter
from lokaalmeten.server.deps import StoreDep
from pydantic import BaseModel, Field

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import iso_utc

router = APIRouter(prefix="/v1", tags=["nodes"])

_VOCABULARY_ORDER = {name: i for i, name in enumerate(QUANTITIES)}


class NodePublic(BaseModel):
    node: str = Field(description="Node id, as in the MQTT topic and the readings.")
    quantities: list[str] = Field(description="Quantities the node has readings of.")
    sensors: list[str] = Field(description="Sensor models the node reported.")
    first_reading: str = Field(description="Time of the earliest reading, ISO 8601 UTC.")
    last_reading: str = Field(description="Time of the latest reading, ISO 8601 UTC.")
    readings: int = Field(description="Number of readings stored.")


class NodeList(BaseModel):
    value: list[NodePublic]


@router.get("/nodes", response_model=NodeList, summary="List the nodes (kits)")
def list_nodes(store: StoreDep) -> NodeList:
    return NodeList(
        value=[
            NodePublic(
                node=s.node,
                quantities=sorted(s.quantities, key=_VOCABULARY_ORDER.__getitem__),
                sensors=list(s.sensors),
                first_reading=iso_utc(s.first_time),
                last_reading=iso_utc(s.last_time),
                readings=s.readings,
            )
            for s in store.nodes()
        ]
    )
