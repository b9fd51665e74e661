"""The server's watch on its store, its start line and ``GET /health``.

A server's store can go away while nobody writes to it (InfluxDB stopped, the SQLite file
deleted); every answer would then be an error or stale, and nothing said so. The watch pings
the store every few seconds in a thread of its own: an outage is warned about at once and
every 30 s while it lasts, its end is told once (lokaalmeten/outage.py, as the gateway does),
and ``/health`` lists it::

    watch = StoreWatch(store, every=5)
    watch.start()       # pings at once, then every 5 s
    watch.health()      # {"status": "degraded", "problems": ["store … unreachable for 35 s: …"]}
    watch.stop()        # at once, also in the middle of a slow ping
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lokaalmeten.outage import Outage
from lokaalmeten.store import Store, StoreError

log = logging.getLogger("lokaalmeten.server")

router = APIRouter(include_in_schema=False)


def serves(store: Store, directory: Path, host: str, port: int) -> str:
    """One line: the store and the node directory read (the store's URL never holds a
    password) and where they are served."""
    address = f"[{host}]" if ":" in host else host
    return (
        f"store {store.url} and node directory {directory.absolute()} on "
        f"http://{address}:{port}: map /, API /v1, "
        "SensorThings /v1.1, docs /docs, health /health"
    )


class StoreWatch:
    def __init__(self, store: Store, every: float, outage: Outage | None = None) -> None:
        self.store = store
        self.every = every
        self.outage = outage or Outage(
            f"store {store.url}", "answers that need the store fail meanwhile", log=log
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        """One ping; an outage starts, goes on or ends by its result."""
        try:
            self.store.ping()
        # Whatever a ping raises is an outage: the thread must outlive any surprise.
        except Exception as exc:
            if not self._stop.is_set():  # a store closed by the stop is no outage
                error = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
                self.outage.failed(error.removeprefix(f"{self.store.url}: "))
            return
        self.outage.ended()

    def _run(self) -> None:
        self.check()
        while not self._stop.wait(self.every):
            self.check()

    def start(self) -> None:
        # A daemon: a ping that hangs on an unanswering host never holds up the exit.
        self._thread = threading.Thread(target=self._run, name="store watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        # Not from a signal handler (Event.set takes a lock): the lifespan's end calls it.
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=0.5)

    def health(self) -> dict[str, Any]:
        """As the gateway's /health: "ok", or "degraded" with the outages going on."""
        problems = [self.outage.describe()] if self.outage.going_on else []
        return {"status": "degraded" if problems else "ok", "problems": problems}


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """200 while the store answers, else 503 with the outage (for monitoring)."""
    watch: StoreWatch = request.app.state.watch
    state = watch.health()
    return JSONResponse(
        state,
        status_code=200 if state["status"] == "ok" else 503,
        headers={"Cache-Control": "no-store"},
    )
