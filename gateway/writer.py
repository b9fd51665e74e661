"""Writer stage: one thread per store drains the spool through that store's cursor.

A batch leaves the spool only after the store accepted it. Store errors are sorted as
Telegraf sorts HTTP errors: a passing failure (down, busy, 5xx) is retried with exponential
back-off and jitter, forever, while the spool keeps the readings; a batch the store is too
large for is halved; a batch the store refuses outright is split until the refused reading is
found, and that reading goes to the quarantine instead of blocking the rest. A store that
keeps failing is an outage: warned about at once and every 30 s while it lasts, and shown by
``/health`` (lokaalmeten/outage.py)::

    writer = StoreWriter(store, spool, metrics, batch_size=5000)
    threading.Thread(target=writer.run, args=(shutdown,)).start()
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from typing import Protocol

from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.spool import Refusal, Spool
from lokaalmeten.outage import Outage
from lokaalmeten.readings import Reading
from lokaalmeten.shutdown import Shutdown
from lokaalmeten.store import StoreError, StoreRejected, StoreTooLarge, WriteResult

log = logging.getLogger("lokaalmeten.gateway")

_BACKOFF_FIRST = 0.5
# Short enough that a store back from an outage is written to within seconds; a failed
# write to a store that is down costs next to nothing.
_BACKOFF_MAX = 5.0
_IDLE_WAIT = 0.5


class Output(Protocol):
    """What the gateway writes to: every Store, and write-only outputs such as forwarders."""

    url: str

    def write(self, readings: Sequence[Reading]) -> WriteResult: ...

    def close(self) -> None: ...


class StoreWriter:
    def __init__(
        self,
        store: Output,
        spool: Spool,
        metrics: GatewayMetrics,
        batch_size: int = 5000,
        write_wait: float = 0.0,
    ) -> None:
        self.store = store
        self.spool = spool
        self.metrics = metrics
        self.batch_size = batch_size
        self.write_wait = write_wait
        self.consumer = store.url
        self.outage = Outage(f"store {store.url}", "the readings wait in the spool", log=log)

    @property
    def healthy(self) -> bool:
        return not self.outage.going_on

    def run(self, stopping: Shutdown) -> None:
        delay = _BACKOFF_FIRST
        limit = self.batch_size
        probe = True  # at start, and while an outage goes on: it ends without traffic too
        trickle = False
        while not stopping.is_set():
            if trickle and self.write_wait and not self.outage.going_on:
                # A trickle gathers for a moment and goes out in one write. A store's cost is
                # mostly per write (a commit, an HTTP request): at 100 messages a second,
                # a write per batch received cost the writer 3 × what one a second does. A
                # backlog comes in large batches and is written without waiting.
                stopping.wait(self.write_wait)
            batch = self.spool.take(self.consumer, limit)
            trickle = 0 < len(batch) < limit // 10  # (an empty take waits for a put)
            try:
                if batch:
                    self._write(batch)
                elif probe or self.outage.going_on:
                    probe = False
                    ping = getattr(self.store, "ping", None)
                    if ping is not None:
                        ping()
                else:
                    self.spool.wait_for_readings(_IDLE_WAIT)  # woken by put() and at stop
                    continue
            except StoreTooLarge:
                limit = max(1, len(batch) // 2)
                log.warning("%s: batch too large, now at most %d readings", self.consumer, limit)
                continue
            except StoreError as exc:
                if batch:
                    self.metrics.add("store_errors")
                waiting = self.spool.depth(self.consumer)
                error = str(exc).removeprefix(f"{self.consumer}: ")
                self.outage.failed(error, f"{waiting} readings wait in the spool")
                log.debug("%s: write failed: %s", self.consumer, exc)
                stopping.wait(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            self.outage.ended()
            delay = _BACKOFF_FIRST

    def _write(self, batch: list[tuple[int, Reading]]) -> None:
        readings = [reading for _, reading in batch]
        started = time.perf_counter()
        try:
            result = self.store.write(readings)
        except StoreRejected as exc:
            if len(batch) > 1:
                middle = len(batch) // 2
                self._write(batch[:middle])
                self._write(batch[middle:])
                return
            self._quarantine(batch[0][1], str(exc))
        else:
            self.metrics.observe_store_latency(time.perf_counter() - started)
            self.metrics.add("readings_stored", result.stored)
            self.metrics.add("readings_repeated", result.received - result.stored)
        self.spool.done(self.consumer, batch[-1][0])

    def _quarantine(self, reading: Reading, why: str) -> None:
        self.metrics.refuse("store_rejected")
        payload = json.dumps(reading._asdict()).encode()
        log.error("%s refused %s: %s", self.consumer, reading, why)
        refusal = Refusal(
            self.consumer, "store_rejected", why, payload, int(time.time()), '{"via": "store"}'
        )
        self.spool.put([], [refusal])
