"""Filling the gaps of the LoRaWAN webhook from The Things Stack's Storage Integration.

The Things Network's community tier tries a webhook once: an uplink sent while the gateway
was down or its link cut is lost to the webhook. The Storage Integration keeps every uplink
(24 hours on the community tier), so the gateway asks it, at start and then every
``lorawan_backfill_interval`` seconds, for each application with an API key
(``lorawan_storage``)::

    GET <lorawan_storage_url>/api/v3/as/applications/<app>/packages/storage/uplink_message
        ?after=<RFC 3339>&order=received_at&limit=1000
    Authorization: Bearer <the application's API key>      Accept: text/event-stream

It answers one JSON object per line, ``{"result": {<the uplink, as the webhook sends it>}}``.
Each goes through the webhook's own decoding (gateway/decode.py: ``ttn_uplink``) into the
spool, so a reading the webhook already delivered lands on the same identity and the stores
keep it once: a fill can be run any number of times. Where it got to (the latest
``received_at`` taken) is kept per application in ``lorawan-backfill.json`` beside the spool,
written after the spool commit; the next fill starts a minute before it, as the Storage
Integration writes in batches and a just-received uplink may not be in it yet.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from lokaalmeten.archive.files import write_text
from lokaalmeten.gateway import decode
from lokaalmeten.gateway.spool import SpoolFull
from lokaalmeten.gateway.ttn import rfc3339
from lokaalmeten.gateway.validate import Checked, RecordValidator
from lokaalmeten.readings import iso_utc

log = logging.getLogger("lokaalmeten.gateway")

PAGE = 1000  # uplinks per request
OVERLAP_S = 60  # the Storage Integration writes in batches
_TIMEOUT_S = 30.0


class BackfillError(RuntimeError):
    """The Storage Integration could not be asked; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Filled:
    application: str
    uplinks: int
    readings: int
    refused: int


class Cursors:
    """The latest ``received_at`` taken per application (RFC 3339 text), in one JSON file
    written to a temporary name and renamed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, str]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("LoRaWAN back-fill starts afresh: %s unreadable (%s)", self.path, exc)
            return {}
        return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}

    def write(self, cursors: dict[str, str]) -> None:
        write_text(self.path, json.dumps(cursors, indent=1, sort_keys=True))


class Backfill:
    """One gateway's back-fill: ``fill`` asks for every application once; ``run`` does so
    at start and every ``interval`` seconds until ``shutdown`` is set."""

    def __init__(
        self,
        base_url: str,
        keys: dict[str, str],
        validator: RecordValidator,
        commit: Callable[[Checked], None],
        cursors: Cursors,
        window_s: int,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.keys = keys
        self.validator = validator
        self.commit = commit
        self.cursors = cursors
        self.window_s = window_s
        self.clock = clock
        self.transport = transport

    def run(self, interval_s: float, shutdown: threading.Event) -> None:
        while not shutdown.is_set():
            for application in sorted(self.keys):
                try:
                    filled = self.fill_one(application)
                except (BackfillError, SpoolFull) as exc:
                    log.error("LoRaWAN back-fill of %s: %s; tried again later", application, exc)
                    continue
                if filled.readings or filled.refused:
                    log.info(
                        "LoRaWAN back-fill of %s: %d uplinks, %d readings, %d refused",
                        application, filled.uplinks, filled.readings, filled.refused,
                    )  # fmt: skip
            shutdown.wait(interval_s)

    def fill(self) -> list[Filled]:
        return [self.fill_one(application) for application in sorted(self.keys)]

    def fill_one(self, application: str) -> Filled:
        """Every uplink of ``application`` since the cursor (less the overlap), through the
        webhook's decoding into the spool; the cursor moves on once they are committed."""
        now = self.clock()
        cursors = self.cursors.read()
        earliest = now - self.window_s
        start = earliest
        if application in cursors:
            start = max(earliest, rfc3339(cursors[application]) - OVERLAP_S)
        uplinks = readings = refused = 0
        latest = cursors.get(application)
        after = iso_utc(int(start))
        while True:
            page = self._page(application, after)
            for body, received in page:
                checked = decode.ttn_uplink(self.validator, body, None, int(now))
                self.commit(checked)
                uplinks += 1
                readings += len(checked.readings)
                refused += len(checked.refusals)
                if received and (latest is None or rfc3339(received) > rfc3339(latest)):
                    latest = received
            if len(page) < PAGE or not page[-1][1]:
                break
            after = page[-1][1]
        if latest is not None and latest != cursors.get(application):
            self.cursors.write({**self.cursors.read(), application: latest})
        return Filled(application, uplinks, readings, refused)

    def _page(self, application: str, after: str) -> list[tuple[bytes, str]]:
        url = (
            f"{self.base_url}/api/v3/as/applications/{application}/packages/storage/uplink_message"
        )
        where = f"the Storage Integration at {self.base_url}"
        headers = {
            "Authorization": f"Bearer {self.keys[application]}",
            "Accept": "text/event-stream",
        }
        params: dict[str, str | int] = {"after": after, "order": "received_at", "limit": PAGE}
        try:
            with httpx.Client(timeout=_TIMEOUT_S, transport=self.transport) as client:
                answer = client.get(url, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise BackfillError(f"cannot reach {where}: {exc}") from None
        if answer.status_code in (401, 403):
            raise BackfillError(
                f"{where} refused the API key of {application} ({answer.status_code}): it "
                "needs the right to read the application's traffic"
            )
        if answer.status_code != 200:
            raise BackfillError(f"{where} answered {answer.status_code}: {answer.text[:200]}")
        found = []
        for line in answer.content.splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                result = json.loads(line)["result"]
            except (ValueError, KeyError, TypeError):
                raise BackfillError(f"{where} sent a line that is not a stored uplink") from None
            message = result.get("uplink_message") if isinstance(result, dict) else None
            received = ""
            if isinstance(result, dict):
                received = str(result.get("received_at") or "")
            if isinstance(message, dict) and not received:
                received = str(message.get("received_at") or "")
            found.append((json.dumps(result).encode(), received))
        return found
