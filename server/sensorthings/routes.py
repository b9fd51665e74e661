"""``/v1.1``: OGC SensorThings API v1.1, the read part (Sensing Core, Filtering, DataArray).

Paths: entity sets (``/v1.1/Things``), single entities (``/v1.1/Things('kit-1')``),
navigation (``/v1.1/Things('kit-1')/Datastreams``), properties (``…/name``, ``…/name/$value``)
and association links (``…/$ref``). Write methods answer 405: readings enter through the
gateway. See docs/api.md for the mapping of nodes and readings onto entities.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from lokaalmeten.server.budget import Deadline
from lokaalmeten.server.deps import SettingsDep, StoreDep, get_directory
from lokaalmeten.server.disconnect import client_gone
from lokaalmeten.server.errors import NOT_FOUND, ApiError, ErrorBody
from lokaalmeten.server.jsonstream import json_response
from lokaalmeten.server.sensorthings.model import (
    ENTITY_SETS,
    NAVIGATION,
    PROPERTIES,
    SET_OF,
    Entity,
    EntitySource,
    quote_id,
)
from lokaalmeten.server.sensorthings.observations import observation_page, prefetch_pages
from lokaalmeten.server.sensorthings.query import (
    Bounds,
    Options,
    json_value,
    matches,
    parse_options,
    sort_key,
)
from lokaalmeten.settings import ServerSettings

router = APIRouter(prefix="/v1.1", tags=["SensorThings API v1.1"])

_REQ = "http://www.opengis.net/spec/iot_sensing/1.1/req/"
CONFORMANCE = [
    f"{_REQ}datamodel",
    f"{_REQ}resource-path/resource-path-to-entities",
    f"{_REQ}request-data",
    f"{_REQ}data-array/data-array",
]
_SEGMENT = re.compile(r"^([A-Za-z]+)(?:\((?:'((?:[^']|'')*)'|(-?\d+))\))?$")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/v1.1"


@router.get("", summary="SensorThings landing page with the conformance classes")
@router.get("/", include_in_schema=False)
def landing(request: Request) -> dict[str, Any]:
    base = _base(request)
    return {
        "value": [{"name": name, "url": f"{base}/{name}"} for name in ENTITY_SETS],
        "serverSettings": {"conformance": CONFORMANCE},
    }


@router.api_route(
    "/{path:path}",
    methods=["POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
def refuse_writes(path: str) -> Response:
    raise ApiError(
        405, "SensorThings here is read-only: readings enter through the gateway; use GET"
    )


_STA_ERRORS: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    501: {"model": ErrorBody, "description": "A query option or function not offered here."},
}

# The query options, described once for every entity set (they are read from the request's
# query string; these parameters are for the OpenAPI document and its clients).
Filter = Annotated[
    str | None, Query(alias="$filter", description="OData filter, e.g. result gt 20.")
]
Expand = Annotated[
    str | None, Query(alias="$expand", description="Related entities, e.g. Datastreams.")
]
OrderBy = Annotated[
    str | None, Query(alias="$orderby", description="Sort keys, e.g. phenomenonTime desc.")
]
Select = Annotated[str | None, Query(alias="$select", description="Properties to keep.")]
# Text, not int/bool: the option parser's own refusals say what to send instead.
Top = Annotated[
    str | None, Query(alias="$top", description="Page size, a whole number (default 100).")
]
Skip = Annotated[str | None, Query(alias="$skip", description="Entities to skip, a whole number.")]
Count = Annotated[
    str | None, Query(alias="$count", description="true: include @iot.count, the total.")
]
SkipToken = Annotated[
    str | None,
    Query(alias="$skiptoken", description="Observations: continue after this @iot.id."),
]


def _entity_set_routes(name: str) -> None:
    """/v1.1/{name} and /v1.1/{name}({id}) as operations of their own."""

    def collection(
        request: Request,
        store: StoreDep,
        settings: SettingsDep,
        filter_: Filter = None,
        expand: Expand = None,
        orderby: OrderBy = None,
        select: Select = None,
        top: Top = None,
        skip: Skip = None,
        count: Count = None,
        skiptoken: SkipToken = None,
    ) -> Response:
        return answer(name, request, store, settings)

    def one(
        id: Annotated[str, Path(description="The id in quotes, e.g. 'kit-1'.")],
        request: Request,
        store: StoreDep,
        settings: SettingsDep,
        expand: Expand = None,
        select: Select = None,
    ) -> Response:
        return answer(f"{name}({id})", request, store, settings)

    collection.__name__ = f"list_{name}"
    one.__name__ = f"get_{name}"
    router.get(f"/{name}", summary=f"SensorThings {name}", responses=_STA_ERRORS)(collection)
    router.get(
        f"/{name}({{id}})", summary=f"One of the SensorThings {name}", responses=_STA_ERRORS
    )(one)


for _name in ENTITY_SETS:
    _entity_set_routes(_name)


@router.get(
    "/{path:path}",
    summary="SensorThings navigation and properties, e.g. Things('kit-1')/Datastreams",
    responses=_STA_ERRORS,
)
def resource(path: str, request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    return answer(path, request, store, settings)


def answer(path: str, request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """Any read path below /v1.1: walk it, then apply the query options."""
    base = _base(request)
    segments = [s for s in path.split("/") if s]
    if not segments:
        return JSONResponse(landing(request))
    deadline = Deadline(settings.query_time_limit, client_gone(request))
    source = EntitySource(store, get_directory(request), settings, base, deadline)
    # -- walk the path -------------------------------------------------------------------
    head = _SEGMENT.match(segments[0])
    if head is None or head.group(1) not in ENTITY_SETS:
        raise ApiError(404, f"no entity set {segments[0]!r}; choose from {', '.join(ENTITY_SETS)}")
    kind = ENTITY_SETS[head.group(1)]
    entity: Entity | None = None
    scope: dict[str, str] = {}  # a collection's constraint: node, quantity, sensor
    if head.group(2) is not None or head.group(3) is not None:
        entity = _get(source, kind, _id(head), _to_observations(segments[1:]))
    for i, segment in enumerate(segments[1:], start=1):
        rest = segments[i + 1 :]
        if segment == "$ref":
            if rest:
                raise ApiError(400, "$ref ends a path")
            return _respond_refs(kind, entity, scope, request, source, settings, base)
        if entity is None:
            raise ApiError(
                400,
                f"{segment!r}: address one entity before navigating, e.g. "
                f"{SET_OF[kind]}('id')/{segment}",
            )
        if segment in PROPERTIES[kind]:
            return _respond_property(entity, segment, rest)
        match = _SEGMENT.match(segment)
        name = match.group(1) if match else segment
        if name not in NAVIGATION[kind]:
            raise ApiError(
                404,
                f"{kind} has no property or navigation {segment!r}; it has "
                f"{', '.join([*PROPERTIES[kind], *NAVIGATION[kind]])}",
            )
        target, many = NAVIGATION[kind][name]
        if many:
            scope = _scope(entity, target)
            kind, entity = target, None
            if match and (match.group(2) is not None or match.group(3) is not None):
                # A sensor's scope is checked on the Datastream's sensor: the whole entity.
                light = _to_observations(rest) and "sensor" not in scope
                entity = _get(source, kind, _id(match), light)
                if not _in_scope(entity, scope):
                    raise ApiError(404, f"{segment!r} is not related to the entity before it")
        else:
            followed = source.follow(entity, name)
            if followed is None:
                raise ApiError(404, f"{name}: no such entity")
            kind, entity = target, followed
    options = parse_options(dict(request.query_params), Bounds.of(settings), kind)
    if entity is not None:
        return json_response(_expanded(entity, options, source, settings, base))
    return json_response(_collection(kind, scope, options, source, settings, base, request))


def _id(match: re.Match[str]) -> str:
    return match.group(2).replace("''", "'") if match.group(2) is not None else match.group(3)


def _to_observations(rest: list[str]) -> bool:
    """Whether the path goes on to the entity's Observations collection and no further."""
    return rest in (["Observations"], ["Observations", "$ref"])


