"""``/archive/``: the bulk archive's folder (``archive_folder``), as files.

Starlette's FileResponse does the byte work: ``Range`` (206, several ranges as
multipart/byteranges, 416 for a range outside the file), ``If-Range``, ``HEAD``,
``Last-Modified``. This module adds what it does not: the ETag of an archived file is its
SHA-256 from SHA256SUMS (the same bytes have the same tag on every server and after every
rebuild), ``If-None-Match`` answers 304, each kind of file gets its media type, and only
the folder's published files can be asked for: no ``..``, no name starting with a dot (the
archive's own state), nothing outside the folder through a link. ``/archive/`` itself is
the DCAT index.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from lokaalmeten.archive.index import PARQUET
from lokaalmeten.archive.layout import INDEX, SUMS
from lokaalmeten.server.deps import SettingsDep
from lokaalmeten.server.errors import ApiError

router = APIRouter(tags=["archive"])

MEDIA_TYPES = (
    (".csv.gz", "application/gzip"),
    (".parquet", PARQUET),
    (".jsonld", "application/ld+json"),
    (SUMS, "text/plain; charset=utf-8"),
)


class _Sums:
    """SHA256SUMS read once per change of the file (a year of archive is some 400 lines)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: tuple[Path, int, int] | None = None
        self._sums: dict[str, str] = {}

    def of(self, folder: Path) -> dict[str, str]:
        path = folder / SUMS
        try:
            stat = path.stat()
        except OSError:
            return {}
        key = (path, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key != self._seen:
                sums = {}
                for line in path.read_text().splitlines():
                    digest, _, name = line.partition("  ")
                    sums[name] = digest
                self._sums, self._seen = sums, key
            return self._sums


_SUMS = _Sums()


def _not_found(name: str) -> ApiError:
    return ApiError(404, f"no file {name!r} in the archive; its index is /archive/{INDEX}")


def _published(folder: Path, name: str) -> Path:
    parts = name.split("/")
    if any(not part or part.startswith(".") or "\\" in part or "\0" in part for part in parts):
        raise _not_found(name)
    root = folder.resolve()
    path = (root / name).resolve()
    try:
        published = path.is_relative_to(root) and path.is_file()
    except OSError:  # a name longer than the file system allows, say
        published = False
    if not published:
        raise _not_found(name)
    return path


def _matches(header: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


# HEAD as well (a download manager asks the size first), kept out of the OpenAPI document,
# where it would only repeat the GET.
@router.get("/archive/", summary="The bulk archive's DCAT index")
@router.head("/archive/", include_in_schema=False)
def archive_index(request: Request, settings: SettingsDep) -> Response:
    return archive_file(INDEX, request, settings)


@router.get(
    "/archive/{name:path}",
    summary="A file of the bulk archive (Range, ETag, If-None-Match)",
    responses={206: {"description": "The ranges asked for."}, 304: {"description": "Unchanged."}},
)
@router.head("/archive/{name:path}", include_in_schema=False)
def archive_file(name: str, request: Request, settings: SettingsDep) -> Response:
    if not settings.archive_folder:
        raise ApiError(404, "this server publishes no archive (archive_folder is not set)")
    folder = Path(settings.archive_folder)
    path = _published(folder, name)
    media = next((m for end, m in MEDIA_TYPES if name.endswith(end)), "application/octet-stream")
    headers = {"Cache-Control": "public, max-age=300"}
    digest = _SUMS.of(folder).get(name)
    if digest is not None:
        headers["ETag"] = f'"{digest}"'
    response = FileResponse(path, media_type=media, headers=headers, stat_result=path.stat())
    etag = response.headers["etag"]  # ours, or Starlette's from size and time (index, sums)
    wanted = request.headers.get("if-none-match")
    if wanted is not None and _matches(wanted, etag):
        return Response(
            status_code=304,
            headers={
                "ETag": etag,
                "Last-Modified": response.headers["last-modified"],
                "Cache-Control": headers["Cache-Control"],
            },
        )
    return response
