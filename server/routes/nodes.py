"""``/v1/nodes``, ``/v1/quantities`` and ``/v1/latest``: what is measured where, and now."""

from __future__ import annotations

import math
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from lokaalmeten.gateway.alert_book import Alert
from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.protocol.quantities import QUANTITIES, Aggregation
from lokaalmeten.readings import iso_utc
from lokaalmeten.server.catalogue import NodeView, interval_of, node_views, online_at, silent_after
from lokaalmeten.server.deps import AlertsDep, DirectoryDep, SettingsDep, StoreDep
from lokaalmeten.server.errors import ApiError, ErrorBody
from lokaalmeten.server.params import AreaNodes
from lokaalmeten.server.privacy import PublicPlace, public_place
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import Store, StoreError

router = APIRouter(prefix="/v1", tags=["nodes"])


class Place(BaseModel):
    latitude: float = Field(description="WGS84 degrees, as published (see exactness).")
    longitude: float
    exactness: str = Field(
        description="'exact' when the owner chose so, else 'rounded-<n>dp' (n decimals)."
    )


class AlertPublic(BaseModel):
    kind: str = Field(
        description="'offline', 'dead_sensor', 'stuck' or 'persistent_flags' (docs/gateway.md)."
    )
    quantity: str | None = Field(description="The quantity concerned; null: the whole kit.")
    since: str = Field(description="When the gateway raised the alert, ISO 8601 UTC.")
    message: str = Field(description="What is wrong, in plain words.")


class NodePublic(BaseModel):
    node: str = Field(description="Node id, as in the MQTT topic and the readings.")
    name: str = Field(description="Name the operator gave the node; may be empty.")
    description: str
    location: Place | None = Field(description="Published location; null when not located.")
    quantities: list[str] = Field(description="Quantities the node has readings of.")
    sensors: list[str] = Field(description="Sensor models the node reported.")
    first_reading: str = Field(description="Time of the earliest reading, ISO 8601 UTC.")
    last_reading: str = Field(description="Time of the latest reading, ISO 8601 UTC.")
    readings: int = Field(description="Number of readings stored.")
    interval_s: float = Field(description="Seconds between readings expected of the node.")
    online: bool = Field(
        description="The kit's own status: online while it is connected to the gateway's "
        "broker, offline from its Last Will (within 1.5 x its MQTT keep-alive of going "
        "silent). A kit that sends no status: last reading at most 3 x interval_s old (at "
        "least 15 minutes allowed)."
    )
    status_since: str | None = Field(
        description="Since when the kit's status says what `online` says, ISO 8601 UTC; "
        "null for a kit that sends no status."
    )
    firmware: str | None = Field(description="Firmware version from the kit's status.")
    indoor: bool | None = Field(description="Measures indoors (true) or outdoors; null: unsaid.")
    height_m: float | None = Field(description="Height of the inlet above the ground, metres.")
    alerts: list[AlertPublic] = Field(
        description="The kit's open kit-health alerts (offline, a dead or stuck sensor, "
        "persistent quality flags), oldest first; empty when all is well."
    )


class NodeList(BaseModel):
    value: list[NodePublic]


class QuantityPublic(BaseModel):
    name: str
    unit: str
    description: str
    minimum: float = Field(description="Lowest value a sensor can report.")
    maximum: float
    aggregation: Aggregation = Field(
        description="How readings combine in /v1/aggregates: mean, energetic_mean, max, min "
        "or none (percentile levels have no aggregate value)."
    )


class QuantityList(BaseModel):
    value: list[QuantityPublic]


class LatestValue(BaseModel):
    value: float
    unit: str
    time: str
    sensor: str | None


class NodeLatest(BaseModel):
    node: str
    location: Place | None
    online: bool
    values: dict[str, LatestValue]


class LatestList(BaseModel):
    value: list[NodeLatest]


def place_of(place: PublicPlace | None) -> Place | None:
    if place is None:
        return None
    return Place(latitude=place.latitude, longitude=place.longitude, exactness=place.exactness)


def alert_public(alert: Alert) -> AlertPublic:
    return AlertPublic(
        kind=alert.kind,
        quantity=alert.quantity or None,
        since=iso_utc(alert.opened),
        message=alert.message,
    )