def _get(source: EntitySource, kind: str, entity_id: str, keys_only: bool = False) -> Entity:
    entity = source.get(kind, entity_id, keys_only)
    if entity is None:
        raise ApiError(404, f"no {kind} with id {quote_id(entity_id)}")
    return entity


def _scope(entity: Entity, target: str) -> dict[str, str]:
    """The constraint a navigation from an entity puts on a collection of ``target``."""
    if entity.kind == "Sensor":
        return {"sensor": entity.id}
    if entity.kind == "ObservedProperty":
        return {"quantity": entity.id}
    if entity.kind == "Datastream":
        return {"node": entity.keys["node"], "quantity": entity.keys["quantity"]}
    return {"node": entity.keys["node"]}


def _in_scope(entity: Entity, scope: dict[str, str]) -> bool:
    return all(entity.keys.get(key) == value for key, value in scope.items())


def _respond_property(entity: Entity, name: str, rest: list[str]) -> Response:
    value = json_value(entity.props.get(name))
    if rest not in ([], ["$value"]):
        raise ApiError(400, f"after {name!r} only $value may follow")
    if value is None:
        return Response(status_code=204)
    if rest:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return PlainTextResponse(text)
    return JSONResponse({name: value})


def _self_link(base: str, entity: Entity) -> str:
    return f"{base}/{SET_OF[entity.kind]}({quote_id(entity.id)})"


