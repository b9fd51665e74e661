"""MQTT ingest in a process of its own: the broker's messages arrive on another core.

paho's network loop (reading packets, matching topics, sending acknowledgements) took some
40 % of the gateway's one interpreter lock, and every message it handed over was a switch of
that lock. Here an unchanged :class:`~lokaalmeten.gateway.mqtt_ingest.MqttIngest` runs in a
child process and passes the messages on in batches over a pipe; the gateway validates and
spools them as before and sends back the ids to acknowledge, in order, after the spool
commit. :class:`MqttProcess` has MqttIngest's interface (start, take, wake, ack, stop,
connected, outage), so the pipeline reads the same::

    ingest = MqttProcess(settings, metrics)
    ingest.start()
    batch = ingest.take(max_messages=1000, wait=0.2)
    ...  # spool the batch
    ingest.ack(batch)         # the child sends the PUBACKs

Nothing is lost however either side ends. The child acknowledges only what the gateway says
was committed; a child that dies (even ``kill -9``, alone) takes its unacknowledged messages
with it, and the broker sends them again to the next one (same client id, persistent
session), which the gateway starts a second later. An id acknowledged late, through the next
child, names the same message in the same session (MQTT 3.1.1, 4.4: a resumed session
re-sends unacknowledged messages with their ids), so it is still right; a message spooled
twice is stored once (stores ignore repeats). A child whose gateway was killed stops within a
second.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.mqtt_ingest import Inbox, Message
from lokaalmeten.gateway.writer_process import RemoteOutage
from lokaalmeten.settings import GatewaySettings
from lokaalmeten.shutdown import Shutdown

log = logging.getLogger("lokaalmeten.gateway")

_CONTEXT = multiprocessing.get_context("spawn")
RESTART_S = 1.0  # a child that died is started again after this pause
_CHILD_BATCH_WAIT = 0.1  # the child hands on what arrived within this long of the first
_CHILD_IDLE_WAIT = 0.1  # and waits this long for a first message (its state goes out between)


class MqttProcess:
    """MqttIngest's interface, served by a child process (see the module's docstring)."""

    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.outage = RemoteOutage()
        self.connected = False
        self.starts = 0
        self.pid: int | None = None
        self._inbox = Inbox(metrics)
        self._pipe: Connection | None = None
        self._send_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: Any = None

    def start(self) -> None:
        """Start the child (it connects, retrying in the background) and its supervisor."""
        self._launch()
        self._thread = threading.Thread(target=self._supervise, name="mqtt process", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the child to disconnect (acknowledgements already sent go out first) and wait
        ``timeout`` seconds at most."""
        self._stopping.set()
        self._send(("stop",))
        # Only the supervisor touches the child's process object (waiting for a process from
        # two threads races): it returns once the child has ended.
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive() and self.pid is not None:
            log.warning("the MQTT process did not end within %.1f s; ended", timeout)
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self._thread.join(1)

    def take(self, max_messages: int, wait: float, stop: Shutdown | None = None) -> list[Message]:
        """As MqttIngest.take: up to ``max_messages``, waiting at most ``wait`` seconds."""
        return self._inbox.take(max_messages, wait, stop)

    def wake(self) -> None:
        self._inbox.wake()

    def ack(self, batch: list[Message]) -> None:
        """Acknowledge these messages (committed), in their order."""
        ids = [(m.mid, m.qos) for m in batch if m.qos > 0]
        if ids:
            self._send(("ack", ids))

    # -- the supervisor ------------------------------------------------------------------

    def _launch(self) -> None:
        ours, theirs = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=child_main,
            args=(self.settings, theirs, os.getpid(), logging.getLogger().level),
            name="lokaalmeten mqtt",
            daemon=True,
        )
        process.start()
        theirs.close()
        self.starts += 1
        self.pid = process.pid
        self._process = process
        log.info("MQTT process started (pid %d)", process.pid)
        with self._send_lock:
            self._pipe = ours

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            if self._pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._pipe.send(message)

    def _supervise(self) -> None:
        while True:
            pipe, process = self._pipe, self._process
            assert pipe is not None and process is not None
            self._serve(pipe, process)
            self.connected = False
            if self._stopping.is_set():
                return
            log.error(
                "the MQTT process ended unexpectedly (exit code %s); the messages it had not "
                "acknowledged stay with the broker; starting it again",
                process.exitcode,
            )
            with self._send_lock:
                self._pipe = None
            pipe.close()
            if self._stopping.wait(RESTART_S):
                return
            self._launch()

    def _serve(self, pipe: Connection, process: Any) -> None:
        while True:
            try:
                if pipe.poll(0.2):
                    self._take(pipe.recv())
                    continue
            except (EOFError, OSError):
                pass
            if not process.is_alive():
                with contextlib.suppress(EOFError, OSError):
                    while pipe.poll(0):
                        self._take(pipe.recv())
                return

    def _take(self, report: tuple[Any, ...]) -> None:
        kind = report[0]
        if kind == "messages":
            self._inbox.put(report[1])
        elif kind == "state":
            self.connected, self.outage.going_on, self.outage.text = report[1:]


# -- the child -------------------------------------------------------------------------------


def child_main(settings: GatewaySettings, pipe: Connection, parent: int, level: int) -> None:
    """The MQTT process: an MqttIngest whose messages go to the parent over ``pipe``."""
    from lokaalmeten.gateway.mqtt_ingest import MqttIngest
    from lokaalmeten.logs import setup_logging
    from lokaalmeten.services.processes import die_with_parent

    die_with_parent(parent)  # SIGTERM (a stop) when the gateway dies, even by SIGKILL
    setup_logging(log_format=settings.log_format)
    logging.getLogger().setLevel(level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops this one in its own time
    stopping = Shutdown()
    signal.signal(signal.SIGTERM, lambda *_: stopping.request())
    ingest = MqttIngest(settings, GatewayMetrics())
    sending = threading.Lock()
    last_state: tuple[Any, ...] = ()

    def send(message: tuple[Any, ...]) -> None:
        with sending, contextlib.suppress(OSError, ValueError):
            pipe.send(message)

    def state() -> None:
        nonlocal last_state
        outage = ingest.outage
        now = (
            "state",
            ingest.connected,
            outage.going_on,
            outage.describe() if outage.going_on else "",
        )
        if now != last_state:
            last_state = now
            send(now)

    def listen() -> None:
        while not stopping.is_set():
            try:
                if not pipe.poll(0.5):
                    if os.getppid() != parent:  # the gateway was killed: stop with it
                        stopping.request()
                    continue
                what = pipe.recv()
            except (EOFError, OSError):
                what = ("stop",)
            if what[0] == "ack":
                ingest.ack_ids(what[1])
            elif what[0] == "stop":
                stopping.request()
        ingest.wake()

    threading.Thread(target=listen, name="mqtt pipe", daemon=True).start()
    ingest.start()
    next_state = 0.0
    try:
        while not stopping.is_set():
            batch = ingest.take(5000, _CHILD_BATCH_WAIT, stopping, first_wait=_CHILD_IDLE_WAIT)
            if batch:
                send(("messages", batch))
            if time.monotonic() >= next_state:
                state()
                next_state = time.monotonic() + 0.1
    finally:
        # Acknowledgements the parent sent before it said stop are handled by then: the
        # pipe is read in order.
        ingest.stop()
        send(("state", False, False, ""))