def node_public(view: NodeView, alerts: list[Alert]) -> NodePublic:
    s = view.summary
    return NodePublic(
        node=view.node,
        name=view.meta.name,
        description=view.meta.description,
        location=place_of(view.place),
        quantities=view.quantities,
        sensors=list(s.sensors),
        first_reading=iso_utc(s.first_time),
        last_reading=iso_utc(s.last_time),
        readings=s.readings,
        interval_s=view.interval,
        online=view.online,
        status_since=None if view.meta.state_since is None else iso_utc(view.meta.state_since),
        firmware=view.meta.firmware or None,
        indoor=view.meta.indoor,
        height_m=view.meta.height_m,
        alerts=[alert_public(a) for a in alerts],
    )


@router.get("/nodes", response_model=NodeList, summary="List the nodes (kits)")
def list_nodes(
    store: StoreDep,
    directory: DirectoryDep,
    alerts: AlertsDep,
    settings: SettingsDep,
    chosen: AreaNodes,
) -> NodeList:
    views = node_views(store, directory, settings)
    open_alerts = alerts.open_alerts()
    return NodeList(
        value=[
            node_public(v, open_alerts.get(n, []))
            for n, v in views.items()
            if not chosen or n in chosen
        ]
    )


@router.get(
    "/nodes/{node}",
    response_model=NodePublic,
    summary="One node",
    responses={404: {"model": ErrorBody, "description": "No node with this id has readings."}},
)
def get_node(
    store: StoreDep,
    directory: DirectoryDep,
    alerts: AlertsDep,
    settings: SettingsDep,
    node: Annotated[str, Path(description="Node id.")],
) -> NodePublic:
    view = node_views(store, directory, settings).get(node)
    if view is None:
        raise ApiError(404, f"node: no node {node!r} has readings; see /v1/nodes", "node")
    return node_public(view, alerts.open_alerts().get(node, []))


@router.get("/quantities", response_model=QuantityList, summary="The quantities and their units")
def list_quantities() -> QuantityList:
    return QuantityList(
        value=[
            QuantityPublic(
                name=q.name,
                unit=q.unit,
                description=q.description,
                minimum=q.minimum,
                maximum=q.maximum,
                aggregation=q.aggregation,
            )
            for q in QUANTITIES.values()
        ]
    )


@router.get("/latest", response_model=LatestList, summary="The latest value of every quantity")
def list_latest(
    request: Request,
    store: StoreDep,
    directory: DirectoryDep,
    settings: SettingsDep,
    chosen: AreaNodes,
) -> Response:
    # The answer as bytes from here: FastAPI would validate the returned model again
    # against response_model, in another trip to its thread pool (bench/api_clients.py).
    answers: LatestAnswers = request.app.state.latest_answers
    points = getattr(request.state, _POINTS, None)
    return Response(answers.answer(store, directory, settings, chosen, points=points),
                    media_type="application/json")  # fmt: skip


_POINTS = "latest_change_points"  # in a request's state, from KeptLatest


