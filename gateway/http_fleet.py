"""``GET /fleet/{version}/{march}/{path}``: a firmware release's files, for the kits offered it.

A kit offered a release (gateway/fleet.py: the retained message on ``<prefix>/<node>/update``)
fetches ``manifest.json``, ``manifest.sig`` and each file of its chip's build from here::

    GET /fleet/0.3.0/xtensawin/kit/runtime.mpy       Authorization: Basic <node id:token>
    Range: bytes=4096-                                If-Range: "<the ETag it got before>"

- 200 with the whole file, or 206 with ``Content-Range`` for one range (``bytes=N-``,
  ``bytes=N-M``, ``bytes=-N``); always a ``Content-Length`` and never chunked, as a
  MicroPython client reads exactly that many bytes. ``ETag`` (size and modification time; a
  release never changes) and ``Accept-Ranges: bytes`` on every file answer. An ``If-Range``
  that is not the ETag gets the whole file; several ranges, or a range the server cannot
  read, get the whole file too; a range past the end gets 416 with ``Content-Range: bytes
  */size``. HEAD answers the same headers without the body.
- 401 without the kit's credentials (basic auth as for airRohr kits; without a registry
  anybody may download); 404 for a version, chip or file that is not there, and for a path
  that leaves the build's folder; 403 when no rollout offers this release to this kit; 503
  with ``Retry-After`` and the reason while the rollout is paused — so that kits that have not
  started stay on their version. A request for ``manifest.json``, with which every download
  starts, applies the rollout's health gate (gateway/fleet_gate.py) first.

The handler runs in the server's thread pool and the file is read in pieces off the event
loop, so a slow SD card holds no other request up.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

import anyio
from fastapi import APIRouter, Request, Response
from starlette.types import Receive, Scope, Send

from lokaalmeten.gateway.directory import DirectoryError
from lokaalmeten.gateway.fleet import RolloutError
from lokaalmeten.gateway.fleet_gate import RolloutWatch
from lokaalmeten.gateway.http_intake import Intake, Refused, error

log = logging.getLogger("lokaalmeten.gateway")

_PIECE = 64 * 1024
_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")  # a version or a chip architecture
# At most 18 digits: int() refuses over 4300 (a 500), and no release file is an exabyte.
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})", re.IGNORECASE)  # RFC 9110 14.1
# A paused rollout waits for the operator, and the kit tries again at the next offer anyway.
_PAUSED_RETRY_AFTER = "600"


class Unsatisfiable(Exception):
    """The range starts at or past the end of the file."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte (inclusive) of a ``Range`` header over a file of ``size``
    bytes; None: answer the whole file. Raises :class:`Unsatisfiable` (416)."""
    if header is None:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        return None  # several ranges or another unit: RFC 9110 lets a server send it all
    first, last = found.groups()
    if not first:
        if not last:
            return None
        if int(last) == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - int(last)), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # not a valid range: ignored, as the RFC says
    if start >= size:
        raise Unsatisfiable  # bytes=N- with N at or past the end too
    return start, min(int(last), size - 1) if last else size - 1


def etag(info: os.stat_result) -> str:
    return f'"{info.st_size:x}-{info.st_mtime_ns:x}"'


class FilePart(Response):
    """``length`` bytes of a file from ``start``, read in 64 KiB pieces in a worker thread;
    HEAD sends the headers only."""

    def __init__(
        self, path: Path, start: int, length: int, status: int, headers: dict[str, str], head: bool
    ) -> None:
        super().__init__(None, status, {**headers, "Content-Length": str(length)})
        self.path, self.start, self.length, self.head = path, start, length, head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        if self.head or self.length == 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        async with await anyio.open_file(self.path, "rb") as file:
            await file.seek(self.start)
            left = self.length
            while left:
                piece = await file.read(min(_PIECE, left))
                if not piece:
                    # Shorter than its stat said: end the connection rather than let a kit
                    # wait for bytes that never come (a release is never changed, though).
                    raise OSError(f"{self.path} shrank while it was sent")
                left -= len(piece)
                await send({"type": "http.response.body", "body": piece, "more_body": left > 0})


def _release_file(
    releases: Path, version: str, march: str, path: str
) -> tuple[Path, os.stat_result]:
    """The file, inside the build's folder (symbolic links followed and checked); 404."""
    missing = Refused(
        error(404, f"release {version} has no file {path!r} for {march}", reason="not_found")
    )
    parts = path.split("/")
    if not (_NAME.fullmatch(version) and _NAME.fullmatch(march)) or any(
        not part or part.startswith(".") or "\\" in part or "\0" in part for part in parts
    ):
        raise missing
    build = releases / version / march
    try:
        root = build.resolve(strict=True)
        found = build.joinpath(*parts).resolve(strict=True)
        info = found.stat()
    except (OSError, RuntimeError):
        raise missing from None
    if not found.is_relative_to(root) or not stat.S_ISREG(info.st_mode):
        raise missing
    return found, info


