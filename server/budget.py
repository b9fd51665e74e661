"""The time a request may work: checked between batches, answered 503 with Retry-After.

    deadline = Deadline(settings.query_time_limit, client_gone(request))
    for chunk in store.stream(query):
        deadline.check()        # raises ApiError(503) once the time is up

The check is a clock read, cheap enough to make once per batch of rows or per entity. With
the request's ``client_gone`` event (server/disconnect.py) it also stops the work once the
client has hung up: ``ClientLeft``, answered to nobody.
"""

from __future__ import annotations

import math
import threading
import time

from lokaalmeten.server.errors import ApiError


class ClientLeft(ApiError):
    """The client disconnected: the work stops; the answer reaches nobody."""

    def __init__(self) -> None:
        super().__init__(400, "the client went away; the request was stopped")


class Deadline:
    def __init__(self, seconds: float, gone: threading.Event | None = None) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.gone = gone

    def check(self) -> None:
        if self.gone is not None and self.gone.is_set():
            raise ClientLeft
        if time.monotonic() > self.at:
            raise ApiError(
                503,
                f"the request ran past its time limit of {self.seconds:g} s "
                "(query_time_limit) and was stopped; narrow it (a shorter time range, one "
                "Datastream, a smaller $top) or try again later",
                retry_after=max(1, math.ceil(self.seconds)),
            )