class LatestAnswers:
    """One worker's encoded /v1/latest answers, by area filter. One is served again while
    the store's and the node directory's change points are what they were before it was
    made, and until the clock makes a kit without a status of its own go offline: an
    unchanged network is answered with one cheap look at each, never a stale answer."""

    MOST = 64  # answers kept (filters); the oldest made goes first
    # A backstop for what no change point shows: InfluxDB dropping data by retention, or a
    # gateway writing a log-keeping InfluxDB with changes=off.
    MAX_AGE = 30.0

    # A store behind the network (InfluxDB) is asked for its change point at most this often:
    # a look costs it about as much as the rest of a kept answer many times over, so an
    # answer may be this much behind a write (the live stream itself polls every 0.5 s).
    LOOK_S = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, ...], tuple[tuple[object, object], float, bytes]] = {}
        self._looked: tuple[float, object] | None = None  # (monotonic time, store's point)

    def points(self, store: Store, directory: DirectoryReader) -> tuple[object, object]:
        """The store's and the directory's change points; may wait on the store's server."""
        at_hand = self.points_at_hand(store, directory)
        if at_hand is not None:
            return at_hand
        looked = time.monotonic()
        point = store.change_point()
        with self._lock:
            self._looked = (looked, point)
        return point, directory.change_point()

    def points_at_hand(
        self, store: Store, directory: DirectoryReader
    ) -> tuple[object, object] | None:
        """The change points if they can be had without waiting on a network (a local
        store, or a remote store's point looked at less than LOOK_S ago), else None."""
        if store.change_point_local:
            return change_points(store, directory)
        with self._lock:
            looked = self._looked
        if looked is not None and time.monotonic() - looked[0] < self.LOOK_S:
            return looked[1], directory.change_point()
        return None

    def answer(
        self,
        store: Store,
        directory: DirectoryReader,
        settings: ServerSettings,
        chosen: tuple[str, ...],
        now: float | None = None,
        points: tuple[object, object] | None = None,
    ) -> bytes:
        """``points``: the change points, when this request looked at them already."""
        now = time.time() if now is None else now
        # The points before the answer is read: a write in between makes the answer newer
        # than its points, so the next request sees other points and makes it anew.
        points = self.points(store, directory) if points is None else points
        kept = self.kept(chosen, points, now)
        if kept is not None:
            return kept
        latest, until = latest_of(store, directory, settings, chosen, now)
        body = latest.model_dump_json().encode()
        if points[0] is None:  # the store cannot tell a change: nothing may be kept
            return body
        with self._lock:
            self._kept.pop(chosen, None)
            self._kept[chosen] = (points, min(until, now + self.MAX_AGE), body)
            while len(self._kept) > self.MOST:
                del self._kept[next(iter(self._kept))]
        return body

    def kept(
        self, chosen: tuple[str, ...], points: tuple[object, object], now: float
    ) -> bytes | None:
        """The answer kept for ``chosen`` if it is still true at these change points."""
        with self._lock:
            kept = self._kept.get(chosen)
        if kept is not None and kept[0] == points and now < kept[1]:
            return kept[2]
        return None


def change_points(store: Store, directory: DirectoryReader) -> tuple[object, object]:
    return store.change_point(), directory.change_point()


class KeptLatest:
    """A plain `GET /v1/latest` whose kept answer still holds, answered beside FastAPI
    (inside every other middleware: the rate limit, admission, CORS and gzip still apply).
    FastAPI's routing, its dependencies and the trip to its thread pool would cost about
    as much again as the whole rest of the request (docs/benchmarks.md). Anything
    else, and a look at the change points that fails, goes to the route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"] == "/v1/latest"
            and not scope["query_string"]
        ):
            body = await self._kept(scope["app"].state, scope.setdefault("state", {}))
            if body is not None:
                headers = [(b"content-length", str(len(body)).encode()),
                           (b"content-type", b"application/json")]  # fmt: skip
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _kept(state: State, request: dict[str, Any]) -> bytes | None:
        store: Store = state.store
        directory: DirectoryReader = state.directory
        answers: LatestAnswers = state.latest_answers
        try:
            points = answers.points_at_hand(store, directory)
            if points is None:  # a request to the store's server: not on the event loop
                points = await run_in_threadpool(answers.points, store, directory)
        except StoreError:
            return None
        request[_POINTS] = points  # for the route, on a miss: looked at once a request
        return answers.kept((), points, time.time())


def latest_of(
    store: Store,
    directory: DirectoryReader,
    settings: ServerSettings,
    chosen: tuple[str, ...],
    now: float,
) -> tuple[LatestList, float]:
    """The answer, from one store query (each kit's last reading is the newest of its
    latest values), and until when the clock leaves it true (a kit going silent)."""
    metas = directory.metas()
    latest: dict[str, dict[str, LatestValue]] = {}
    heard: dict[str, int] = {}
    for r in store.latest(chosen):
        latest.setdefault(r.node, {})[r.quantity] = LatestValue(
            value=r.value, unit=QUANTITIES[r.quantity].unit, time=iso_utc(r.time), sensor=r.sensor
        )
        heard[r.node] = max(heard.get(r.node, r.time), r.time)
    found, until = [], math.inf
    for node_id in sorted(latest):
        meta = metas.get(node_id, NodeMeta(node_id))
        interval = interval_of(meta, settings)
        online = online_at(meta, heard[node_id], interval, now)
        if online and meta.state is None:
            until = min(until, silent_after(heard[node_id], interval))
        found.append(
            NodeLatest(
                node=node_id,
                location=place_of(public_place(meta, settings.location_decimals)),
                online=online,
                values=latest[node_id],
            )
        )
    return LatestList(value=found), until