def _respond_refs(
    kind: str,
    entity: Entity | None,
    scope: dict[str, str],
    request: Request,
    source: EntitySource,
    settings: ServerSettings,
    base: str,
) -> Response:
    if entity is not None:
        return JSONResponse({"@iot.selfLink": _self_link(base, entity)})
    options = parse_options(dict(request.query_params), Bounds.of(settings), kind)
    page, count, more, keyset = _page(kind, scope, options, source, settings)
    body: dict[str, Any] = {}
    if count is not None:
        body["@iot.count"] = count
    if more:
        body["@iot.nextLink"] = _next_link(request, options, page, keyset)
    body["value"] = [{"@iot.selfLink": _self_link(base, e)} for e in page]
    return JSONResponse(body)


# -- collections -------------------------------------------------------------------------


def _collection(
    kind: str,
    scope: dict[str, str],
    options: Options,
    source: EntitySource,
    settings: ServerSettings,
    base: str,
    request: Request | None,
) -> dict[str, Any]:
    page, count, more, keyset = _page(kind, scope, options, source, settings)
    body: dict[str, Any] = {}
    if count is not None:
        body["@iot.count"] = count
    if more and request is not None:
        body["@iot.nextLink"] = _next_link(request, options, page, keyset)
    if options.data_array:
        body["value"] = _data_array(page, options, base)
    else:
        _prefetch(kind, page, options, source, settings)
        body["value"] = [_expanded(e, options, source, settings, base) for e in page]
    return body


def _prefetch(
    kind: str,
    page: list[Entity],
    options: Options,
    source: EntitySource,
    settings: ServerSettings,
) -> None:
    """Every Observations expansion below a page, at any depth (Things' Datastreams'
    Observations), read in one store call for the whole page, not one per entity."""
    for name, nested in options.expand.items():
        target, many = NAVIGATION[kind][name]
        if not many:
            continue
        if target == "Observation":
            prefetch_pages([_scope(e, target) for e in page], nested, source, settings)
        elif any(NAVIGATION[target][inner][1] for inner in nested.expand):
            # The pages of the expansion in between are listed in memory (no store call).
            below = [
                entity
                for e in page
                for entity in _page(target, _scope(e, target), nested, source, settings)[0]
            ]
            _prefetch(target, below, nested, source, settings)


