"""Serving the API with uvicorn, so that a stop never hangs.

uvicorn's signal handlers only set a flag (good), but by default it then waits for every
connection to finish its answer, for ever: a CSV export streamed to a slow or stalled client
held a stopping server as long as the client did. Here an answer gets ``STOP_GRACE_S`` to
finish; then the requests still working are abandoned (their work ends at its next deadline
check, as when a client hangs up) and uvicorn cancels what is left::

    serve(create_app(settings), settings.server_host, settings.server_port)

Several processes: server/workers.py.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from lokaalmeten.server.disconnect import Working

STOP_GRACE_S = 2


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, working: Working | None) -> None:
        super().__init__(config)
        self.working = working

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        abandon = None
        if self.working is not None:
            loop = asyncio.get_running_loop()
            abandon = loop.call_later(STOP_GRACE_S * 0.9, self.working.abandon)
        try:
            await super().shutdown(sockets)
        finally:
            if abandon is not None:
                abandon.cancel()


def uvicorn_config(app: ASGIApp, host: str, port: int, trusted_proxies: str) -> uvicorn.Config:
    """``trusted_proxies``: the addresses whose X-Forwarded-For / X-Forwarded-Proto name the
    client (uvicorn's forwarded_allow_ips: addresses, networks, ``*``); empty: none, the
    connection's own address is the client, whatever a request claims."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=STOP_GRACE_S,
        proxy_headers=bool(trusted_proxies.strip()),
        forwarded_allow_ips=trusted_proxies.strip() or None,
    )


def run(config: uvicorn.Config, sockets: list[socket.socket] | None = None) -> None:
    """Serve ``config``'s app until SIGINT/SIGTERM, on ``sockets`` if given (a worker's
    inherited listening socket) else on the address it names."""
    working = getattr(getattr(config.app, "state", None), "working", None)
    _Server(config, working if isinstance(working, Working) else None).run(sockets)


def serve(app: FastAPI, host: str, port: int, trusted_proxies: str = "127.0.0.1") -> None:
    """Run until SIGINT/SIGTERM; gone a few seconds after it, whatever the clients do."""
    app.state.address = (host, port)  # for the start line (server/app.py)
    run(uvicorn_config(app, host, port, trusted_proxies))
