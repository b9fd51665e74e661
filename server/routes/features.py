"""``/ogc``: OGC API Features (Part 1 Core, GeoJSON, OpenAPI 3.0), as PDOK and GIS tools read it.

Three collections: ``kits`` (a point per kit at its published place, rounded as in every
output, server/privacy.py, with its latest values) and ``hourly`` / ``daily`` (a feature per
kit, quantity and window, at the kit's published place). Items take ``bbox`` (on the
published place), ``datetime`` (an instant or an interval, ``..`` for an open end), ``limit``
(clamped to the maximum, as the standard asks) and ``offset``. The order (node, quantity,
window start) is fixed: the kits' ``next`` link carries an offset; the aggregates' carries
``after``, the last feature's id, and the store reads only the page's windows from there
(a deep page reads none of the windows before it), so their ``numberMatched`` is given only
on a page that holds every match (the standard makes it optional).

    ogrinfo -ro -so OAPIF:http://127.0.0.1:8000/ogc kits
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import iso_utc
from lokaalmeten.server.catalogue import expected_per_hour, interval_of, node_views
from lokaalmeten.server.deps import DirectoryDep, SettingsDep, StoreDep
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.params import BboxFilter, nodes_in_area, parse_time
from lokaalmeten.server.privacy import PublicPlace, public_places
from lokaalmeten.server.routes.aggregates import Window, aggregate_query
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import Store

router = APIRouter(prefix="/ogc", tags=["ogc-api-features"])

DEFAULT_ITEMS = 100
MAX_ITEMS = 10_000
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
COLLECTIONS = {
    "kits": ("Kits", "Every located kit at its published place, with its latest values."),
    "hourly": ("Hourly aggregates", "Per kit, quantity and UTC hour: value, count, coverage."),
    "daily": ("Daily aggregates", "Per kit, quantity and UTC day: value, count, coverage."),
}
_WINDOWS = {"hourly": Window.hour, "daily": Window.day}

LimitParam = Annotated[
    int,
    Query(ge=1, description=f"Features per page; at most {MAX_ITEMS} (more is served as that)."),
]
OffsetParam = Annotated[int, Query(ge=0, description="Features to skip; the next link sets it.")]
AfterParam = Annotated[
    str | None,
    Query(description="Hourly and daily: continue after this feature id; the next link sets it."),
]
DatetimeParam = Annotated[
    str | None,
    Query(
        description="An instant or an interval start/end (ISO 8601, UTC without an offset); "
        "'..' or nothing for an open end. Kits: the latest reading; aggregates: the window."
    ),
]


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


@router.get("", summary="OGC API Features landing page")
def landing(request: Request) -> dict[str, Any]:
    base = _base(request)
    return {
        "title": "lokaalmeten open data (OGC API Features)",
        "description": "The kits and their hourly and daily aggregates as features.",
        "links": [
            {"href": base, "rel": "self", "type": "application/json", "title": "This page"},
            {
                "href": f"{base}/api",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "OpenAPI 3.0 definition of this API",
            },
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
        ],
    }


@router.get("/api", summary="OpenAPI 3.0 definition of the OGC API Features part")
def api_definition(request: Request) -> JSONResponse:
    whole = request.app.openapi()
    paths = {path: ops for path, ops in whole["paths"].items() if path.startswith("/ogc")}
    return JSONResponse(
        {**whole, "paths": paths},
        media_type="application/vnd.oai.openapi+json;version=3.0",
    )


@router.get("/conformance", summary="Conformance classes implemented")
def conformance() -> dict[str, list[str]]:
    return {"conformsTo": CONFORMANCE}


def _collection(base: str, cid: str, places: dict[str, PublicPlace]) -> dict[str, Any]:
    title, description = COLLECTIONS[cid]
    extent: dict[str, Any] = {"temporal": {"interval": [[None, None]]}}
    if places:
        lons = [p.longitude for p in places.values()]
        lats = [p.latitude for p in places.values()]
        extent["spatial"] = {"bbox": [[min(lons), min(lats), max(lons), max(lats)]], "crs": CRS84}
    return {
        "id": cid,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            {"href": f"{base}/collections/{cid}", "rel": "self", "type": "application/json"},
            {"href": f"{base}/collections/{cid}/items", "rel": "items", "type": GEOJSON},
        ],
    }


@router.get("/collections", summary="The feature collections")
def collections(request: Request, directory: DirectoryDep, settings: SettingsDep) -> dict[str, Any]:
    base = _base(request)
    places = public_places(directory, settings)
    return {
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
        "collections": [_collection(base, cid, places) for cid in COLLECTIONS],
    }


def _known(cid: str) -> str:
    if cid not in COLLECTIONS:
        raise ApiError(404, f"collection {cid!r} does not exist; known: {', '.join(COLLECTIONS)}")
    return cid


@router.get("/collections/{cid}", summary="One feature collection")
def collection(
    request: Request, cid: str, directory: DirectoryDep, settings: SettingsDep
) -> dict[str, Any]:
    return _collection(_base(request), _known(cid), public_places(directory, settings))


def parse_datetime(text: str | None) -> tuple[int | None, int | None]:
    """[start, end] in epoch seconds, either end None when open; an instant is both ends."""
    if text is None or text.strip() in ("", "../..", "/"):
        return None, None
    if "/" not in text:
        moment = parse_time(text, "datetime")
        return moment, moment
    first, _, second = text.partition("/")
    start = None if first.strip() in ("", "..") else parse_time(first, "datetime")
    end = None if second.strip() in ("", "..") else parse_time(second, "datetime")
    if start is not None and end is not None and start > end:
        raise ApiError(400, "datetime: the interval's start is after its end", "datetime")
    return start, end


def _point(place: PublicPlace) -> dict[str, Any]:
    # RFC 7946: longitude first, WGS84.
    return {"type": "Point", "coordinates": [place.longitude, place.latitude]}


def kit_features(
    store: Store,
    directory: DirectoryDep,
    settings: ServerSettings,
    chosen: tuple[str, ...],
    span: tuple[int | None, int | None],
) -> list[dict[str, Any]]:
    views = node_views(store, directory, settings)
    latest: dict[str, dict[str, Any]] = {}
    for r in store.latest(chosen):
        # Flat properties: GIS tools show a column per property, not nested objects.
        props = latest.setdefault(r.node, {})
        props[r.quantity] = r.value
        props[f"{r.quantity}_time"] = iso_utc(r.time)
    features = []
    for node_id, view in views.items():
        if view.place is None or (chosen and node_id not in chosen):
            continue
        last = view.summary.last_time
        if (span[0] is not None and last < span[0]) or (span[1] is not None and last > span[1]):
            continue
        features.append(
            {
                "type": "Feature",
                "id": node_id,
                "geometry": _point(view.place),
                "properties": {
                    "node": node_id,
                    "name": view.meta.name,
                    "exactness": view.place.exactness,
                    "online": view.online,
                    "last_reading": iso_utc(last),
                    **latest.get(node_id, {}),
                },
            }
        )
    return features


def aggregate_features(
    store: Store,
    directory: DirectoryDep,
    settings: ServerSettings,
    window: Window,
    chosen: tuple[str, ...],
    span: tuple[int | None, int | None],
    after: tuple[str, str, int] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The windows that overlap the span, from the same roll-ups as /v1/aggregates (its
    checks too: the range and the points a request may ask), of the located kits only, after
    the cursor and at most ``limit`` of them: the store reads no window before or after."""
    start, end = span
    to = None if end is None else iso_utc(end + 1)  # an instant's window holds it
    places = public_places(directory, settings)
    located = tuple(sorted(n for n in chosen or places if n in places))
    if not located:  # no store query: an empty node filter would mean every node
        return []
    query = aggregate_query(
        store,
        directory,
        settings,
        located,
        None,
        window,
        None if start is None else iso_utc(start),
        to,
    )
    size = 3600 if window is Window.hour else 86400
    metas = directory.metas()
    features = []
    for a in store.aggregates(replace(query, after=after, limit=limit)):
        place = places[a.node]
        expected = expected_per_hour(interval_of(metas.get(a.node), settings)) * size / 3600
        features.append(
            {
                "type": "Feature",
                "id": f"{a.node}~{a.quantity}~{a.start}",
                "geometry": _point(place),
                "properties": {
                    "node": a.node,
                    "quantity": a.quantity,
                    "start": iso_utc(a.start),
                    "end": iso_utc(a.start + size),
                    "method": QUANTITIES[a.quantity].aggregation,
                    "value": a.value,
                    "unit": QUANTITIES[a.quantity].unit,
                    "count": a.readings,
                    "coverage": 1.0 if a.readings >= expected else round(a.readings / expected, 4),
                },
            }
        )
    return features


