"""Outages of what a service depends on (the gateway's broker and stores, the server's
store), told and not drowned.

An outage is warned about at its first failure and then every 30 s while it lasts, with how
long it has lasted, what failed last and what happens meanwhile; its end is told once. The
services' ``/health`` lists the outages going on::

    broker = Outage("broker mqtt://127.0.0.1:1883", "the kits keep their readings meanwhile",
                    log=logging.getLogger("lokaalmeten.gateway"))
    broker.failed("connection refused")   # WARNING at once, then every 30 s
    broker.ended()                        # INFO "... reachable again after 42 s"
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

WARNING_INTERVAL_S = 30.0  # how often an outage still going on is told again


class Outage:
    def __init__(
        self,
        what: str,
        meanwhile: str,
        *,
        every: float = WARNING_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        # The service's own logger, so that its outages read as its own lines.
        self.log = log or logging.getLogger("lokaalmeten")
        self.what = what  # e.g. "store influxdb://127.0.0.1:8086/lm"
        self.meanwhile = meanwhile  # e.g. "the readings wait in the spool"
        self.every = every
        self.clock = clock
        self.since: float | None = None  # the first failure of the outage going on
        self.last_error = ""
        # Called when an outage starts and when it ends (a writer process tells its parent).
        self.on_change: Callable[[], None] | None = None
        self._warned: float | None = None

    @property
    def going_on(self) -> bool:
        return self.since is not None

    def lasted(self) -> float:
        return 0.0 if self.since is None else self.clock() - self.since

    def failed(self, error: str = "", meanwhile: str | None = None) -> None:
        """Another failed attempt (``error``: what failed, if known; else the last error
        stays): a warning when the outage starts and every ``every`` s."""
        now = self.clock()
        started = self.since is None
        if started:
            self.since = now
        self.last_error = error or self.last_error
        if self._warned is None or now - self._warned >= self.every:
            self._warned = now
            self.log.warning("%s; retrying (%s)", self.describe(), meanwhile or self.meanwhile)
        if started and self.on_change is not None:
            self.on_change()

    def ended(self) -> None:
        """A success: the outage, if one was going on, is over (told once)."""
        if self.since is None:
            return
        self.log.info("%s reachable again after %.0f s", self.what, self.lasted())
        self.since = None
        self._warned = None
        self.last_error = ""
        if self.on_change is not None:
            self.on_change()

    def describe(self) -> str:
        """E.g. 'store influxdb://…/lm unreachable for 35 s: connection refused'."""
        text = f"{self.what} unreachable for {self.lasted():.0f} s"
        return f"{text}: {self.last_error}" if self.last_error else text
