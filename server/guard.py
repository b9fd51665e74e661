"""Per-client rate limit: a token bucket per client address, answered 429 with Retry-After.

    app.add_middleware(RateLimit, per_minute=600)

Buckets live in this process; several API processes each keep their own (see docs/api.md).
"""

from __future__ import annotations

import math
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from lokaalmeten.server.errors import error_response

_MAX_CLIENTS = 10_000


class RateLimit:
    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app = app
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0  # tokens per second
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.capacity <= 0:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        now = time.monotonic()
        tokens, at = self.buckets.get(address, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.refill)
        if tokens < 1:
            wait = math.ceil((1 - tokens) / self.refill)
            response = error_response(
                429,
                f"rate limit: at most {self.capacity:g} requests a minute from one address; "
                f"retry in {wait} s",
            )
            response.headers["Retry-After"] = str(wait)
            await response(scope, receive, send)
            return
        if len(self.buckets) >= _MAX_CLIENTS and address not in self.buckets:
            self._forget_full(now)
        self.buckets[address] = (tokens - 1, now)
        await self.app(scope, receive, send)

    def _forget_full(self, now: float) -> None:
        """Drop clients whose bucket has refilled: they hold no state worth keeping."""
        for address, (tokens, at) in list(self.buckets.items()):
            if tokens + (now - at) * self.refill >= self.capacity:
                del self.buckets[address]
        if len(self.buckets) >= _MAX_CLIENTS:
            self.buckets.clear()
