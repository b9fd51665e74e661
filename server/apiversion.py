"""The ``API-Version`` response header on every answer under ``/v1`` and ``/v1.1``.

The NL API Design Rules (/core/version-header) ask for the full version in a header, beside
the major version in the path (/core/uri-version), so a client can log which release
answered. The package version is that release. Outermost middleware, so that refusals by
the rate limit and admission carry it too.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lokaalmeten import __version__

_HEADER = (b"api-version", __version__.encode())


def versioned(path: str) -> bool:
    return path == "/v1" or path.startswith(("/v1/", "/v1.1"))


class ApiVersion:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not versioned(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def send_versioned(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), _HEADER]
            await send(message)

        await self.app(scope, receive, send_versioned)
