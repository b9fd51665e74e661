"""SensorThings v1.1 entities over the store, built per request and only as far as needed.

Mapping: a **Thing** is a node; its **Location**, **HistoricalLocation** and
**FeatureOfInterest** are its published (rounded) place; a **Datastream** is a node's
quantity (id ``node:quantity``); a **Sensor** is a sensor model; an **ObservedProperty** is a
quantity; an **Observation** is a reading (id ``node:quantity:epoch-seconds``). Ids are
strings: ``Things('esp32-0a1b2c')``, ``Datastreams('esp32-0a1b2c:pm25')``. A node with LAeq
readings also has a Datastream per daily noise indicator (``node:lden``, …), whose
Observations are local days (:mod:`lokaalmeten.server.sensorthings.noise`).

    source = EntitySource(store, directory, settings, base="https://example.nl/v1.1")
    source.entities("Thing")            # every Thing
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any
from urllib.parse import quote

from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.noise_indicators import QUANTITY as NOISE_QUANTITY
from lokaalmeten.noise_indicators import DayIndicators, indicators
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import Reading, flag_names, iso_utc
from lokaalmeten.server.budget import Deadline
from lokaalmeten.server.catalogue import NodeView, node_views, thresholds
from lokaalmeten.server.sensorthings.noise import (
    INDICATORS,
    datastream_props,
    indicator_id,
    local_day_of,
    observation_props,
    observed_property_props,
    split_id,
)
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import ReadingQuery, Store, StreamRow, Tag

ENTITY_SETS = {
    "Things": "Thing",
    "Locations": "Location",
    "HistoricalLocations": "HistoricalLocation",
    "Datastreams": "Datastream",
    "Sensors": "Sensor",
    "ObservedProperties": "ObservedProperty",
    "Observations": "Observation",
    "FeaturesOfInterest": "FeatureOfInterest",
}
SET_OF = {kind: name for name, kind in ENTITY_SETS.items()}

PROPERTIES: dict[str, tuple[str, ...]] = {
    "Thing": ("name", "description", "properties"),
    "Location": ("name", "description", "encodingType", "location", "properties"),
    "HistoricalLocation": ("time",),
    "Datastream": (
        "name", "description", "unitOfMeasurement", "observationType", "observedArea",
        "phenomenonTime", "resultTime", "properties",
    ),
    "Sensor": ("name", "description", "encodingType", "metadata", "properties"),
    "ObservedProperty": ("name", "definition", "description", "properties"),
    "Observation": (
        "phenomenonTime", "resultTime", "result", "resultQuality", "validTime", "parameters",
    ),
    "FeatureOfInterest": ("name", "description", "encodingType", "feature", "properties"),
}  # fmt: skip

# navigation property -> (target type, is a collection)
NAVIGATION: dict[str, dict[str, tuple[str, bool]]] = {
    "Thing": {
        "Locations": ("Location", True),
        "HistoricalLocations": ("HistoricalLocation", True),
        "Datastreams": ("Datastream", True),
    },
    "Location": {"Things": ("Thing", True), "HistoricalLocations": ("HistoricalLocation", True)},
    "HistoricalLocation": {"Thing": ("Thing", False), "Locations": ("Location", True)},
    "Datastream": {
        "Thing": ("Thing", False),
        "Sensor": ("Sensor", False),
        "ObservedProperty": ("ObservedProperty", False),
        "Observations": ("Observation", True),
    },
    "Sensor": {"Datastreams": ("Datastream", True)},
    "ObservedProperty": {"Datastreams": ("Datastream", True)},
    "Observation": {
        "Datastream": ("Datastream", False),
        "FeatureOfInterest": ("FeatureOfInterest", False),
    },
    "FeatureOfInterest": {"Observations": ("Observation", True)},
}

OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
UNKNOWN_SENSOR = "unknown"


@dataclass(slots=True)
class Entity:
    """One entity: its type, id, standard properties and the keys navigation follows."""

    kind: str
    id: str
    props: dict[str, Any]
    keys: dict[str, str] = field(default_factory=dict)  # node, quantity, sensor


def quote_id(entity_id: str) -> str:
    return "'" + entity_id.replace("'", "''") + "'"


def moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def observation(node: str, quantity: str, row: StreamRow, tags: Mapping[int, Tag]) -> Entity:
    t, value, tag = row
    sensor, flags = tags[tag]
    when = moment(t)
    names = flag_names(flags)
    return Entity(
        "Observation",
        f"{node}:{quantity}:{t}",
        {
            "phenomenonTime": when,
            "resultTime": when,
            "result": value,
            "resultQuality": names,  # the quality flags by name, [] when none
            "validTime": None,
            "parameters": {"sensor": sensor, "flags": names},
        },
        {"node": node, "quantity": quantity},
    )


def indicator_observation(day: DayIndicators, name: str, threshold_db: float) -> Entity:
    return Entity(
        "Observation",
        f"{day.node}:{name}:{day.start}",
        observation_props(day, name, threshold_db),
        {"node": day.node, "quantity": name},
    )


class EntitySource:
    """The entities of one request; every list is made at most once."""

    def __init__(
        self,
        store: Store,
        directory: DirectoryReader,
        settings: ServerSettings,
        base: str,
        deadline: Deadline | None = None,
    ) -> None:
        self.store = store
        self.directory = directory
        self.settings = settings
        self.base = base
        self.deadline = deadline or Deadline(settings.query_time_limit)
        self._lists: dict[str, list[Entity]] = {}
        # Expansions follow the same few links again and again (10,000 Observations lead
        # to a handful of Datastreams): each is looked up once per request.
        self._followed: dict[tuple[str, str], Entity | None] = {}
        # Pages of Observations read for many Datastreams at once ($expand), by the options
        # object they answer and (node, quantity).
        self._days: dict[tuple[str, date, date], list[DayIndicators]] = {}
        self.indicator_nodes: set[str] = set()  # noise nodes a page will ask days of
        self.pages: dict[
            tuple[int, tuple[str, str]], tuple[list[Entity], int | None, bool, bool]
        ] = {}

    @cached_property
    def views(self) -> dict[str, NodeView]:
        return node_views(self.store, self.directory, self.settings)

    @cached_property
    def spans(self) -> dict[tuple[str, str], tuple[int, int]]:
        return self.store.spans()

    @cached_property
    def hour_thresholds(self) -> tuple[int, dict[str, int]]:
        """Readings an hour of LAeq needs to be valid: by default, and by node."""
        return thresholds(self.directory, self.settings)

    @cached_property
    def latest(self) -> dict[tuple[str, str], Reading]:
        return {(r.node, r.quantity): r for r in self.store.latest()}

    def _geometry(self, node: str) -> dict[str, Any] | None:
        view = self.views.get(node)
        if view is None or view.place is None:
            return None
        return {"type": "Point", "coordinates": [view.place.longitude, view.place.latitude]}

    def _place_properties(self, node: str) -> dict[str, Any]:
        place = self.views[node].place
        if place is None:
            return {}
        return {"exactness": place.exactness, "precision_m": place.precision_m}

    # -- lists ---------------------------------------------------------------------------

    def entities(self, kind: str) -> list[Entity]:
        found = self._lists.get(kind)
        if found is None:
            found = self._lists[kind] = getattr(self, f"_{kind}")()
        return found

    def _Thing(self) -> list[Entity]:
        return [
            Entity(
                "Thing",
                node,
                {
                    "name": view.meta.name or node,
                    "description": view.meta.description or f"lokaalmeten kit {node}",
                    "properties": {
                        "node": node,
                        "sensors": list(view.summary.sensors),
                        "online": view.online,
                        "interval_s": view.interval,
                        "firmware": view.meta.firmware or None,
                        "indoor": view.meta.indoor,
                        "height_m": view.meta.height_m,
                    },
                },
                {"node": node},
            )
            for node, view in self.views.items()
        ]

    def _Location(self) -> list[Entity]:
        return [
            Entity(
                "Location",
                node,
                {
                    "name": f"Location of {view.meta.name or node}",
                    "description": "Published location: "
                    + (
                        "exact, as the owner chose"
                        if view.place.exactness == "exact"
                        else f"rounded to {self.settings.location_decimals} decimals"
                    ),
                    "encodingType": "application/geo+json",
                    "location": self._geometry(node),
                    "properties": self._place_properties(node),
                },
                {"node": node},
            )
            for node, view in self.views.items()
            if view.place is not None
        ]

    def _HistoricalLocation(self) -> list[Entity]:
        return [
            Entity(
                "HistoricalLocation",
                node,
                {"time": moment(self.views[node].summary.first_time)},
                {"node": node},
            )
            for node in (e.id for e in self._Location())
        ]

    def _FeatureOfInterest(self) -> list[Entity]:
        return [
            Entity(
                "FeatureOfInterest",
                node,
                {
                    "name": f"Surroundings of {view.meta.name or node}",
                    "description": "The air and sound at the node's published location.",
                    "encodingType": "application/geo+json",
                    "feature": self._geometry(node),
                    "properties": self._place_properties(node),
                },
                {"node": node},
            )
            for node, view in self.views.items()
        ]

    def datastream(self, node: str, quantity: str) -> Entity:
        q = QUANTITIES[quantity]
        latest = self.latest.get((node, quantity))
        sensor = latest.sensor if latest is not None and latest.sensor else UNKNOWN_SENSOR
        view = self.views.get(node)
        name = view.meta.name if view is not None and view.meta.name else node
        span = self.spans.get((node, quantity))
        interval = None if span is None else f"{iso_utc(span[0])}/{iso_utc(span[1])}"
        return Entity(
            "Datastream",
            f"{node}:{quantity}",
            {
                "name": f"{q.description} at {name}",
                "description": f"{q.description}, as measured by {sensor} on {node}",
                "unitOfMeasurement": {
                    "name": q.unit,
                    "symbol": q.unit,
                    "definition": f"{self.base}/ObservedProperties('{quantity}')",
                },
                "observationType": OM_MEASUREMENT,
                "observedArea": self._geometry(node),
                "phenomenonTime": interval,
                "resultTime": interval,
                # How its observations combine into hourly and daily values (the quantity
                # table's aggregation; /v1/aggregates serves those, flagged readings left
                # out): SensorThings has no hourly or daily Datastreams of a quantity, only
                # those of the daily noise indicators (docs/api.md).
                "properties": {
                    "node": node,
                    "quantity": quantity,
                    "aggregation": q.aggregation,
                    "aggregates": f"{self.base.rsplit('/', 1)[0]}/v1/aggregates?node="
                    f"{quote(node, safe='')}&quantity={quantity}",
                },
            },
            {"node": node, "quantity": quantity, "sensor": sensor},
        )

    def indicator_datastream(self, node: str, name: str) -> Entity:
        """The Datastream of a daily noise indicator of a node with LAeq readings."""
        latest = self.latest.get((node, NOISE_QUANTITY))
        sensor = latest.sensor if latest is not None and latest.sensor else UNKNOWN_SENSOR
        view = self.views.get(node)
        props = datastream_props(
            INDICATORS[name],
            node,
            view.meta.name if view is not None and view.meta.name else node,
            self._geometry(node),
            self.spans.get((node, NOISE_QUANTITY)),
            self.base,
            f"{self.base.rsplit('/', 1)[0]}/v1",
            self.settings.noise_threshold_db,
        )
        props["observationType"] = OM_MEASUREMENT
        return Entity(
            "Datastream",
            f"{node}:{name}",
            props,
            {"node": node, "quantity": name, "sensor": sensor},
        )

    def _Datastream(self) -> list[Entity]:
        found = []
        for node, view in self.views.items():
            found += [self.datastream(node, quantity) for quantity in view.quantities]
            if NOISE_QUANTITY in view.summary.quantities:
                found += [self.indicator_datastream(node, name) for name in INDICATORS]
        return found

    def indicator_days(self, node: str, first: date, end: date) -> list[DayIndicators]:
        """A node's noise indicators on the local days from ``first`` to ``end`` (exclusive)
        that have a counted LAeq reading, as /v1/noise/indicators computes them."""
        cached = self._days.get((node, first, end))
        if cached is not None:
            return cached
        # A node's indicator Datastreams (lden, lday, …) ask for the same days, and a page
        # of them expanded asks for each noise node's: the nodes the page named are computed
        # with this one in one store call when their days are the same.
        nodes = sorted(
            {node} | {n for n in self.indicator_nodes if (n, first, end) not in self._days}
        )
        default, per_node = self.hour_thresholds
        found = indicators(
            self.store, tuple(nodes), first, end, per_node, default,
            self.settings.noise_threshold_db,
        )  # fmt: skip
        for n in nodes:
            self._days[(n, first, end)] = [d for d in found if d.node == n]
        return self._days[(node, first, end)]

    def _Sensor(self) -> list[Entity]:
        models = sorted({d.keys["sensor"] for d in self._Datastream()})
        return [
            Entity(
                "Sensor",
                model,
                {
                    "name": model,
                    "description": f"Sensor model {model}"
                    if model != UNKNOWN_SENSOR
                    else "Readings whose kit did not name the sensor model",
                    "encodingType": "text/html",
                    "metadata": f"{self.base.rsplit('/', 1)[0]}/docs",
                    "properties": {},
                },
                {"sensor": model},
            )
            for model in models
        ]

    def _ObservedProperty(self) -> list[Entity]:
        return [
            Entity(
                "ObservedProperty",
                q.name,
                {
                    "name": q.description,
                    "definition": f"{self.base.rsplit('/', 1)[0]}/v1/quantities#{q.name}",
                    "description": f"{q.description}, in {q.unit}",
                    "properties": {"unit": q.unit},
                },
                {"quantity": q.name},
            )
            for q in QUANTITIES.values()
        ] + [
            Entity(
                "ObservedProperty",
                name,
                observed_property_props(indicator, f"{self.base.rsplit('/', 1)[0]}/v1"),
                {"quantity": name},
            )
            for name, indicator in INDICATORS.items()
        ]

    def _Observation(self) -> list[Entity]:
        raise AssertionError("observations are read from the store, never listed whole")

    # -- single entities -----------------------------------------------------------------

    def get(self, kind: str, entity_id: str, keys_only: bool = False) -> Entity | None:
        """The entity, or None. ``keys_only``: a Datastream with only the keys navigation to
        its Observations needs (its node and quantity), not the whole-store look-ups (latest,
        spans, places) its properties take."""
        if kind == "Observation" and (found := indicator_id(entity_id)) is not None:
            node, name, start = found
            day = local_day_of(start)
            assert day is not None  # indicator_id checked that a local day starts there
            for d in self.indicator_days(node, day, day + timedelta(days=1)):
                return indicator_observation(d, name, self.settings.noise_threshold_db)
            return None
        if kind == "Observation":
            node, _, rest = entity_id.rpartition(":")
            node, _, quantity = node.rpartition(":")
            if not node or quantity not in QUANTITIES or not rest.lstrip("-").isdecimal():
                return None
            t = int(rest)
            for batch in self.store.stream(
                _query((node,), (quantity,), t, t + 1, self.settings.max_limit), batch=1
            ):
                return observation(node, quantity, batch.rows[0], batch.tags)
            return None
        if kind == "Datastream" and split_id(entity_id)[1] in INDICATORS:
            node, name = split_id(entity_id)
            if not self.store.streams((node,), (NOISE_QUANTITY,)):
                return None
            return self.indicator_datastream(node, name)
        if kind == "Datastream":
            node, _, quantity = entity_id.rpartition(":")
            if quantity not in QUANTITIES or not self.store.streams((node,), (quantity,)):
                return None
            if keys_only:
                return Entity("Datastream", entity_id, {}, {"node": node, "quantity": quantity})
            return self.datastream(node, quantity)
        for entity in self.entities(kind):
            if entity.id == entity_id:
                return entity
        return None

    def follow(self, entity: Entity, navigation: str) -> Entity | None:
        """A navigation property that leads to one entity."""
        kind = NAVIGATION[entity.kind][navigation][0]
        if kind == "Datastream":
            entity_id = f"{entity.keys['node']}:{entity.keys['quantity']}"
        else:
            key = {"Sensor": "sensor", "ObservedProperty": "quantity"}.get(kind, "node")
            entity_id = entity.keys[key]
        if (kind, entity_id) not in self._followed:
            self._followed[(kind, entity_id)] = self.get(kind, entity_id)
        return self._followed[(kind, entity_id)]


def _query(
    nodes: tuple[str, ...], quantities: tuple[str, ...], start: int, end: int, limit: int
) -> ReadingQuery:
    return ReadingQuery(start, end, limit, nodes, quantities)
