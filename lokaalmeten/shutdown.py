"""A stop request that a signal handler may make, and waits that wake up on it.

A Python signal handler runs in the main thread between any two bytecodes, also while that
thread holds a lock: inside ``threading.Event.wait()``, a logging call or a queue. A handler
that takes a lock (``Event.set()`` does) can wait for ever on the lock its own thread holds
(several SIGTERMs in a row once hung the demo for good; tests/test_shutdown.py).
:class:`Shutdown` is a plain flag plus one byte written to a socket pair; every thread waits
for it with ``poll()`` on the reading end, which takes no Python lock and wakes them all at
once, and the byte is never read, so the request stays visible to every later wait::

    shutdown = Shutdown()
    with shutdown.on_signals():            # SIGINT and SIGTERM request it
        while not shutdown.wait(0.5):
            ...                            # work; wait() returns True once stopping

It has the two methods of ``threading.Event`` that waiting code uses (``is_set``, ``wait``),
so it can stand where an Event stood; :meth:`request` is its ``set``, safe in a handler.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
from collections.abc import Iterator
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Shutdown:
    def __init__(self) -> None:
        self._requested = False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self.signal: int | None = None  # the first signal that asked for it, if one did

    def request(self, signum: int | None = None) -> None:
        """Ask to stop. Safe in a signal handler: a flag and one non-blocking write, no lock."""
        if self._requested:
            return
        self.signal = signum
        self._requested = True
        with contextlib.suppress(OSError):  # full (it has its byte) or closed: nothing to do
            self._writer.send(b"\0")

    set = request  # as threading.Event

    def is_set(self) -> bool:
        return self._requested

    def wait(self, timeout: float | None = None) -> bool:
        """True as soon as a stop is requested, False after ``timeout`` seconds without."""
        if self._requested:
            return True
        poller = select.poll()
        try:
            poller.register(self._reader, select.POLLIN)
        except (OSError, ValueError):  # closed
            return self._requested
        # poll() restarts itself after a signal with the time left, never longer (PEP 475).
        poller.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999)))
        return self._requested

    def fileno(self) -> int:
        """Readable once a stop is requested (for select or an event loop's reader)."""
        return self._reader.fileno()

    def install(self, signals: tuple[int, ...] = STOP_SIGNALS) -> dict[int, Any]:
        """Make ``signals`` request the stop from now on; returns the handlers they had.

        Only the main thread may install handlers; elsewhere this does nothing (the caller
        requests the stop itself)."""
        try:
            return {s: signal.signal(s, self._on_signal) for s in signals}
        except ValueError:  # not the main thread
            return {}

    @contextlib.contextmanager
    def on_signals(self, signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[Shutdown]:
        """:meth:`install` while inside; the old handlers come back after."""
        previous = self.install(signals)
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request(signum)

    def close(self) -> None:
        self._reader.close()
        self._writer.close()
