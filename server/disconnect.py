"""Work stops when the client goes: a request learns that its client hung up.

    app.add_middleware(ClientGone, working=working)  # working = Working(), optional
    gone = client_gone(request)     # a threading.Event, set once the client disconnected
    Deadline(seconds, gone).check() # raises ClientLeft from then on
    working.abandon()               # a stopping server: as if every client had gone

A route that works in a thread cannot be interrupted; it checks its ``Deadline`` between
batches of rows and entities, and that check now also says whether anyone still waits for
the answer. For a GET (no request body) the middleware reads the client's side of the
connection while the route works: the first message is the empty request, the next one
arrives only when the client disconnects. Everything it reads is handed on to the route
unchanged, so Starlette's own disconnect handling (streamed CSV) works as before.

A server that stops gives the requests it is answering a moment, then abandons them
(server/serve.py): their work ends at its next check, instead of holding the process for the
rest of its time limit.
"""

from __future__ import annotations

import asyncio
import threading

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_KEY = "lokaalmeten.client_gone"


def client_gone(request: Request) -> threading.Event | None:
    gone = request.scope.get(_KEY)
    return gone if isinstance(gone, threading.Event) else None


class Working:
    """The ``client_gone`` events of the requests being answered now."""

    def __init__(self) -> None:
        self._events: set[threading.Event] = set()

    def __len__(self) -> int:
        return len(self._events)

    def add(self, gone: threading.Event) -> None:
        self._events.add(gone)

    def discard(self, gone: threading.Event) -> None:
        self._events.discard(gone)

    def abandon(self) -> None:
        for gone in list(self._events):
            gone.set()


class ClientGone:
    def __init__(self, app: ASGIApp, working: Working | None = None) -> None:
        self.app = app
        self.working = working if working is not None else Working()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        gone = threading.Event()
        scope[_KEY] = gone
        inbox: asyncio.Queue[Message] = asyncio.Queue()

        async def watch() -> None:
            while True:
                message = await receive()
                await inbox.put(message)
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        watcher = asyncio.create_task(watch())
        self.working.add(gone)
        try:
            await self.app(scope, inbox.get, send)
        finally:
            self.working.discard(gone)
            watcher.cancel()
