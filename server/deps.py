"""Dependencies the routers share: the settings, the (read-only) store and the (read-only)
node directory."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from lokaalmeten.gateway.alert_book import AlertReader
from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import Store

# The dependencies that only look up what the app holds are coroutines: FastAPI runs a plain
# function dependency in its thread pool, and those hops (one per dependency, about 20 for
# /v1/latest) cost more than the route's own work (bench/api_clients.py).


async def get_settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


class RequestDirectory(DirectoryReader):
    """One request's view of the server's node directory: each query read once, however
    many of the request's parts ask (thresholds, places, formatting), and all of them see
    the same directory even while the gateway changes it."""

    def __init__(self, shared: DirectoryReader) -> None:
        super().__init__(shared.path)
        self._shared = shared
        self._read: dict[tuple[str, tuple[Any, ...]], list[tuple[Any, ...]]] = {}

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        key = (sql, params)
        if key not in self._read:
            self._read[key] = self._shared._rows(sql, params)
            self.problem = self._shared.problem
        return self._read[key]

    def change_point(self) -> int | None:
        return self._shared.change_point()  # never kept: it is asked to see a change

    def close(self) -> None:
        return None  # the connection is the shared reader's, closed with the app


def get_directory(request: Request) -> DirectoryReader:
    """The node directory as this request sees it (FastAPI calls a dependency once per
    request, so every route parameter and helper of one request shares it)."""
    state = request.state
    if not hasattr(state, "directory"):
        state.directory = RequestDirectory(request.app.state.directory)
    directory: DirectoryReader = state.directory
    return directory


async def _request_directory(request: Request) -> DirectoryReader:
    return get_directory(request)  # builds an object, reads nothing: no thread needed


async def get_alerts(request: Request) -> AlertReader:
    alerts: AlertReader = request.app.state.alerts
    return alerts


SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
DirectoryDep = Annotated[DirectoryReader, Depends(_request_directory)]
AlertsDep = Annotated[AlertReader, Depends(get_alerts)]
