"""The time a request may work: checked between batches, answered 503 with Retry-After.

    deadline = Deadline(settings.query_time_limit)
    for chunk in store.stream(query):
        deadline.check()        # raises ApiError(503) once the time is up

The check is a clock read, cheap enough to make once per batch of rows or per entity.
"""

from __future__ import annotations

import math
import time

from lokaalmeten.server.errors import ApiError


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise ApiError(
                503,
                f"the request ran past its time limit of {self.seconds:g} s "
                "(query_time_limit) and was stopped; narrow it (a shorter time range, one "
                "Datastream, a smaller $top) or try again later",
                retry_after=max(1, math.ceil(self.seconds)),
            )
