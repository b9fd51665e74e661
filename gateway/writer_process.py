"""Writer stage in processes of their own: each store's writer on a core of its own.

The gateway's ingest (MQTT, decoding, validation, the spool commit, the acknowledgements) and
its writers (spool -> store) shared one process, and so one interpreter lock: on a two-core
Raspberry Pi the second core idled while a store write held up the acknowledgements. Here a
store's :class:`~lokaalmeten.gateway.writer.StoreWriter` runs unchanged in a child process
that opens its own store and its own connection to the spool (SQLite in WAL mode lets the
two processes work on it at once). What the parent needs of it comes back over a pipe: the
counters for ``/metrics`` and the log summary, and whether the store is reachable, for
``/health``. The parent tells it when readings were spooled (so it need not poll) and when
to stop::

    writer = WriterProcess(url, spool_options, metrics, batch_size=5000)
    threading.Thread(target=writer.run, args=(shutdown,)).start()   # as a StoreWriter

Nothing is lost however either side ends: a reading leaves the spool only after the store
took it, so a writer killed mid-batch (even alone, ``kill -9``) leaves its batch in the spool;
the parent starts a new one, which writes the batch again (stores ignore repeats). A child
whose parent is gone (killed with SIGKILL) stops by itself within a second.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.spool import FullPolicy, Spool
from lokaalmeten.shutdown import Shutdown

log = logging.getLogger("lokaalmeten.gateway")

REPORT_S = 0.1  # how often a child sends its counters and the state of its store
RESTART_S = 1.0  # a writer process that died is started again after this pause
_STOP_GRACE_S = 3.0  # a child asked to stop may finish the write it is in for this long
_CONTEXT = multiprocessing.get_context("spawn")  # no inherited threads, locks or sqlite


@dataclass(frozen=True, slots=True)
class SpoolOptions:
    """What a child needs to open the same spool the parent has open."""

    path: Path
    consumers: tuple[str, ...]
    max_readings: int
    full_policy: FullPolicy
    synchronous: str

    @classmethod
    def of(cls, spool: Spool, synchronous: str) -> SpoolOptions:
        return cls(spool.path, spool.consumers, spool.max_readings, spool.full_policy, synchronous)


class RemoteOutage:
    """The child's view of its store's outage, as the parent's /health and gauges ask it."""

    def __init__(self) -> None:
        self.going_on = False
        self.text = ""

    def describe(self) -> str:
        return self.text


class WriterProcess:
    """A StoreWriter for ``url`` in a child process, supervised from a thread of the parent:
    the same ``consumer``, ``healthy``, ``outage`` and ``run(stopping)`` as a StoreWriter."""

    def __init__(
        self,
        url: str,
        spool: SpoolOptions,
        metrics: GatewayMetrics,
        batch_size: int,
        log_format: str = "text",
        write_wait: float = 0.0,
        opens: str | None = None,
        registry: Path | None = None,
    ) -> None:
        """``url``: the store's name (its ``url``, the spool's consumer); ``opens``: the URL
        as configured, which the child opens, when it carries more (a password, a
        forwarder's options) than the name says."""
        self.consumer = url
        self.opens = opens or url
        self.registry = registry  # where forwarders read the owners' choices
        self.spool = spool
        self.metrics = metrics
        self.batch_size = batch_size
        self.log_format = log_format
        self.write_wait = write_wait
        self.outage = RemoteOutage()
        self.starts = 0  # children started so far: a restart after a crash counts one more
        self.pid: int | None = None
        self._pipe: Connection | None = None
        self._lock = threading.Lock()

    @property
    def healthy(self) -> bool:
        return not self.outage.going_on

    def wake(self) -> None:
        """Readings were spooled: the child looks at once (never blocks; safe from any thread
        but a signal handler)."""
        with self._lock:
            if self._pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._pipe.send("wake")

    def run(self, stopping: Shutdown) -> None:
        while not stopping.is_set():
            process, pipe = self._start()
            self._serve(process, pipe, stopping)
            if stopping.is_set():
                self._stop(process, pipe)
                return
            log.error(
                "the writer process of %s ended unexpectedly (exit code %s); the readings it "
                "had not written wait in the spool; starting it again",
                self.consumer,
                process.exitcode,
            )
            self._forget(pipe)
            stopping.wait(RESTART_S)

    def _start(self) -> tuple[Any, Connection]:
        ours, theirs = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=child_main,
            args=(
                self.opens,
                self.spool,
                self.batch_size,
                theirs,
                os.getpid(),
                self.log_format,
                logging.getLogger().level,
                self.write_wait,
                self.registry,
            ),
            name=f"lokaalmeten writer {self.consumer}",
            daemon=True,
        )
        process.start()
        theirs.close()
        self.starts += 1
        self.pid = process.pid
        log.info("writer process of %s started (pid %d)", self.consumer, process.pid)
        with self._lock:
            self._pipe = ours
        return process, ours

    def _serve(self, process: Any, pipe: Connection, stopping: Shutdown) -> None:
        """Take the child's reports until it ends or a stop is asked for."""
        while not stopping.is_set():
            try:
                if pipe.poll(REPORT_S):
                    self._take(pipe.recv())
                    continue
            except (EOFError, OSError):
                pass  # the child is gone: its exit code says how
            if not process.is_alive():
                self._drain(pipe)
                return

    def _stop(self, process: Any, pipe: Connection) -> None:
        self.wake()
        with self._lock, contextlib.suppress(OSError, ValueError):
            pipe.send("stop")
        deadline = time.monotonic() + _STOP_GRACE_S
        while process.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(EOFError, OSError):
                if pipe.poll(0.05):
                    self._take(pipe.recv())
        if process.is_alive():
            log.warning("the writer process of %s did not stop in time; ended", self.consumer)
            process.kill()
        process.join(1)
        self._drain(pipe)
        self._forget(pipe)

    def _drain(self, pipe: Connection) -> None:
        """The last reports a child sent before it ended."""
        with contextlib.suppress(EOFError, OSError):
            while pipe.poll(0):
                self._take(pipe.recv())

    def _forget(self, pipe: Connection) -> None:
        with self._lock:
            self._pipe = None
        pipe.close()

    def _take(self, report: dict[str, Any]) -> None:
        for name, amount in report["counts"].items():
            self.metrics.add(name, amount)
        for reason, amount in report["refused"].items():
            self.metrics.refuse(reason, amount)
        if report["latency"] is not None:
            self.metrics.merge_latency(*report["latency"])
        self.outage.going_on, self.outage.text = report["outage"]


