"""What a reader of the archive checks and finds it by: SHA256SUMS and a DCAT index.

``SHA256SUMS`` is the file ``sha256sum -c`` reads (``<hex>  <path>`` per line, paths
relative to the archive folder). ``index.jsonld`` describes the archive as one
``dcat:Dataset`` in JSON-LD (DCAT-AP-NL 3.0, as ``/v1/dataset``) with one
``dcat:Distribution`` per file: download URL, media type (and gzip as its compression
format), byte size, SHA-256 checksum (SPDX), the period it covers and the licence. The
URLs are relative: JSON-LD resolves them against the index's own address, so the same
index is right wherever the folder is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lokaalmeten.archive.layout import SUMS
from lokaalmeten.readings import iso_utc
from lokaalmeten.server.routes.metadata import CONTEXT, LICENCES, agents
from lokaalmeten.settings import ServerSettings

IANA = "https://www.iana.org/assignments/media-types/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
PARQUET = "application/vnd.apache.parquet"


@dataclass(frozen=True, slots=True)
class ArchivedFile:
    name: str  # relative to the archive folder
    sha256: str
    size: int
    start: int  # the period covered, [start, end) epoch seconds
    end: int
    readings: int
    quantity: str | None = None  # a month's Parquet holds one quantity; a day's CSV all


def sums_text(files: list[ArchivedFile]) -> str:
    return "".join(f"{f.sha256}  {f.name}\n" for f in sorted(files, key=lambda f: f.name))


def _period(start: int, end: int) -> dict[str, Any]:
    return {
        "@type": "dct:PeriodOfTime",
        "dcat:startDate": {"@value": iso_utc(start), "@type": "xsd:dateTime"},
        "dcat:endDate": {"@value": iso_utc(end), "@type": "xsd:dateTime"},
    }


def _distribution(entry: ArchivedFile, licence: str) -> dict[str, Any]:
    if entry.quantity is None:
        title = f"Readings of {iso_utc(entry.start)[:10]} (UTC day), gzipped CSV"
        media: dict[str, Any] = {
            "dcat:mediaType": {"@id": IANA + "text/csv"},
            "dcat:compressFormat": {"@id": IANA + "application/gzip"},
            "dct:format": {"@id": FILE_TYPE + "CSV"},
        }
    else:
        title = f"{entry.quantity} readings of {iso_utc(entry.start)[:7]} (UTC), Parquet"
        media = {
            "dcat:mediaType": {"@id": IANA + PARQUET},
            "dct:format": {"@id": FILE_TYPE + "PARQUET"},
        }
    return {
        "@id": entry.name,
        "@type": "dcat:Distribution",
        "dct:title": {"@value": title, "@language": "en"},
        "dcat:accessURL": {"@id": entry.name},
        "dcat:downloadURL": {"@id": entry.name},
        **media,
        "dcat:byteSize": {"@value": str(entry.size), "@type": "xsd:nonNegativeInteger"},
        "spdx:checksum": {
            "@type": "spdx:Checksum",
            "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
            "spdx:checksumValue": {"@value": entry.sha256, "@type": "xsd:hexBinary"},
        },
        "dct:temporal": _period(entry.start, entry.end),
        "dct:license": {"@id": licence},
    }


def index_document(files: list[ArchivedFile], settings: ServerSettings) -> dict[str, Any]:
    licence = LICENCES[settings.licence][1]
    publisher, contact = agents(settings)
    ordered = sorted(files, key=lambda f: f.name)
    body: dict[str, Any] = {
        "@context": {**CONTEXT, "spdx": "http://spdx.org/rdf/terms#"},
        "@id": "",
        "@type": "dcat:Dataset",
        "dct:title": {
            "@value": "lokaalmeten: bulk archive of the readings",
            "@language": "en",
        },
        "dct:description": {
            "@value": "Every reading, one gzipped CSV file per UTC day (the columns and rows "
            "of /v1/export/readings.csv for that day) and one Parquet file per month and "
            "quantity. Days and months are UTC; a period's end is exclusive. Checksums in "
            f"{SUMS} (sha256sum -c). Home locations are rounded unless the owner chose "
            "otherwise.",
            "@language": "en",
        },
        "dct:publisher": publisher,
        "dcat:contactPoint": contact,
        "dct:license": {"@id": licence},
        "dct:accessRights": {
            "@id": "http://publications.europa.eu/resource/authority/access-right/PUBLIC"
        },
        "dcat:theme": {"@id": "http://publications.europa.eu/resource/authority/data-theme/ENVI"},
        "dct:accrualPeriodicity": {
            "@id": "http://publications.europa.eu/resource/authority/frequency/DAILY"
        },
        "dcat:distribution": [_distribution(f, licence) for f in ordered],
    }
    if ordered:
        body["dct:temporal"] = _period(min(f.start for f in ordered), max(f.end for f in ordered))
    return body