def _cursor(text: str | None) -> tuple[str, str, int] | None:
    """``after``: the id of the last feature of the page before (node~quantity~start)."""
    if text is None:
        return None
    node, _, rest = text.rpartition("~")
    node, _, quantity = node.rpartition("~")
    if not node or quantity not in QUANTITIES or not rest.isdecimal() or not rest.isascii():
        raise ApiError(
            400, "after: a feature id, node~quantity~start; follow the next link", "after"
        )
    return node, quantity, int(rest)


def _page_link(request: Request, offset: int, limit: int, rel: str) -> dict[str, str]:
    url = request.url.include_query_params(offset=offset, limit=limit)
    return {"href": str(url), "rel": rel, "type": GEOJSON}


def _after_link(request: Request, after: str, limit: int) -> dict[str, str]:
    url = request.url.remove_query_params("offset").include_query_params(after=after, limit=limit)
    return {"href": str(url), "rel": "next", "type": GEOJSON}


@router.get(
    "/collections/{cid}/items",
    summary="Features of a collection (GeoJSON)",
    response_class=GeoJSONResponse,
    responses={200: {"content": {GEOJSON: {}}}},
)
def items(
    request: Request,
    cid: str,
    store: StoreDep,
    directory: DirectoryDep,
    settings: SettingsDep,
    bbox: BboxFilter = None,
    datetime: DatetimeParam = None,
    limit: LimitParam = DEFAULT_ITEMS,
    offset: OffsetParam = 0,
    after: AfterParam = None,
) -> GeoJSONResponse:
    _known(cid)
    limit = min(limit, MAX_ITEMS)
    chosen = nodes_in_area(directory, settings, (), bbox, None)
    span = parse_datetime(datetime)
    links = [_page_link(request, offset, limit, "self")]
    body: dict[str, Any] = {"type": "FeatureCollection", "timeStamp": iso_utc(int(time.time()))}
    if cid == "kits":  # a feature per kit: the whole list is small
        every = kit_features(store, directory, settings, chosen, span)
        page = every[offset : offset + limit]
        if offset + limit < len(every):
            links.append(_page_link(request, offset + limit, limit, "next"))
        body["numberMatched"] = len(every)
    else:
        # The store reads the page and one window more (to know whether a next page
        # follows), from after the cursor: the next link carries the page's last id, so no
        # page reads the ones before it. numberMatched only where the page holds them all.
        found = aggregate_features(
            store, directory, settings, _WINDOWS[cid], chosen, span, _cursor(after),
            offset + limit + 1,
        )  # fmt: skip
        page = found[offset : offset + limit]
        if len(found) > offset + limit:
            links.append(_after_link(request, page[-1]["id"], limit))
        elif after is None and (offset == 0 or page):
            body["numberMatched"] = len(found)
    body["numberReturned"] = len(page)
    body["features"] = page
    body["links"] = links
    return GeoJSONResponse(body)


@router.get(
    "/collections/{cid}/items/{fid}",
    summary="One feature (GeoJSON)",
    response_class=GeoJSONResponse,
    responses={200: {"content": {GEOJSON: {}}}},
)
def item(
    cid: str, fid: str, store: StoreDep, directory: DirectoryDep, settings: SettingsDep
) -> GeoJSONResponse:
    _known(cid)
    if cid == "kits":
        found = kit_features(store, directory, settings, (fid,), (None, None))
    else:
        node, _, rest = fid.partition("~")
        quantity, _, start_text = rest.partition("~")
        found = []
        if start_text.isdigit() and quantity in QUANTITIES:
            start = int(start_text)
            every = aggregate_features(
                store, directory, settings, _WINDOWS[cid], (node,), (start, start)
            )
            found = [f for f in every if f["id"] == fid]
    if not found:
        raise ApiError(404, f"feature {fid!r} does not exist in collection {cid!r}")
    return GeoJSONResponse(found[0])