def _admit(watch: RolloutWatch, version: str, node: str | None, judge: bool) -> None:
    """Refuse (403, 503) unless the rollout of ``version`` admits ``node`` and is not paused;
    ``node`` None: no registry, anybody may download what a rollout offers. ``judge``: apply
    the health gate first (a kit's download starts with the manifest: once per download, not
    once per file, as it reads every kit's directory entry)."""
    kit = node or "this kit"
    try:
        rollout = watch.state.current()
        if judge and rollout is not None and rollout.paused is None and rollout.version == version:
            rollout, _ = watch.check()
    except (RolloutError, DirectoryError) as exc:
        log.error("fleet download refused: %s", exc)
        raise Refused(error(503, f"the rollout's state cannot be read: {exc}")) from None
    if (
        rollout is None
        or rollout.version != version
        or (node is not None and not rollout.admits(node))
    ):
        raise Refused(
            error(403, f"release {version} is not offered to {kit}", reason="not_offered")
        )
    if rollout.paused is not None:
        answer = error(
            503, f"the rollout of {version} is paused: {rollout.paused.reason}", reason="paused"
        )
        answer.headers["Retry-After"] = _PAUSED_RETRY_AFTER
        raise Refused(answer)


def routes(intake: Intake, watch: RolloutWatch, releases: Path) -> APIRouter:
    router = APIRouter()

    @router.api_route("/fleet/{version}/{march}/{path:path}", methods=["GET", "HEAD"])
    def release_file(version: str, march: str, path: str, request: Request) -> Response:
        node = intake.basic_node(request)
        found, info = _release_file(releases, version, march, path)
        try:
            _admit(watch, version, node, judge=path == "manifest.json")
        except Refused:
            intake.metrics.add("fleet_downloads_refused")
            raise
        tag = etag(info)
        headers = {
            "ETag": tag,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/json"
            if found.suffix == ".json"
            else "application/octet-stream",
        }
        wanted = request.headers.get("range")
        if request.headers.get("if-range", tag) != tag:
            wanted = None  # the kit's part is of another file: it gets this one whole
        try:
            part = byte_range(wanted, info.st_size)
        except Unsatisfiable:
            answer = error(
                416, f"{path} has {info.st_size} bytes; the range {wanted} is past its end"
            )
            answer.headers["Content-Range"] = f"bytes */{info.st_size}"
            answer.headers.update({"ETag": tag, "Accept-Ranges": "bytes"})
            return answer
        head = request.method == "HEAD"
        first, last = (0, info.st_size - 1) if part is None else part
        if not head:
            intake.metrics.add("fleet_files_served")
            intake.metrics.add("fleet_bytes_served", last - first + 1)
        if part is None:
            return FilePart(found, 0, info.st_size, 200, headers, head)
        headers["Content-Range"] = f"bytes {first}-{last}/{info.st_size}"
        return FilePart(found, first, last - first + 1, 206, headers, head)

    return router
