"""``/v1`` and ``/v1/dataset``: the API's landing document, licence and DCAT-AP-NL metadata.

The dataset is described as one ``dcat:Dataset`` with a distribution per format (CSV,
GeoJSON, the REST API, SensorThings API v1.1) in JSON-LD, following DCAT-AP-NL 3.0.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lokaalmeten import __version__
from lokaalmeten.server.deps import SettingsDep
from lokaalmeten.settings import ServerSettings

router = APIRouter(tags=["metadata"])

LICENCES = {
    "CC0-1.0": ("CC0 1.0", "http://creativecommons.org/publicdomain/zero/1.0/"),
    "CC-BY-4.0": ("CC BY 4.0", "http://creativecommons.org/licenses/by/4.0/"),
}
STA_1_1 = "http://www.opengis.net/doc/is/sensorthings/1.1"
OAPIF_1 = "http://www.opengis.net/doc/IS/ogcapi-features-1/1.0"
# The JSON-LD prefixes, for the dataset and for the bulk archive's index.
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


class JSONLDResponse(JSONResponse):
    media_type = "application/ld+json"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/v1", summary="The API's landing document: endpoints and licence")
def landing(request: Request, settings: SettingsDep) -> dict[str, Any]:
    base = _base(request)
    name, url = LICENCES[settings.licence]
    body: dict[str, Any] = {
        "title": "lokaalmeten open data",
        "version": __version__,
        "licence": {"id": settings.licence, "name": name, "url": url},
        "links": {
            "nodes": f"{base}/v1/nodes",
            "quantities": f"{base}/v1/quantities",
            "readings": f"{base}/v1/readings",
            "aggregates": f"{base}/v1/aggregates",
            "noise_indicators": f"{base}/v1/noise/indicators",
            "corrected": f"{base}/v1/corrected",
            "latest": f"{base}/v1/latest",
            "csv": f"{base}/v1/export/readings.csv",
            "stream": f"{base}/v1/stream",
            "geojson": f"{base}/v1/export/nodes.geojson",
            "dataset": f"{base}/v1/dataset",
            "sensorthings": f"{base}/v1.1",
            "ogc_features": f"{base}/ogc",
            "openapi": f"{base}/openapi.json",
            "docs": f"{base}/docs",
        },
        "limits": limits(settings),
    }
    if settings.archive_folder:
        body["links"]["archive"] = f"{base}/archive/"
    return body


LIMITS = (
    "max_limit", "max_range_days", "max_points", "max_radius_m", "rate_limit",
    "max_query_length", "query_time_limit", "max_heavy_per_client", "max_heavy_total",
    "sta_max_filter_length", "sta_max_filter_terms", "sta_max_filter_depth",
    "sta_max_expand_depth", "sta_max_expand_top", "sta_max_entities", "sta_max_skip",
    "max_stream_clients",
)  # fmt: skip


def limits(settings: ServerSettings) -> dict[str, float]:
    """The bounds in force, by setting name (docs/configuration.md says what each means)."""
    return {name: getattr(settings, name) for name in LIMITS}


def _distribution(
    base: str, slug: str, title: str, access: str, media: str, licence: str, **extra: Any
) -> dict[str, Any]:
    return {
        "@id": f"{base}/v1/dataset#{slug}",
        "@type": "dcat:Distribution",
        "dct:title": {"@value": title, "@language": "en"},
        "dcat:accessURL": {"@id": access},
        "dcat:mediaType": {"@id": f"https://www.iana.org/assignments/media-types/{media}"},
        "dct:license": {"@id": licence},
        **extra,
    }


def agents(settings: ServerSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dataset's publisher and contact point (DCAT), for every description of it: this
    one and the bulk archive's index (lokaalmeten/archive/index.py)."""
    publisher = {"@type": "foaf:Agent", "foaf:name": settings.publisher}
    contact: dict[str, Any] = {"@type": "vcard:Organization", "vcard:fn": settings.publisher}
    if settings.contact_email:
        contact["vcard:hasEmail"] = {"@id": f"mailto:{settings.contact_email}"}
    return publisher, contact


@router.get(
    "/v1/dataset",
    summary="DCAT-AP-NL metadata (JSON-LD)",
    response_class=JSONLDResponse,
    responses={200: {"content": {"application/ld+json": {}}}},
)
def dataset(request: Request, settings: SettingsDep) -> JSONLDResponse:
    base = _base(request)
    licence = LICENCES[settings.licence][1]
    publisher, contact = agents(settings)
    body: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"{base}/v1/dataset",
        "@type": "dcat:Dataset",
        "dct:identifier": f"{base}/v1/dataset",
        "dct:title": {
            "@value": "lokaalmeten: citizen air quality and noise readings",
            "@language": "en",
        },
        "dct:description": {
            "@value": "Readings of citizen sensor kits: particulate matter, temperature, "
            "humidity, pressure, CO2 and noise; raw readings, hourly and daily aggregates "
            "with coverage. Home locations are rounded unless the owner chose otherwise.",
            "@language": "en",
        },
        "dct:publisher": publisher,
        "dct:creator": publisher,
        "dcat:contactPoint": contact,
        "dct:accessRights": {
            "@id": "http://publications.europa.eu/resource/authority/access-right/PUBLIC"
        },
        "dcat:theme": {"@id": "http://publications.europa.eu/resource/authority/data-theme/ENVI"},
        "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/ENG"},
        "dct:license": {"@id": licence},
        "dcat:landingPage": {"@id": f"{base}/"},
        "foaf:page": {"@id": f"{base}/docs"},
        "dct:accrualPeriodicity": {
            "@id": "http://publications.europa.eu/resource/authority/frequency/CONT"
        },
        "dcat:distribution": [
            _distribution(
                base,
                "csv",
                "Readings as CSV",
                f"{base}/v1/export/readings.csv",
                "text/csv",
                licence,
                **{"dcat:downloadURL": {"@id": f"{base}/v1/export/readings.csv"}},
            ),
            _distribution(
                base,
                "geojson",
                "Nodes and latest values as GeoJSON",
                f"{base}/v1/export/nodes.geojson",
                "application/geo+json",
                licence,
                **{"dcat:downloadURL": {"@id": f"{base}/v1/export/nodes.geojson"}},
            ),
            _distribution(
                base,
                "rest",
                "REST API (JSON)",
                f"{base}/v1/nodes",
                "application/json",
                licence,
                **{"dct:conformsTo": {"@id": f"{base}/openapi.json"}},
            ),
            _distribution(
                base,
                "sensorthings",
                "OGC SensorThings API v1.1",
                f"{base}/v1.1",
                "application/json",
                licence,
                **{"dct:conformsTo": {"@id": STA_1_1}},
            ),
            _distribution(
                base,
                "ogc-features",
                "OGC API Features (GeoJSON)",
                f"{base}/ogc",
                "application/geo+json",
                licence,
                **{"dct:conformsTo": {"@id": OAPIF_1}},
            ),
        ],
    }
    if settings.archive_folder:
        body["dcat:distribution"].append(
            _distribution(
                base,
                "archive",
                "Bulk archive: CSV per day, Parquet per month (index of files)",
                f"{base}/archive/",
                "application/ld+json",
                licence,
                **{"foaf:page": {"@id": f"{base}/archive/index.jsonld"}},
            )
        )
    return JSONLDResponse(body)