# -- the child -------------------------------------------------------------------------------


class _Reporter:
    """Sends the child's counters (what grew since the last report) and its store's state."""

    def __init__(self, metrics: GatewayMetrics, pipe: Connection, writer: Any) -> None:
        self.metrics = metrics
        self.pipe = pipe
        self.writer = writer
        self.counts: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.latency = (0.0, 0, 0.0)
        self.state: tuple[bool, str] = (False, "")

    def send(self, always: bool = False) -> None:
        """What changed since the last report (nothing sent when nothing did, unless
        ``always``)."""
        counts, refused = self.metrics.counts(), self.metrics.refusals()
        latency = self.metrics.latency()
        outage = self.writer.outage
        state = (outage.going_on, outage.describe() if outage.going_on else "")
        if (
            not always
            and counts == self.counts
            and refused == self.refused
            and latency == self.latency
            and state == self.state
        ):
            return
        self.state = state
        report = {
            "counts": _grown(self.counts, counts),
            "refused": _grown(self.refused, refused),
            "latency": (
                (latency[0] - self.latency[0], latency[1] - self.latency[1], latency[2])
                if latency[1] != self.latency[1]
                else None
            ),
            "outage": state,
        }
        self.counts, self.refused, self.latency = counts, refused, latency
        self.pipe.send(report)


def _grown(before: dict[str, int], now: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


def child_main(
    url: str,
    options: SpoolOptions,
    batch_size: int,
    pipe: Connection,
    parent: int,
    log_format: str,
    level: int,
    write_wait: float = 0.0,
    registry: Path | None = None,
) -> None:
    """A writer process: the StoreWriter of the store ``url`` opens (as configured), until
    the parent says stop or dies."""
    from lokaalmeten.gateway.outputs import open_output
    from lokaalmeten.gateway.writer import StoreWriter
    from lokaalmeten.logs import setup_logging
    from lokaalmeten.services.processes import die_with_parent

    die_with_parent(parent)  # SIGTERM (a stop) when the gateway dies, even by SIGKILL
    setup_logging(log_format=log_format)
    logging.getLogger().setLevel(level)
    # A Ctrl-C in the terminal reaches the whole process group: the parent stops this one
    # in its own time, once its own ingest has stopped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopping = Shutdown()
    signal.signal(signal.SIGTERM, lambda *_: stopping.request())
    metrics = GatewayMetrics()
    spool = Spool(
        options.path,
        options.consumers,
        max_readings=options.max_readings,
        full_policy=options.full_policy,
        synchronous=options.synchronous,
    )
    store = open_output(url, registry)
    writer = StoreWriter(store, spool, metrics, batch_size, write_wait)
    reporter = _Reporter(metrics, pipe, writer)
    sending = threading.Lock()

    def report_now() -> None:
        with sending, contextlib.suppress(OSError, ValueError):
            reporter.send()

    # The start and end of an outage reach /health at once, not at the next report.
    writer.outage.on_change = report_now

    def listen() -> None:
        while not stopping.is_set():
            try:
                if not pipe.poll(0.5):
                    if os.getppid() != parent:  # the parent was killed: stop with it
                        stopping.request()
                        spool.wake()
                    continue
                what = pipe.recv()
            except (EOFError, OSError):
                what = "stop"
            if what == "stop":
                stopping.request()
            spool.wake()

    def report() -> None:
        while not stopping.wait(REPORT_S):
            report_now()

    threading.Thread(target=listen, name="writer pipe", daemon=True).start()
    threading.Thread(target=report, name="writer report", daemon=True).start()
    try:
        writer.run(stopping)
    finally:
        report_now()
        with contextlib.suppress(Exception):
            store.close()
        spool.close()
