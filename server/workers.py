"""Several worker processes on one listening socket, and a supervisor that keeps them.

    serve_workers(lambda index: create_app(settings), "0.0.0.0", 8000, workers=2)

The supervisor binds the socket, forks ``workers`` processes that each build their own app
(their own store connections: an SQLite connection must not cross a fork) and serve that
socket through :func:`lokaalmeten.server.serve.run`; the kernel hands each new connection to
whichever worker accepts it first, so an idle worker takes the next one.

* A worker that dies (killed, out of memory, a crash) is replaced at once; one that dies
  again within ``QUICK_DEATH_S`` of its start is replaced after a back-off doubling to
  ``MAX_BACKOFF_S``, so a worker that cannot start (its store refuses it) does not fork
  without end. Connections that worker held are lost; the socket and its queue are the
  supervisor's, so new connections wait for the others meanwhile.
* SIGTERM or SIGINT to the supervisor: every worker gets SIGTERM (and stops as one process
  does, within ``STOP_GRACE_S`` whatever its clients do); one still there after
  ``STOP_GRACE_S + STOP_SPARE_S`` is killed. Each worker also asks the kernel for SIGTERM
  should the supervisor die (PR_SET_PDEATHSIG), so none outlives it, even a SIGKILL of it.

Why not uvicorn's own ``--workers``: it takes the application as an import string, so the
settings built from the command line would have to travel through the environment; it starts
each worker by spawning a fresh interpreter; and its stop joins each worker without a
deadline. Forking from the supervisor, which has opened no store and started no thread, keeps
the settings as they are and bounds the stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

from starlette.types import ASGIApp

from lokaalmeten.server.serve import STOP_GRACE_S, run, uvicorn_config
from lokaalmeten.services.processes import die_with_parent

log = logging.getLogger("lokaalmeten.server")

QUICK_DEATH_S = 5.0
MAX_BACKOFF_S = 30.0
STOP_SPARE_S = 1.5
_TICK_S = 0.1


def listen(host: str, port: int) -> socket.socket:
    """The listening socket every worker inherits; listening from the start, so that
    connections queue while a worker starts or is replaced.

    Made with proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets
    whose proto says TCP, and accepted sockets inherit the listener's. Without it Nagle's
    algorithm held each answer's second write for the client's delayed ACK: 44 ms a request
    on a keep-alive connection (23 requests/s for one client of a bare app, measured)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class Supervisor:
    def __init__(
        self,
        make_app: Callable[[int], ASGIApp],
        host: str,
        port: int,
        workers: int,
        trusted_proxies: str,
    ) -> None:
        self.make_app = make_app
        self.host, self.port = host, port
        self.workers = workers
        self.trusted_proxies = trusted_proxies
        self.running: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
        self.due: dict[int, float] = {}  # index -> when to start it (again)
        self.backoff: dict[int, float] = {}  # index -> seconds before the next restart
        self.stopping = False

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> None:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        sock = listen(self.host, self.port)
        try:
            self.due = {index: 0.0 for index in range(self.workers)}
            while not self.stopping:
                self._reap()
                self._start_due(sock)
                time.sleep(_TICK_S)
            self._stop_all()
        finally:
            sock.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start_due(self, sock: socket.socket) -> None:
        now = time.monotonic()
        for index, when in list(self.due.items()):
            if when <= now and not self.stopping:
                del self.due[index]
                pid = self._fork(index, sock)
                self.running[pid] = (index, now)

    def _fork(self, index: int, sock: socket.socket) -> int:
        parent = os.getpid()
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            # The supervisor's handlers mean nothing here; until uvicorn sets its own, a
            # signal ends this worker as it would any process.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            die_with_parent(parent)
            app = self.make_app(index)
            run(uvicorn_config(app, self.host, self.port, self.trusted_proxies), [sock])
            code = 0
        except BaseException:
            log.exception("server worker %d failed", index)
        finally:
            os._exit(code)

    def _reap(self) -> None:
        while self.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.running.clear()
                return
            if not pid:
                return
            if pid not in self.running:
                continue
            index, started = self.running.pop(pid)
            if self.stopping:
                continue
            lived = time.monotonic() - started
            if lived < QUICK_DEATH_S:
                wait = min(MAX_BACKOFF_S, max(0.5, self.backoff.get(index, 0.0) * 2))
            else:
                wait = 0.0
            self.backoff[index] = wait
            log.warning(
                "server worker %d (pid %d) %s after %.0f s; a new one starts%s",
                index,
                pid,
                describe(status),
                lived,
                f" in {wait:g} s" if wait else "",
            )
            self.due[index] = time.monotonic() + wait

    def _stop_all(self) -> None:
        for pid in self.running:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S + STOP_SPARE_S
        while self.running and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)
        for pid in list(self.running):
            log.warning("server worker (pid %d) still there after the stop: killed", pid)
            _signal(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.running.clear()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # gone already; reaped next
        os.kill(pid, sig)


def describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:  # a real-time signal has no name
            name = str(number)
        return f"was ended by signal {name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def serve_workers(
    make_app: Callable[[int], ASGIApp],
    host: str,
    port: int,
    workers: int,
    trusted_proxies: str = "127.0.0.1",
) -> None:
    """Serve with ``workers`` processes until SIGINT/SIGTERM; ``make_app(index)`` runs in
    each new worker (index 0 to workers - 1, kept by its replacement)."""
    Supervisor(make_app, host, port, workers, trusted_proxies).run()