def _next_link(request: Request, options: Options, page: list[Entity], keyset: bool) -> str:
    """In store order the next page continues after this one's last Observation (no offset
    to skip again); otherwise it skips what this page and the ones before it held."""
    if keyset and page:
        url = request.url.remove_query_params("$skip")
        return str(url.include_query_params(**{"$skiptoken": page[-1].id, "$top": options.top}))
    return str(
        request.url.include_query_params(
            **{"$skip": options.skip + options.top, "$top": options.top}
        )
    )


def _page(
    kind: str,
    scope: dict[str, str],
    options: Options,
    source: EntitySource,
    settings: ServerSettings,
) -> tuple[list[Entity], int | None, bool, bool]:
    """($top entities after $skip, @iot.count if asked, whether more follow, whether the
    next page continues by $skiptoken)."""
    if kind == "Observation":
        return observation_page(scope, options, source, settings)
    follow = source.follow
    found = []
    for e in source.entities(kind):
        source.deadline.check()
        if _in_scope(e, scope) and matches(e, options.filter, follow):
            found.append(e)
    if options.orderby:
        found.sort(key=sort_key(options.orderby, follow))
    end = options.skip + options.top
    return (
        found[options.skip : end],
        len(found) if options.count else None,
        len(found) > end,
        False,
    )


# -- one entity with its links, $expand and $select ----------------------------------------


def _expanded(
    entity: Entity,
    options: Options,
    source: EntitySource,
    settings: ServerSettings,
    base: str,
) -> dict[str, Any]:
    source.deadline.check()
    link = _self_link(base, entity)
    body: dict[str, Any] = {"@iot.id": entity.id, "@iot.selfLink": link}
    for name in PROPERTIES[entity.kind]:
        body[name] = json_value(entity.props.get(name))
    for name in NAVIGATION[entity.kind]:
        body[f"{name}@iot.navigationLink"] = f"{link}/{name}"
    for name, nested in options.expand.items():
        target, many = NAVIGATION[entity.kind][name]
        if many:
            inner = _collection(
                target, _scope(entity, target), nested, source, settings, base, None
            )
            body[name] = inner["value"]
            if "@iot.count" in inner:
                body[f"{name}@iot.count"] = inner["@iot.count"]
            if nested.top and len(inner["value"]) == nested.top:
                body[f"{name}@iot.nextLink"] = (
                    f"{link}/{name}?$top={nested.top}&$skip={nested.skip + nested.top}"
                )
        else:
            followed = source.follow(entity, name)
            body[name] = (
                None if followed is None
                else _expanded(followed, nested, source, settings, base)
            )  # fmt: skip
    if options.select:
        keep = {"@iot.id" if s == "id" else s for s in options.select}
        keep |= {f"{n}@iot.navigationLink" for n in options.select if n in NAVIGATION[entity.kind]}
        keep |= set(options.expand) | {f"{n}@iot.count" for n in options.expand}
        body = {k: v for k, v in body.items() if k in keep}
    return body


def _data_array(page: list[Entity], options: Options, base: str) -> list[dict[str, Any]]:
    components = [("@iot.id" if s == "id" else s) for s in options.select] or [
        "@iot.id",
        "phenomenonTime",
        "result",
    ]
    groups: dict[tuple[str, str], list[list[Any]]] = {}
    for e in page:
        row = [e.id if c == "@iot.id" else json_value(e.props.get(c)) for c in components]
        groups.setdefault((e.keys["node"], e.keys["quantity"]), []).append(row)
    return [
        {
            "Datastream@iot.navigationLink": f"{base}/Datastreams({quote_id(f'{n}:{q}')})",
            "components": components,
            "dataArray@iot.count": len(rows),
            "dataArray": rows,
        }
        for (n, q), rows in groups.items()
    ]
