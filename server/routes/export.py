"""``/v1/export``: readings as streaming CSV, nodes as a GeoJSON FeatureCollection.

The CSV is RFC 4180, UTF-8, one header row, times ISO 8601 UTC, a unit column; with
``delimiter=semicolon`` fields are separated by ``;`` and decimals written with a comma, for
Dutch spreadsheets. Every parameter is checked before the first byte is sent; rows are then
streamed in batches, so memory stays flat whatever the size, and a client that goes away
ends the store's query at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import iso_utc
from lokaalmeten.server.catalogue import node_views
from lokaalmeten.server.csvfmt import (
    BomParam,
    CsvWriter,
    Delimiter,
    DelimiterParam,
    bom_bytes,
    csv_headers,
)
from lokaalmeten.server.deps import DirectoryDep, SettingsDep, StoreDep
from lokaalmeten.server.params import (
    AreaNodes,
    ReadingSelection,
)
from lokaalmeten.server.privacy import public_places
from lokaalmeten.store import ReadingQuery, Store

router = APIRouter(prefix="/v1/export", tags=["export"])


def csv_body(
    store: Store, query: ReadingQuery, writer: CsvWriter, start: bytes = b""
) -> Iterator[bytes]:
    yield start + writer.header().encode()
    with closing(store.stream(query)) as batches:
        for batch in batches:
            yield writer.rows(batch).encode()


async def until_the_client_goes(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A blocking body, one chunk at a time in a worker thread, closed at once when the
    response ends for any reason. Starlette cancels the response when the client
    disconnects; without the close, the generator and its store query would live on until
    the garbage collector came by."""
    try:
        while (chunk := await run_in_threadpool(next, chunks, None)) is not None:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # the generator is idle here: the worker thread finished its next()


@router.get(
    "/readings.csv",
    summary="Readings as CSV (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV, UTF-8."}},
)
def export_csv(
    store: StoreDep,
    directory: DirectoryDep,
    settings: SettingsDep,
    selection: ReadingSelection,
    delimiter: DelimiterParam = Delimiter.comma,
    bom: BomParam = False,
) -> StreamingResponse:
    nodes, wanted, start, end = selection
    writer = CsvWriter(public_places(directory, settings), delimiter is Delimiter.semicolon)
    query = ReadingQuery(start, end, settings.max_limit, nodes, wanted)
    name = f"lokaalmeten-{iso_utc(start)[:10]}-{iso_utc(end)[:10]}.csv"
    return StreamingResponse(
        until_the_client_goes(csv_body(store, query, writer, bom_bytes(bom))),
        media_type="text/csv; charset=utf-8; header=present",
        headers=csv_headers(settings, name),
    )


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


@router.get(
    "/nodes.geojson",
    summary="Nodes with their latest values as GeoJSON",
    response_class=GeoJSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def export_geojson(
    store: StoreDep,
    directory: DirectoryDep,
    settings: SettingsDep,
    chosen: AreaNodes,
) -> GeoJSONResponse:
    views = node_views(store, directory, settings)
    latest: dict[str, dict[str, Any]] = {}
    for r in store.latest(chosen):
        latest.setdefault(r.node, {})[r.quantity] = {
            "value": r.value,
            "unit": QUANTITIES[r.quantity].unit,
            "time": iso_utc(r.time),
        }
    features = []
    for node_id, view in views.items():
        if view.place is None or (chosen and node_id not in chosen):
            continue
        features.append(
            {
                "type": "Feature",
                "id": node_id,
                # RFC 7946: longitude first, WGS84.
                "geometry": {
                    "type": "Point",
                    "coordinates": [view.place.longitude, view.place.latitude],
                },
                "properties": {
                    "node": node_id,
                    "name": view.meta.name,
                    "exactness": view.place.exactness,
                    "online": view.online,
                    "last_reading": iso_utc(view.summary.last_time),
                    "latest": latest.get(node_id, {}),
                },
            }
        )
    return GeoJSONResponse({"type": "FeatureCollection", "features": features})
