"""Refusals that cost nothing, made before a request reaches a route.

    app.add_middleware(Admission, settings=settings)   # query length, fair share
    app.add_middleware(RateLimit, per_minute=600)      # outermost: the cheapest refusal

:class:`RateLimit` is a token bucket per client address (429 with Retry-After).
:class:`Admission` refuses an over-long query string (400) and bounds the *heavy* requests,
those that read readings, running at once: per client address (429) and in all (503), so
that a client asking the worst cannot take the threads and the processor from the light
requests (/v1/nodes, metadata, the map). Both answer from the event loop at once, without a
worker thread and without the store. Under ``--workers N`` the rate limit's buckets are shared
by the workers; admission's counters are each worker's own (see docs/api.md, "Production
start").
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from lokaalmeten.server.buckets import Buckets, LocalBuckets
from lokaalmeten.server.errors import error_response
from lokaalmeten.settings import ServerSettings

# Paths whose work grows with the readings asked for; the rest read summaries only.
HEAVY_PREFIXES = (
    "/v1/readings",
    "/v1/series",
    "/v1/aggregates",
    "/v1/export/readings.csv",
    "/v1/export/aggregates.csv",
    "/v1/noise/",
    "/v1/export/noise.csv",
    "/v1/corrected",
    "/v1/export/corrected.csv",
    "/v1.1/",
    "/ogc/collections/hourly/",
    "/ogc/collections/daily/",
)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def is_heavy(path: str) -> bool:
    return path.startswith(HEAVY_PREFIXES)


class Admission:
    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.max_query = settings.max_query_length
        self.per_client = settings.max_heavy_per_client
        self.total = settings.max_heavy_total
        self.running: dict[str, int] = {}  # client -> heavy requests in progress
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = len(scope.get("query_string", b""))
        if length > self.max_query:
            response = error_response(
                400,
                f"query: {length} characters, more than the {self.max_query} allowed "
                "(max_query_length); ask several smaller questions",
                "query",
                path=scope.get("path", ""),
            )
            await response(scope, receive, send)
            return
        if not is_heavy(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        address = client_address(scope)
        mine = self.running.get(address, 0)
        if self.per_client and mine >= self.per_client:
            response = error_response(
                429,
                f"at most {self.per_client} requests for readings at once from one address "
                "(max_heavy_per_client); wait for an answer before asking the next",
                retry_after=1,
                path=scope.get("path", ""),
            )
            await response(scope, receive, send)
            return
        if self.total and self.in_progress >= self.total:
            response = error_response(
                503,
                f"the server is answering {self.total} requests for readings already "
                "(max_heavy_total); try again in a moment",
                retry_after=1,
                path=scope.get("path", ""),
            )
            await response(scope, receive, send)
            return
        self.running[address] = mine + 1
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1
            left = self.running[address] - 1
            if left:
                self.running[address] = left
            else:
                del self.running[address]


class RateLimit:
    """``buckets`` shared by several worker processes make ``per_minute`` the client's
    allowance from all of them together (server/buckets.py); by default this process's own."""

    def __init__(self, app: ASGIApp, per_minute: int, buckets: Buckets | None = None) -> None:
        self.app = app
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0  # tokens per second
        self.buckets = buckets if buckets is not None else LocalBuckets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.capacity <= 0:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(
            client_address(scope), time.monotonic(), self.capacity, self.refill
        )
        if wait:
            response = error_response(
                429,
                f"rate limit: at most {self.capacity:g} requests a minute from one address; "
                f"retry in {wait:.0f} s",
                retry_after=int(wait),
                path=scope.get("path", ""),
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
