"""``/v1/stream``: new readings as Server-Sent Events, so a page updates without polling.

Each reading the store takes is one ``reading`` event, its data the JSON ``/v1/readings``
gives, its id the store's change position (:meth:`Store.changes`): the order readings were
stored in, not their time, so a back-dated reading that arrives late is sent when it arrives.
A client that reconnects with ``Last-Event-ID`` (``EventSource`` does so by itself) or
``last_event_id`` gets every reading stored after that id, none twice. A heartbeat comment
goes out every ``stream_heartbeat_s`` seconds and carries the position reached, so that a filtered
subscriber that was sent nothing for a while still resumes from near the head.

Subscribers are few and long-lived: at most ``max_stream_clients`` at once, counted apart
from the requests for readings; one that goes away frees its slot at once, and a stopping
server ends every stream at its next poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from lokaalmeten.server.deps import SettingsDep, StoreDep
from lokaalmeten.server.disconnect import client_gone
from lokaalmeten.server.errors import ApiError
from lokaalmeten.server.params import NodeFilter, QuantityFilter, quantities, split
from lokaalmeten.server.routes.readings import ReadingPublic
from lokaalmeten.store import ChangesGone, ChangesUnsupported, Store, StoreError

router = APIRouter(prefix="/v1", tags=["stream"])
log = logging.getLogger("lokaalmeten.server")

POLL_S = 0.5  # how often the store is asked for new readings; a reading arrives within it
PAGE = 500  # readings read per look; a backlog is sent page after page without waiting
RETRY_MS = 2000  # how long EventSource waits before it reconnects


class StreamSlots:
    """The subscribers being served now, at most ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def take(self) -> bool:
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def free(self) -> None:
        self.taken -= 1


class _EventStream(StreamingResponse):
    """Frees its slot when the answer ends, however it ends (the client gone before the
    first event, the server stopping, an error)."""

    def __init__(self, events: AsyncIterator[str], slots: StreamSlots) -> None:
        super().__init__(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slots.free()


def _position(header: str | None, query: str | None) -> int | None:
    text, name = (header, "Last-Event-ID") if header is not None else (query, "last_event_id")
    if text is None or not text.strip():
        return None
    if not (text.strip().isascii() and text.strip().isdigit()):  # "¹" is a digit to isdigit()
        raise ApiError(400, f"{name}: an event id this stream sent (a whole number)", name)
    return int(text)


def _reading_event(position: int, data: str) -> str:
    return f"id: {position}\nevent: reading\ndata: {data}\n\n"


async def _events(
    store: Store,
    request: Request,
    position: int,
    nodes: tuple[str, ...],
    wanted: tuple[str, ...],
    heartbeat_s: float,
) -> AsyncIterator[str]:
    gone = client_gone(request)
    yield f"retry: {RETRY_MS}\n\n"
    loop = asyncio.get_running_loop()
    beat = loop.time()
    while gone is None or not gone.is_set():
        try:
            found, position = await run_in_threadpool(store.changes, position, nodes, wanted, PAGE)
        except ChangesGone as exc:
            # Only a subscriber left far behind; it learns why and where to look.
            yield f"event: error\ndata: {exc}; fetch the gap from /v1/readings\n\n"
            return
        except StoreError as exc:
            log.warning("live stream: the store could not answer: %s", exc)
            found = []
        for seq, reading in found:
            yield _reading_event(seq, ReadingPublic.of(reading).model_dump_json())
        if len(found) == PAGE:
            continue
        if loop.time() - beat >= heartbeat_s:
            yield f": heartbeat\nid: {position}\n\n"
            beat = loop.time()
        await asyncio.sleep(POLL_S)


@router.get(
    "/stream",
    summary="New readings as they are stored (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`reading` events."},
        410: {"description": "Last-Event-ID is older than the change log still holds."},
        501: {"description": "The store keeps no change log (InfluxDB with changes=off)."},
    },
)
async def stream(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    node: NodeFilter = None,
    quantity: QuantityFilter = None,
    last_event_id_header: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after this event id (EventSource)."),
    ] = None,
    last_event_id: Annotated[
        str | None, Query(description="Resume after this event id, for clients without it.")
    ] = None,
) -> StreamingResponse:
    nodes, wanted = split(node), quantities(quantity)
    after = _position(last_event_id_header, last_event_id)
    try:
        head = await run_in_threadpool(store.change_head)
        if after is not None:
            if after > head:
                raise ApiError(
                    400,
                    f"Last-Event-ID: {after} is not an event id of this stream (the newest is "
                    f"{head}); reconnect without it",
                    "Last-Event-ID",
                )
            await run_in_threadpool(store.changes, after, nodes, wanted, 1)
            if not await run_in_threadpool(store.change_known, after):
                raise ApiError(
                    400,
                    f"Last-Event-ID: {after} is not an event id of this stream; reconnect "
                    "without it",
                    "Last-Event-ID",
                )
    except ChangesUnsupported as exc:
        raise ApiError(
            501,
            f"the live stream needs the store's change log, the order readings were stored "
            f"in: {exc}; poll /v1/readings instead",
        ) from None
    except ChangesGone as exc:
        raise ApiError(
            410,
            f"Last-Event-ID: {exc}; fetch the gap from /v1/readings, then reconnect without it",
            "Last-Event-ID",
        ) from None
    slots: StreamSlots = request.app.state.stream_slots
    if not slots.take():
        raise ApiError(
            503,
            f"the server has {slots.limit} live-stream subscribers already "
            "(max_stream_clients); try again later",
            retry_after=30,
        )
    return _EventStream(
        _events(
            store,
            request,
            head if after is None else after,
            nodes,
            wanted,
            settings.stream_heartbeat_s,
        ),
        slots,
    )
